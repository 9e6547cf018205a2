"""Alerting dataclasses (rules, alerts, channels, deliveries) and their wire conversion."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from modelfleet.client._convert import time_from_pb
from modelfleet.proto.v1 import alerts_pb2

COMPARATORS = {
    ">": alerts_pb2.GREATER,
    ">=": alerts_pb2.GREATER_OR_EQUAL,
    "<": alerts_pb2.LESS,
    "<=": alerts_pb2.LESS_OR_EQUAL,
}
_COMPARATOR_NAMES = {v: k for k, v in COMPARATORS.items()}
SEVERITIES = {
    "info": alerts_pb2.INFO,
    "warning": alerts_pb2.WARNING,
    "critical": alerts_pb2.CRITICAL,
}
_SEVERITY_NAMES = {v: k for k, v in SEVERITIES.items()}
STATES = {
    "pending": alerts_pb2.PENDING,
    "firing": alerts_pb2.FIRING,
    "resolved": alerts_pb2.RESOLVED,
    "inactive": alerts_pb2.INACTIVE,
}
_STATE_NAMES = {v: k for k, v in STATES.items()}
_KIND_NAMES = {
    alerts_pb2.EMAIL: "email",
    alerts_pb2.SLACK: "slack",
    alerts_pb2.TEAMS: "teams",
    alerts_pb2.WEBHOOK: "webhook",
}


@dataclass(frozen=True, slots=True)
class AlertRule:
    """A rule: `series comparator threshold` held `for_seconds` in the deployment/agent scope."""

    id: str
    name: str
    series: str
    comparator: str
    threshold: float
    resolve_threshold: float
    for_seconds: int
    window_seconds: int
    min_samples: int
    severity: str
    environment: str
    deployment: str
    agent_id: str
    channels: tuple[str, ...]
    disabled: bool
    description: str
    created_by: str
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class AlertEvent:
    kind: str
    value: float
    time: datetime | None
    actor: str
    note: str


@dataclass(frozen=True, slots=True)
class Alert:
    id: str
    rule: str
    severity: str
    state: str
    labels: dict[str, str]
    series: str
    value: float
    threshold: float
    fired_at: datetime | None
    resolved_at: datetime | None
    acknowledged_by: str
    silenced_until: datetime | None
    updated_at: datetime | None
    history: tuple[AlertEvent, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Channel:
    """A notification channel; its secret is never sent back, only whether one is set."""

    id: str
    name: str
    kind: str
    target: str
    secret_set: bool
    created_by: str
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    channel: str
    alert_id: str
    event: str
    status: str
    attempts: int
    last_error: str
    created_at: datetime | None
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class EmailSettings:
    """An e-mail channel's server and recipients (the password is the channel secret)."""

    host: str
    to: tuple[str, ...]
    from_address: str
    port: int = 0
    username: str = ""
    implicit_tls: bool = False
    ca_pem: str = ""
    #: no TLS at all; the hub allows it only to servers inside its outbound_allowed_networks
    plaintext: bool = False
    #: with `plaintext`: send the username and password anyway
    plaintext_auth: bool = False

    def to_pb(self) -> alerts_pb2.EmailConfig:
        security = (
            alerts_pb2.PLAINTEXT if self.plaintext
            else alerts_pb2.IMPLICIT_TLS if self.implicit_tls
            else alerts_pb2.STARTTLS
        )  # fmt: skip
        return alerts_pb2.EmailConfig(
            host=self.host, port=self.port, username=self.username,
            from_address=self.from_address, to=list(self.to), ca_pem=self.ca_pem,
            security=security, plaintext_auth=self.plaintext_auth,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ChannelTest:
    delivered: bool
    error: str
    delivery_id: str


def rule_from_pb(msg: alerts_pb2.AlertRule) -> AlertRule:
    s = msg.spec
    return AlertRule(
        id=msg.id, name=s.name, series=s.series,
        comparator=_COMPARATOR_NAMES.get(s.comparator, "?"), threshold=s.threshold,
        resolve_threshold=msg.effective_resolve_threshold, for_seconds=s.for_seconds,
        window_seconds=s.window_seconds, min_samples=s.min_samples,
        severity=_SEVERITY_NAMES.get(s.severity, "warning"), environment=s.scope.environment,
        deployment=s.scope.deployment, agent_id=s.scope.agent_id, channels=tuple(s.channels),
        disabled=s.disabled, description=s.description, created_by=msg.created_by,
        created_at=time_from_pb(msg.created_at),
    )  # fmt: skip


def alert_from_pb(msg: alerts_pb2.Alert) -> Alert:
    return Alert(
        id=msg.id, rule=msg.rule_name, severity=_SEVERITY_NAMES.get(msg.severity, "warning"),
        state=_STATE_NAMES.get(msg.state, "?"), labels=dict(msg.labels), series=msg.series,
        value=msg.value, threshold=msg.threshold,
        fired_at=time_from_pb(msg.fired_at), resolved_at=time_from_pb(msg.resolved_at),
        acknowledged_by=msg.acknowledged_by, silenced_until=time_from_pb(msg.silenced_until),
        updated_at=time_from_pb(msg.updated_at),
        history=tuple(
            AlertEvent(e.kind, e.value, time_from_pb(e.time), e.actor, e.note)
            for e in msg.history
        ),
    )  # fmt: skip


def channel_from_pb(msg: alerts_pb2.Channel) -> Channel:
    return Channel(
        id=msg.id, name=msg.name, kind=_KIND_NAMES.get(msg.kind, "?"), target=msg.target,
        secret_set=msg.secret_set, created_by=msg.created_by,
        created_at=time_from_pb(msg.created_at),
    )  # fmt: skip


def delivery_from_pb(msg: alerts_pb2.Delivery) -> Delivery:
    return Delivery(
        id=msg.id, channel=msg.channel_name, alert_id=msg.alert_id, event=msg.event,
        status=msg.status, attempts=msg.attempts, last_error=msg.last_error,
        created_at=time_from_pb(msg.created_at),
        delivered_at=time_from_pb(msg.delivered_at),
    )  # fmt: skip
