"""The delivery queue: claim due deliveries, send them, record the outcome, back off on failure.

A replica claims rows with a lease (and SKIP LOCKED on PostgreSQL), so two replicas never
send the same row at once; a row is marked delivered only after the receiver accepted it,
and a retry resends the very same message with the same idempotency key.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from modelfleet.agent.hub.alerts.channels import ChannelTarget
from modelfleet.agent.hub.alerts.formatters import Notification
from modelfleet.agent.hub.alerts.senders import DeliveryFailed, Senders
from modelfleet.agent.hub.db import Database, new_id, utcnow
from modelfleet.agent.hub.db.alerts_models import AlertChannel, AlertDelivery
from modelfleet.agent.hub.secrets import SecretBox, SecretError

log = logging.getLogger(__name__)

CLAIM_BATCH = 50


@dataclass(frozen=True, slots=True)
class Claimed:
    id: str
    key: str
    attempts: int
    message_json: str
    target: ChannelTarget | None
    sealed: bytes | None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int
    base: float
    cap: float

    def delay(self, attempts_made: int) -> float:
        """Exponential back-off with jitter (50-100% of base * 2**(n-1), capped)."""
        full = min(self.cap, self.base * 2 ** max(0, attempts_made - 1))
        return float(full * random.uniform(0.5, 1.0))  # noqa: S311 - jitter, not crypto


def secret_context(channel_id: str) -> str:
    """The associated data that binds a sealed channel secret to its row."""
    return f"alert_channels:{channel_id}"


def target_of(row: AlertChannel) -> ChannelTarget:
    return ChannelTarget(row.id, row.name, row.kind, orjson.loads(row.config_json))


class DeliveryQueue:
    def __init__(
        self,
        db: Database,
        senders: Senders,
        secrets: SecretBox,
        retry: RetryPolicy,
        lease_seconds: float,
    ) -> None:
        self._db = db
        self._senders = senders
        self._secrets = secrets
        self._retry = retry
        self._lease = timedelta(seconds=lease_seconds)
        self._owner = new_id()

    async def run_due(self) -> tuple[int, datetime | None]:
        """Send every due delivery once: (sent or failed, when the next retry is due)."""
        claimed = await self._db.write(self._claim)
        if claimed:
            await asyncio.gather(*(self.attempt(c, retry=True) for c in claimed))
        return len(claimed), await self._db.read(_next_due)

    async def attempt(self, c: Claimed, *, retry: bool) -> str:
        """One attempt; the stored outcome. `retry=False` (channel tests) never reschedules."""
        error, retryable = "", False
        try:
            if c.target is None:
                raise DeliveryFailed("the channel was deleted", retryable=False)
            secret = self._secrets.open(c.sealed, secret_context(c.target.id)) if c.sealed else ""
            note = Notification.from_json(c.message_json)
            await self._senders.send(c.target, secret, note, c.key)
        except DeliveryFailed as exc:
            error, retryable = exc.message, exc.retryable
        except SecretError as exc:
            error = str(exc)
        except Exception:
            # Anything unexpected is logged with its traceback but without the message
            # (it may hold a secret); the delivery is retried like a transient failure.
            log.exception("[Alerts.Deliver] delivery %s: unexpected error", c.id)
            error, retryable = "internal error (see the hub log)", True
        attempts = c.attempts + 1
        now = utcnow()
        if not error:
            values: dict[str, object] = {
                "status": "delivered",
                "delivered_at": now,
                "last_error": "",
            }
        elif retry and retryable and attempts < self._retry.attempts:
            next_at = now + timedelta(seconds=self._retry.delay(attempts))
            values = {"status": "pending", "next_attempt_at": next_at, "last_error": error}
        else:
            values = {"status": "failed", "last_error": error}
        name = c.target.name if c.target else "?"
        if error:
            log.warning(
                "[Alerts.Deliver] channel=%s delivery=%s attempt %d: %s -> %s",
                name,
                c.id,
                attempts,
                error,
                values["status"],
            )
        else:
            log.info("[Alerts.Deliver] channel=%s delivery=%s delivered", name, c.id)
        stmt = (
            update(AlertDelivery)
            .where(AlertDelivery.id == c.id, AlertDelivery.lease_owner == self._owner)
            .values(attempts=attempts, lease_until=None, lease_owner="", **values)
        )
        await self._db.write(lambda s: s.execute(stmt))
        return str(values["status"])

    def claim_one(self, s: Session, delivery_id: str) -> Claimed:
        """Claim a row just written in `s` (a channel test) for an immediate attempt."""
        s.execute(
            update(AlertDelivery)
            .where(AlertDelivery.id == delivery_id)
            .values(lease_owner=self._owner, lease_until=utcnow() + self._lease)
        )
        return _claimed(s, [delivery_id])[0]

    def _claim(self, s: Session) -> list[Claimed]:
        now = utcnow()
        due = (
            select(AlertDelivery.id)
            .where(
                AlertDelivery.status == "pending",
                AlertDelivery.next_attempt_at <= now,
                or_(AlertDelivery.lease_until.is_(None), AlertDelivery.lease_until < now),
            )
            .order_by(AlertDelivery.next_attempt_at)
            .limit(CLAIM_BATCH)
            .with_for_update(skip_locked=True)
        )
        ids = list(s.scalars(due))
        if not ids:
            return []
        s.execute(
            update(AlertDelivery)
            .where(AlertDelivery.id.in_(ids))
            .values(lease_owner=self._owner, lease_until=now + self._lease)
        )
        return _claimed(s, ids)


def _claimed(s: Session, ids: list[str]) -> list[Claimed]:
    stmt = (
        select(AlertDelivery, AlertChannel)
        .outerjoin(AlertChannel, AlertChannel.id == AlertDelivery.channel_id)
        .where(AlertDelivery.id.in_(ids))
    )
    return [
        Claimed(
            d.id,
            d.idempotency_key,
            d.attempts,
            d.message_json,
            target_of(ch) if ch is not None else None,
            ch.secret_sealed if ch is not None else None,
        )
        for d, ch in s.execute(stmt)
    ]


def _next_due(s: Session) -> datetime | None:
    """The next retry of an unclaimed row (rows another replica holds are its business)."""
    now = utcnow()
    return s.scalar(
        select(AlertDelivery.next_attempt_at)
        .where(
            AlertDelivery.status == "pending",
            or_(AlertDelivery.lease_until.is_(None), AlertDelivery.lease_until < now),
        )
        .order_by(AlertDelivery.next_attempt_at)
        .limit(1)
    )
