"""Alerting rows to and from `modelfleet.v1` alerts messages (channel secrets never leave)."""

from __future__ import annotations

from typing import Any

import orjson

from modelfleet.agent.hub.alerts.channels import ChannelTarget
from modelfleet.agent.hub.alerts.rules import RuleSpec, check_spec
from modelfleet.agent.hub.db.alerts_models import (
    AlertChannel,
    AlertDelivery,
    AlertEventRow,
    AlertRow,
    AlertRuleRow,
)
from modelfleet.agent.hub.services.convert import timestamp
from modelfleet.proto.v1 import alerts_pb2

# E-mail channel security: the stored word and the wire enum.
SECURITY = {
    alerts_pb2.STARTTLS: "starttls",
    alerts_pb2.IMPLICIT_TLS: "tls",
    alerts_pb2.PLAINTEXT: "none",
}
SECURITY_ENUM = {v: k for k, v in SECURITY.items()}
COMPARATORS = {
    alerts_pb2.GREATER: ">",
    alerts_pb2.GREATER_OR_EQUAL: ">=",
    alerts_pb2.LESS: "<",
    alerts_pb2.LESS_OR_EQUAL: "<=",
}
COMPARATOR_ENUM = {v: k for k, v in COMPARATORS.items()}
STATES = {
    alerts_pb2.PENDING: "pending",
    alerts_pb2.FIRING: "firing",
    alerts_pb2.RESOLVED: "resolved",
    alerts_pb2.INACTIVE: "inactive",
}
STATE_ENUM = {v: k for k, v in STATES.items()}
KIND_ENUM = {
    "email": alerts_pb2.EMAIL,
    "slack": alerts_pb2.SLACK,
    "teams": alerts_pb2.TEAMS,
    "webhook": alerts_pb2.WEBHOOK,
}


def spec_from_pb(spec: alerts_pb2.RuleSpec) -> RuleSpec:
    return check_spec(
        name=spec.name,
        description=spec.description,
        series=spec.series,
        environment=spec.scope.environment,
        deployment=spec.scope.deployment,
        agent_id=spec.scope.agent_id,
        comparator=COMPARATORS.get(spec.comparator, ""),
        threshold=spec.threshold,
        resolve_threshold=spec.resolve_threshold if spec.HasField("resolve_threshold") else None,
        for_seconds=spec.for_seconds,
        window_seconds=spec.window_seconds,
        min_samples=spec.min_samples,
        severity=spec.severity,
        disabled=spec.disabled,
    )


def apply_spec(row: AlertRuleRow, spec: RuleSpec) -> None:
    for field in RuleSpec.__slots__:
        setattr(row, field, getattr(spec, field))


def rule(row: AlertRuleRow, spec: RuleSpec, channel_names: list[str]) -> alerts_pb2.AlertRule:
    return alerts_pb2.AlertRule(
        id=row.id,
        spec=alerts_pb2.RuleSpec(
            name=spec.name,
            description=spec.description,
            series=spec.series,
            scope=alerts_pb2.RuleScope(
                environment=spec.environment, deployment=spec.deployment, agent_id=spec.agent_id
            ),
            comparator=COMPARATOR_ENUM[spec.comparator],
            threshold=spec.threshold,
            resolve_threshold=spec.resolve_threshold,
            for_seconds=spec.for_seconds,
            window_seconds=spec.window_seconds,
            min_samples=spec.min_samples,
            severity=spec.severity,  # type: ignore[arg-type]
            channels=channel_names,
            disabled=spec.disabled,
        ),
        effective_resolve_threshold=spec.effective_resolve_threshold,
        created_by=row.created_by,
        created_at=timestamp(row.created_at),
        updated_at=timestamp(row.updated_at),
    )


def alert(
    row: AlertRow, spec: RuleSpec, history: list[AlertEventRow] | None = None
) -> alerts_pb2.Alert:
    return alerts_pb2.Alert(
        id=row.id,
        rule_id=row.rule_id,
        rule_name=spec.name,
        severity=spec.severity,  # type: ignore[arg-type]
        state=STATE_ENUM[row.state],
        labels=orjson.loads(row.labels_json),
        series=spec.series,
        value=row.value,
        threshold=spec.threshold,
        pending_since=timestamp(row.pending_since),
        fired_at=timestamp(row.fired_at),
        resolved_at=timestamp(row.resolved_at),
        acknowledged_at=timestamp(row.acknowledged_at),
        acknowledged_by=row.acknowledged_by,
        silenced_until=timestamp(row.silenced_until),
        silenced_by=row.silenced_by,
        updated_at=timestamp(row.updated_at),
        history=[
            alerts_pb2.AlertEvent(
                seq=e.id,
                kind=e.kind,
                value=e.value,
                time=timestamp(e.at),
                actor=e.actor,
                note=e.note,
            )
            for e in history or []
        ],
    )


def channel(row: AlertChannel) -> alerts_pb2.Channel:
    """The channel without its secret: only whether one is set."""
    target = ChannelTarget(row.id, row.name, row.kind, orjson.loads(row.config_json))
    msg = alerts_pb2.Channel(
        id=row.id,
        name=row.name,
        kind=KIND_ENUM[row.kind],
        secret_set=row.secret_sealed is not None,
        target=target.summary,
        created_by=row.created_by,
        created_at=timestamp(row.created_at),
    )
    cfg: dict[str, Any] = target.config
    if row.kind == "email":
        msg.email.CopyFrom(
            alerts_pb2.EmailConfig(
                host=cfg["host"],
                port=cfg["port"],
                username=cfg["username"],
                from_address=cfg["from_address"],
                to=cfg["to"],
                security=SECURITY_ENUM[cfg["security"]],
                ca_pem=cfg["ca_pem"],
                plaintext_auth=bool(cfg.get("plaintext_auth")),
            )
        )
    elif row.kind == "webhook":
        msg.webhook.url = cfg["url"]
    elif row.kind == "slack":
        msg.slack.SetInParent()
    else:
        msg.teams.SetInParent()
    return msg


def delivery(row: AlertDelivery) -> alerts_pb2.Delivery:
    return alerts_pb2.Delivery(
        id=row.id,
        channel_id=row.channel_id or "",
        channel_name=row.channel_name,
        alert_id=row.alert_id or "",
        event=row.event,
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        idempotency_key=row.idempotency_key,
        created_at=timestamp(row.created_at),
        next_attempt_at=timestamp(row.next_attempt_at) if row.status == "pending" else None,
        delivered_at=timestamp(row.delivered_at),
    )
