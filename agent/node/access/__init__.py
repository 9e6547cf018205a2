"""Protected inference: keys and rate limits, Host checks, and TLS for the agent's ports."""

from modelfleet.agent.node.access._access import (
    BEARER_HINT,
    InferenceAccess,
    TokenBucket,
    retry_after_header,
)
from modelfleet.agent.node.access._hosts import ANY_HOST, HostCheck, is_loopback, is_wildcard
from modelfleet.agent.node.access._keys import (
    ALL_MODELS,
    KeyEntry,
    KeysFileError,
    create_key,
    entry_from_json,
    load_keys_file,
)
from modelfleet.agent.node.access._tls import TlsError, TlsFiles, hub_serving_files

__all__ = [
    "ALL_MODELS",
    "ANY_HOST",
    "BEARER_HINT",
    "HostCheck",
    "InferenceAccess",
    "KeyEntry",
    "KeysFileError",
    "TlsError",
    "TlsFiles",
    "TokenBucket",
    "create_key",
    "entry_from_json",
    "hub_serving_files",
    "is_loopback",
    "is_wildcard",
    "load_keys_file",
    "retry_after_header",
]
