"""Requests the alert tests make again and again: channels to the test receivers, rules."""

from __future__ import annotations

from typing import Any

from modelfleet.proto.v1 import alerts_pb2
from tests.alerts.conftest import SMTP_PASSWORD, AlertHub
from tests.alerts.receivers import SMTP_USER, HttpReceiver, SmtpReceiver, wait_for

SLACK_PATH = "/services/T000/B000/slack-token-XYZ123"
TEAMS_PATH = "/webhookb2/teams-token-ABC789"
HOOK_SECRET = "hook-signing-key-0123456789"


def add_email(ah: AlertHub, smtp: SmtpReceiver, name: str = "mail") -> alerts_pb2.Channel:
    email = alerts_pb2.EmailConfig(
        host="127.0.0.1", port=smtp.port, username=SMTP_USER, from_address=SMTP_USER,
        to=["oncall@example.com"], ca_pem=smtp.cert.read_text(),
    )  # fmt: skip
    request = alerts_pb2.CreateChannelRequest(name=name, email=email, secret=SMTP_PASSWORD)
    return ah.channels.CreateChannel(request, metadata=ah.md)


def add_http_channels(ah: AlertHub, http: HttpReceiver) -> list[alerts_pb2.Channel]:
    requests = [
        alerts_pb2.CreateChannelRequest(
            name="slack", slack=alerts_pb2.SlackConfig(), secret=http.url(SLACK_PATH)
        ),
        alerts_pb2.CreateChannelRequest(
            name="teams", teams=alerts_pb2.TeamsConfig(), secret=http.url(TEAMS_PATH)
        ),
        alerts_pb2.CreateChannelRequest(
            name="hook", webhook=alerts_pb2.WebhookConfig(url=http.url("/hook")), secret=HOOK_SECRET
        ),
    ]
    return [ah.channels.CreateChannel(r, metadata=ah.md) for r in requests]


def rule_spec(**overrides: Any) -> alerts_pb2.RuleSpec:
    fields: dict[str, Any] = {
        "name": "slow-churn",
        "series": "latency_p95",
        "scope": alerts_pb2.RuleScope(environment="prod", deployment="churn"),
        "comparator": alerts_pb2.GREATER,
        "threshold": 50.0,
        "for_seconds": 0,
        "window_seconds": 600,
        "severity": alerts_pb2.CRITICAL,
    }
    fields.update(overrides)
    return alerts_pb2.RuleSpec(**fields)


def create_rule(ah: AlertHub, **overrides: Any) -> alerts_pb2.AlertRule:
    return ah.alerts.CreateRule(
        alerts_pb2.CreateRuleRequest(spec=rule_spec(**overrides)), metadata=ah.md
    )


def alerts_of(ah: AlertHub, *, history: bool = False) -> list[alerts_pb2.Alert]:
    request = alerts_pb2.ListAlertsRequest(
        include_history=history,
        states=[alerts_pb2.PENDING, alerts_pb2.FIRING, alerts_pb2.RESOLVED, alerts_pb2.INACTIVE],
    )
    return list(ah.alerts.ListAlerts(request, metadata=ah.md).alerts)


def wait_state(ah: AlertHub, state: int, timeout: float = 20.0) -> alerts_pb2.Alert:
    found: list[alerts_pb2.Alert] = []

    def reached() -> bool:
        found[:] = [a for a in alerts_of(ah) if a.state == state]
        return bool(found)

    wait_for(reached, timeout, f"an alert in state {alerts_pb2.AlertState.Name(state)}")
    return found[0]


def deliveries(ah: AlertHub, channel: str = "") -> list[alerts_pb2.Delivery]:
    request = alerts_pb2.ListDeliveriesRequest(channel=channel)
    return list(ah.channels.ListDeliveries(request, metadata=ah.md).deliveries)
