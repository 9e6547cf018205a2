"""Audit rows for calls: the servicer's own (inside its transaction) and the fallback ones."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from modelfleet.agent.hub import audit
from modelfleet.agent.hub.access.principal import Call


def record(
    session: Session,
    call: Call,
    *,
    outcome: str = "ok",
    target: str = "",
    details: Mapping[str, Any] | None = None,
    workspace_id: str | None = None,
    actor: tuple[str, str, str] | None = None,
) -> None:
    """Append the call's audit row in `session`, so it commits with the change it records.

    `actor` (kind, id, name) overrides the caller, for calls that establish who the
    caller is (a successful sign-in).
    """
    if actor is None:
        actor = _actor(call)
    ws = workspace_id if workspace_id is not None else (call.workspace.id if call.workspace else "")
    audit.append(
        session,
        audit.AuditRecord(
            actor_kind=actor[0],
            actor_id=actor[1],
            actor_name=actor[2],
            source=call.peer[:128],
            workspace_id=ws,
            action=call.action,
            target=(target or call.target)[:256],
            outcome=outcome,
            details_json=audit.details_json(details if details is not None else call.details),
        ),
    )
    call.audited = True


def _actor(call: Call) -> tuple[str, str, str]:
    principal = call.principal
    if principal is None:
        return "anonymous", "", ""
    return principal.kind, principal.actor_id, principal.username[:128]
