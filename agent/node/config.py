"""Agent settings: one typed object built from the command line, plus the data dir."""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from modelfleet.agent.node.access import KeyEntry, TlsFiles
from modelfleet.agent.node.limits import Limits
from modelfleet.agent.node.repository import Batching


def user_data_dir() -> Path:
    """$MODELFLEET_DATA_DIR, else ~/.local/share/modelfleet."""
    configured = os.environ.get("MODELFLEET_DATA_DIR")
    return Path(configured) if configured else Path.home() / ".local" / "share" / "modelfleet"


def default_token_file() -> Path:
    return user_data_dir() / "agent" / "control.token"


def default_keys_file() -> Path:
    return user_data_dir() / "agent" / "inference-keys.json"


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """Everything `modelfleet-agent serve` takes."""

    #: None: no model repository (a fleet agent gets its models from the hub)
    models_dir: Path | None
    host: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 8001
    ready_file: Path | None = None
    control_token_file: Path = field(default_factory=default_token_file)
    batching: Batching = field(default_factory=Batching)
    limits: Limits = field(default_factory=Limits)
    drain_timeout_s: float = 30.0
    #: worker threads for model runs; None sizes the pool from the CPU quota
    workers: int | None = None
    #: drift, prediction log and feedback (off: no per-request monitoring work at all)
    monitoring: bool = True
    #: TLS on both ports; None: plain
    tls: TlsFiles | None = None
    #: keys every model requires (`--inference-keys`); None: models without hub keys are open
    inference_keys: tuple[KeyEntry, ...] | None = None
    #: Host names accepted besides the bound address and localhost; None: check on loopback
    #: binds only; ("*",): no check
    allowed_hosts: tuple[str, ...] | None = None


def load_or_create_token(path: Path) -> str:
    """Read the control token, or create one (32 random bytes, urlsafe base64) mode 0600."""
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        token = ""
    if token:
        return token
    path.parent.mkdir(parents=True, exist_ok=True)
    token = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    os.replace(tmp, path)
    return token


def write_atomically(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder and rename, so readers see all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
