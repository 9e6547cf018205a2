"""Join tokens on the hub (hash only, single use, expiring) and the enrolment of an agent."""

from __future__ import annotations

import datetime as dt
import secrets

import orjson
from sqlalchemy import update
from sqlalchemy.orm import Session

from modelfleet.agent.hub.db import utcnow
from modelfleet.agent.hub.db.fleet_models import Agent, JoinTokenRow
from modelfleet.agent.hub.errors import Unauthenticated
from modelfleet.fleet.identity import AgentIdentity
from modelfleet.fleet.jointoken import JoinToken, JoinTokenError, decode, secret_matches

DEFAULT_TTL = 3600
MAX_TTL = 7 * 86400
# One message for reused, expired, unknown and tampered tokens: no oracle for guessers.
REFUSED = "join token refused: it is unknown, expired, already used or altered"
# The token's serving names ride in its labels document under a key no label can have
# (label keys start with a letter or digit); `token_grant` takes them out again.
SERVING_NAMES_KEY = "@serving_names"


class TokenRefused(Unauthenticated):
    """A refused join token; `why` goes to the audit log only."""

    def __init__(self, why: str, token_id: str = "", workspace_id: str = "") -> None:
        super().__init__(REFUSED)
        self.why = why
        self.token_id = token_id
        self.workspace_id = workspace_id


def create_token(
    s: Session,
    *,
    workspace_id: str,
    environment: str,
    labels: dict[str, str],
    ttl_seconds: int,
    created_by: str,
    ca_fingerprint: str,
    hub_hint: str,
    serving_names: list[str] | None = None,
) -> tuple[JoinToken, JoinTokenRow]:
    token = JoinToken.generate(secrets.token_hex(16), ca_fingerprint, hub_hint)
    doc: dict[str, str] = dict(labels)
    if serving_names:
        doc[SERVING_NAMES_KEY] = ",".join(serving_names)
    row = JoinTokenRow(
        id=token.token_id,
        workspace_id=workspace_id,
        environment=environment,
        labels_json=orjson.dumps(doc, option=orjson.OPT_SORT_KEYS).decode(),
        secret_hash=token.secret_hash,
        created_by=created_by,
        expires_at=utcnow() + dt.timedelta(seconds=ttl_seconds),
    )
    s.add(row)
    s.flush()
    return token, row


def token_grant(row: JoinTokenRow) -> tuple[dict[str, str], list[str]]:
    """(labels, serving names) a join token grants."""
    labels: dict[str, str] = orjson.loads(row.labels_json)
    names = labels.pop(SERVING_NAMES_KEY, "")
    return labels, [n for n in names.split(",") if n]


def consume_token(s: Session, text: str, ca_fingerprint: str) -> JoinTokenRow:
    """Mark the token used in this transaction; TokenRefused unless it is valid and unused."""
    try:
        token = decode(text)
    except JoinTokenError as exc:
        raise TokenRefused(f"malformed: {exc}") from None
    row = s.get(JoinTokenRow, token.token_id)
    if row is None:
        raise TokenRefused("unknown token id", token.token_id)
    if not secret_matches(token.secret, row.secret_hash) or token.ca_fingerprint != ca_fingerprint:
        raise TokenRefused("secret or CA fingerprint does not match", row.id, row.workspace_id)
    now = utcnow()
    if row.expires_at <= now:
        raise TokenRefused("expired", row.id, row.workspace_id)
    # Conditional update: of two concurrent joins with one token, exactly one sees a row.
    done = s.execute(
        update(JoinTokenRow)
        .where(JoinTokenRow.id == row.id, JoinTokenRow.used_at.is_(None))
        .values(used_at=now)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise TokenRefused("already used", row.id, row.workspace_id)
    return row


def enrol(
    s: Session,
    token: JoinTokenRow,
    identity: AgentIdentity,
    *,
    hostname: str,
    agent_version: str,
    certificate_expires_at: dt.datetime,
) -> Agent:
    """The agent row for `identity` (issued from `token`), linked to the token."""
    agent = Agent(
        id=identity.agent_id,
        workspace_id=identity.workspace_id,
        environment=identity.environment,
        labels_json=orjson.dumps(dict(identity.labels), option=orjson.OPT_SORT_KEYS).decode(),
        hostname=hostname,
        agent_version=agent_version,
        certificate_expires_at=certificate_expires_at,
    )
    s.add(agent)
    s.flush()
    token.agent_id = agent.id
    return agent
