"""Rule evaluation: states inactive -> pending -> firing -> resolved, one notification per
transition and channel.

Each transition is one transaction that moves the alert only if its `seq` is still the
one read (compare-and-set), and queues its deliveries under the idempotency key
(alert, seq, channel): several hub replicas evaluating the same rules still produce one
transition and one notification.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelfleet.agent.hub.alerts.formatters import Notification
from modelfleet.agent.hub.alerts.rules import SEVERITIES, RuleSpec, fingerprint
from modelfleet.agent.hub.alerts.series import Labels, SeriesSource
from modelfleet.agent.hub.db import Database, Workspace, new_id
from modelfleet.agent.hub.db.alerts_models import (
    AlertChannel,
    AlertDelivery,
    AlertEventRow,
    AlertRow,
    AlertRuleChannel,
    AlertRuleRow,
)

log = logging.getLogger(__name__)

NOTIFIED = ("firing", "resolved")


@dataclass(frozen=True, slots=True)
class RuleView:
    id: str
    workspace_id: str
    workspace_name: str
    description: str
    spec: RuleSpec
    channels: tuple[tuple[str, str], ...]  # (id, name)


@dataclass(frozen=True, slots=True)
class AlertView:
    id: str
    fingerprint: str
    labels: Labels
    state: str
    seq: int
    pending_since: datetime | None
    silenced_until: datetime | None


class _Conflict(Exception):
    """Another replica moved the alert first; its transition stands."""


def next_state(
    spec: RuleSpec, state: str, value: float | None, pending_since: datetime | None, now: datetime
) -> str:
    """The state after one evaluation; an unknown value (too few samples) proves nothing."""
    if state == "firing":
        return "resolved" if value is not None and spec.recovered(value) else "firing"
    breached = value is not None and spec.breached(value)
    if state == "pending":
        if not breached:
            return "inactive"
        assert pending_since is not None
        held = (now - pending_since).total_seconds() >= spec.for_seconds
        return "firing" if held else "pending"
    if not breached:
        return state
    return "firing" if spec.for_seconds == 0 else "pending"


class Evaluator:
    def __init__(self, db: Database, source: SeriesSource) -> None:
        self._db = db
        self._source = source

    async def evaluate(self, now: datetime) -> tuple[int, datetime | None]:
        """Evaluate every enabled rule once: (notifications queued, next pending deadline)."""
        rules, alerts = await self._db.read(_load)
        queued = 0
        next_due: datetime | None = None
        values: list[dict[str, object]] = []
        for rule in rules:
            known = {a.fingerprint: a for a in alerts.get(rule.id, [])}
            seen: set[str] = set()
            samples = await self._source.samples(rule.workspace_id, rule.spec, now)
            candidates = [(s.labels, s.value) for s in samples]
            # Alerts whose label set has no sample this time are evaluated as unknown.
            fps = [fingerprint(rule.id, labels) for labels, _ in candidates]
            seen.update(fps)
            candidates += [(a.labels, None) for fp, a in known.items() if fp not in seen]
            fps += [fp for fp in known if fp not in seen]
            for (labels, value), fp in zip(candidates, fps, strict=True):
                alert = known.get(fp)
                state = alert.state if alert else "inactive"
                since = alert.pending_since if alert else None
                new = next_state(rule.spec, state, value, since, now)
                if new != state:
                    queued += await self._transition(rule, alert, labels, fp, new, value, now)
                    if new == "pending":
                        since = now
                elif alert is not None and value is not None and state in ("pending", "firing"):
                    values.append({"alert_id": alert.id, "v": value, "t": now})
                if new == "pending" and since is not None:
                    due = since + timedelta(seconds=rule.spec.for_seconds)
                    next_due = due if next_due is None else min(next_due, due)
        if values:
            await self._db.write(lambda s: s.connection().execute(_WRITE_VALUE, values))
        return queued, next_due

    async def _transition(
        self,
        rule: RuleView,
        alert: AlertView | None,
        labels: Labels,
        fp: str,
        new: str,
        value: float | None,
        now: datetime,
    ) -> int:
        try:
            return await self._db.write(
                lambda s: _apply(s, rule, alert, labels, fp, new, value, now)
            )
        except (_Conflict, IntegrityError):
            log.debug("[Alerts] rule %s: another replica moved the alert first", rule.id)
            return 0


def _load(s: Session) -> tuple[list[RuleView], dict[str, list[AlertView]]]:
    channels: dict[str, list[tuple[str, str]]] = {}
    for rule_id, channel_id, name in s.execute(
        select(AlertRuleChannel.rule_id, AlertChannel.id, AlertChannel.name).join(
            AlertChannel, AlertChannel.id == AlertRuleChannel.channel_id
        )
    ):
        channels.setdefault(rule_id, []).append((channel_id, name))
    rules = []
    stmt = (
        select(AlertRuleRow, Workspace.name)
        .join(Workspace, Workspace.id == AlertRuleRow.workspace_id)
        .where(AlertRuleRow.disabled.is_(False), Workspace.archived.is_(False))
    )
    for row, ws_name in s.execute(stmt):
        rules.append(
            RuleView(
                row.id,
                row.workspace_id,
                ws_name,
                row.description,
                spec_of(row),
                tuple(sorted(channels.get(row.id, []))),
            )
        )
    alerts: dict[str, list[AlertView]] = {}
    for a in s.scalars(select(AlertRow).where(AlertRow.rule_id.in_([r.id for r in rules]))):
        alerts.setdefault(a.rule_id, []).append(
            AlertView(
                a.id,
                a.fingerprint,
                orjson.loads(a.labels_json),
                a.state,
                a.seq,
                a.pending_since,
                a.silenced_until,
            )
        )
    return rules, alerts


def spec_of(row: AlertRuleRow) -> RuleSpec:
    return RuleSpec(
        name=row.name,
        description=row.description,
        series=row.series,
        environment=row.environment,
        deployment=row.deployment,
        agent_id=row.agent_id,
        comparator=row.comparator,
        threshold=row.threshold,
        resolve_threshold=row.resolve_threshold,
        for_seconds=row.for_seconds,
        window_seconds=row.window_seconds,
        min_samples=row.min_samples,
        severity=row.severity,
        disabled=row.disabled,
    )


def _apply(
    s: Session,
    rule: RuleView,
    alert: AlertView | None,
    labels: Labels,
    fp: str,
    new: str,
    value: float | None,
    now: datetime,
) -> int:
    changes: dict[str, object] = {"state": new, "updated_at": now}
    if value is not None:
        changes["value"] = value
    if new == "pending":
        changes["pending_since"] = now
    elif new == "firing":
        # A new episode: the previous acknowledgement was for the previous one.
        changes.update(fired_at=now, resolved_at=None, acknowledged_at=None, acknowledged_by="")
    elif new == "resolved":
        changes["resolved_at"] = now
    if alert is None:
        alert_id, seq, silenced = new_id(), 1, None
        row = AlertRow(
            id=alert_id,
            workspace_id=rule.workspace_id,
            rule_id=rule.id,
            fingerprint=fp,
            labels_json=orjson.dumps(labels).decode(),
            seq=seq,
        )
        for key, v in changes.items():
            setattr(row, key, v)
        s.add(row)
        s.flush()
    else:
        alert_id, seq, silenced = alert.id, alert.seq + 1, alert.silenced_until
        moved = s.execute(
            update(AlertRow)
            .where(AlertRow.id == alert.id, AlertRow.seq == alert.seq)
            .values(seq=seq, **changes)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            raise _Conflict
    s.add(AlertEventRow(alert_id=alert_id, kind=new, value=value or 0.0, at=now))
    if new not in NOTIFIED:
        return 0
    note = Notification(
        event=new,
        alert_id=alert_id,
        rule=rule.spec.name,
        severity=SEVERITIES.get(rule.spec.severity, "warning"),
        series=rule.spec.series,
        comparator=rule.spec.comparator,
        threshold=rule.spec.threshold,
        value=value or 0.0,
        labels=labels,
        time=now.isoformat().replace("+00:00", "Z"),
        workspace=rule.workspace_name,
        description=rule.description,
    ).to_json()
    muted = silenced is not None and silenced > now
    for channel_id, channel_name in rule.channels:
        s.add(
            AlertDelivery(
                workspace_id=rule.workspace_id,
                channel_id=channel_id,
                channel_name=channel_name,
                alert_id=alert_id,
                idempotency_key=f"{alert_id}:{seq}:{channel_id}",
                event=new,
                message_json=note,
                status="suppressed" if muted else "pending",
                last_error="alert silenced" if muted else "",
                next_attempt_at=now,
                created_at=now,
            )
        )
    return 0 if muted else len(rule.channels)


_WRITE_VALUE = (
    update(AlertRow)
    .where(AlertRow.id == bindparam("alert_id"))
    .values(value=bindparam("v"), updated_at=bindparam("t"))
)
