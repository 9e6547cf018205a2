"""The append-only, hash-chained audit log."""

from modelfleet.agent.hub.audit.chain import (
    GENESIS,
    AuditRecord,
    ChainReport,
    append,
    details_json,
    row_hash,
    verify_chain,
)

__all__ = [
    "GENESIS",
    "AuditRecord",
    "ChainReport",
    "append",
    "details_json",
    "row_hash",
    "verify_chain",
]
