"""The alerting half of `HubClient`: rules, alerts (acknowledge, silence), channels, deliveries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypedDict, Unpack

from modelfleet.client import _convert as cv
from modelfleet.client._alerts import (
    COMPARATORS,
    SEVERITIES,
    STATES,
    Alert,
    AlertRule,
    Channel,
    ChannelTest,
    Delivery,
    EmailSettings,
    alert_from_pb,
    channel_from_pb,
    delivery_from_pb,
    rule_from_pb,
)
from modelfleet.client._calls import Caller, Scope
from modelfleet.client._types import Page
from modelfleet.proto.v1 import alerts_pb2, alerts_pb2_grpc


class RuleOptions(TypedDict, total=False):
    """The optional parts of a rule spec (see `rule_spec` for the defaults)."""

    for_seconds: int
    window_seconds: int
    min_samples: int
    resolve_threshold: float | None
    severity: str
    environment: str
    deployment: str
    agent_id: str
    channels: Sequence[str]
    description: str
    disabled: bool


class AlertsCalls:
    """Mixed into `HubClient` (uses its `_caller`); every call acts in a workspace."""

    _caller: Caller

    def _alerts_call(
        self, service: str, rpc: str, request: object, *, idempotent: bool, workspace: str | None
    ) -> Any:
        stub: Any = (
            alerts_pb2_grpc.AlertsStub(self._caller.channel)
            if service == "Alerts"
            else alerts_pb2_grpc.ChannelsStub(self._caller.channel)
        )
        return self._caller.unary(
            f"{service}.{rpc}", getattr(stub, rpc), request, idempotent=idempotent,
            scope=Scope.REQUIRED, workspace=workspace,
        )  # fmt: skip

    # --- rules ----------------------------------------------------------------------------

    def create_rule(
        self,
        name: str,
        series: str,
        comparator: str,
        threshold: float,
        *,
        workspace: str | None = None,
        **options: Unpack[RuleOptions],
    ) -> AlertRule:
        """A rule "`series` `comparator` `threshold` for `for_seconds`" (comparator: > >= < <=)."""
        spec = rule_spec(name, series, comparator, threshold, **options)
        msg = self._alerts_call("Alerts", "CreateRule", alerts_pb2.CreateRuleRequest(spec=spec),
                                idempotent=False, workspace=workspace)  # fmt: skip
        return rule_from_pb(msg)

    def update_rule(
        self,
        rule: str,
        name: str,
        series: str,
        comparator: str,
        threshold: float,
        *,
        workspace: str | None = None,
        **options: Unpack[RuleOptions],
    ) -> AlertRule:
        """Replace the spec of `rule` (name or id) as a whole; options as for `create_rule`."""
        spec = rule_spec(name, series, comparator, threshold, **options)
        request = alerts_pb2.UpdateRuleRequest(rule=rule, spec=spec)
        msg = self._alerts_call("Alerts", "UpdateRule", request, idempotent=True,
                                workspace=workspace)  # fmt: skip
        return rule_from_pb(msg)

    def list_rules(self, *, workspace: str | None = None) -> list[AlertRule]:
        rules: list[AlertRule] = []
        token: str | None = None
        while True:
            request = alerts_pb2.ListRulesRequest(page=cv.page_request(0, token))
            msg = self._alerts_call("Alerts", "ListRules", request, idempotent=True,
                                    workspace=workspace)  # fmt: skip
            rules += [rule_from_pb(r) for r in msg.rules]
            token = msg.next_page_token or None
            if token is None:
                return rules

    def delete_rule(self, rule: str, *, workspace: str | None = None) -> None:
        request = alerts_pb2.DeleteRuleRequest(rule=rule)
        self._alerts_call("Alerts", "DeleteRule", request, idempotent=False, workspace=workspace)

    # --- alerts ---------------------------------------------------------------------------

    def list_alerts(
        self,
        *,
        states: Sequence[str] = (),
        rule: str = "",
        history: bool = False,
        page_size: int = 0,
        page_token: str | None = None,
        workspace: str | None = None,
    ) -> Page[Alert]:
        """Alerts newest first; by default every state except "inactive"."""
        unknown = [s for s in states if s not in STATES]
        if unknown:
            raise ValueError(f"states: expected some of {', '.join(STATES)}, got {unknown[0]!r}")
        request = alerts_pb2.ListAlertsRequest(
            states=[STATES[s] for s in states], rule=rule, include_history=history,
            page=cv.page_request(page_size, page_token),
        )  # fmt: skip
        msg = self._alerts_call("Alerts", "ListAlerts", request, idempotent=True,
                                workspace=workspace)  # fmt: skip
        return Page(tuple(alert_from_pb(a) for a in msg.alerts), msg.next_page_token or None)

    def acknowledge_alert(
        self, alert_id: str, note: str = "", *, workspace: str | None = None
    ) -> Alert:
        request = alerts_pb2.AcknowledgeAlertRequest(alert_id=alert_id, note=note)
        return alert_from_pb(self._alerts_call("Alerts", "AcknowledgeAlert", request,
                                               idempotent=True, workspace=workspace))  # fmt: skip

    def silence_alert(
        self, alert_id: str, until: datetime, note: str = "", *, workspace: str | None = None
    ) -> Alert:
        """No notifications for the alert until `until` (a past time lifts the silence)."""
        request = alerts_pb2.SilenceAlertRequest(
            alert_id=alert_id, until=cv.time_to_pb(until), note=note
        )
        return alert_from_pb(self._alerts_call("Alerts", "SilenceAlert", request,
                                               idempotent=True, workspace=workspace))  # fmt: skip

    # --- channels -------------------------------------------------------------------------

    def create_channel(
        self,
        name: str,
        kind: str,
        *,
        secret: str = "",
        url: str = "",
        email: EmailSettings | None = None,
        workspace: str | None = None,
    ) -> Channel:
        """kind: email (secret = SMTP password), slack/teams (secret = webhook URL) or
        webhook (`url`, secret = HMAC signing key). The secret is never sent back."""
        request = alerts_pb2.CreateChannelRequest(name=name, secret=secret)
        if kind == "email":
            if email is None:
                raise ValueError("email: expected EmailSettings for an e-mail channel")
            request.email.CopyFrom(email.to_pb())
        elif kind == "slack":
            request.slack.SetInParent()
        elif kind == "teams":
            request.teams.SetInParent()
        elif kind == "webhook":
            request.webhook.url = url
        else:
            raise ValueError("kind: expected email, slack, teams or webhook")
        msg = self._alerts_call("Channels", "CreateChannel", request, idempotent=False,
                                workspace=workspace)  # fmt: skip
        return channel_from_pb(msg)

    def list_channels(self, *, workspace: str | None = None) -> list[Channel]:
        msg = self._alerts_call("Channels", "ListChannels", alerts_pb2.ListChannelsRequest(),
                                idempotent=True, workspace=workspace)  # fmt: skip
        return [channel_from_pb(c) for c in msg.channels]

    def delete_channel(self, channel: str, *, workspace: str | None = None) -> None:
        request = alerts_pb2.DeleteChannelRequest(channel=channel)
        self._alerts_call("Channels", "DeleteChannel", request, idempotent=False,
                          workspace=workspace)  # fmt: skip

    def test_channel(self, channel: str, *, workspace: str | None = None) -> ChannelTest:
        """Send a test notification now (one attempt); not retried, it sends something."""
        request = alerts_pb2.TestChannelRequest(channel=channel)
        msg = self._alerts_call("Channels", "TestChannel", request, idempotent=False,
                                workspace=workspace)  # fmt: skip
        return ChannelTest(msg.delivered, msg.error, msg.delivery_id)

    def list_deliveries(
        self,
        *,
        channel: str = "",
        alert_id: str = "",
        page_size: int = 0,
        page_token: str | None = None,
        workspace: str | None = None,
    ) -> Page[Delivery]:
        request = alerts_pb2.ListDeliveriesRequest(
            channel=channel, alert_id=alert_id, page=cv.page_request(page_size, page_token)
        )
        msg = self._alerts_call("Channels", "ListDeliveries", request, idempotent=True,
                                workspace=workspace)  # fmt: skip
        return Page(tuple(delivery_from_pb(d) for d in msg.deliveries), msg.next_page_token or None)


def rule_spec(
    name: str,
    series: str,
    comparator: str,
    threshold: float,
    *,
    for_seconds: int = 0,
    window_seconds: int = 0,
    min_samples: int = 0,
    resolve_threshold: float | None = None,
    severity: str = "warning",
    environment: str = "",
    deployment: str = "",
    agent_id: str = "",
    channels: Sequence[str] = (),
    description: str = "",
    disabled: bool = False,
) -> alerts_pb2.RuleSpec:
    if comparator not in COMPARATORS:
        raise ValueError(f"comparator: expected one of {', '.join(COMPARATORS)}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity: expected one of {', '.join(SEVERITIES)}")
    return alerts_pb2.RuleSpec(
        name=name, description=description, series=series,
        scope=alerts_pb2.RuleScope(environment=environment, deployment=deployment,
                                   agent_id=agent_id),
        comparator=COMPARATORS[comparator], threshold=threshold,
        resolve_threshold=resolve_threshold, for_seconds=for_seconds,
        window_seconds=window_seconds, min_samples=min_samples,
        severity=SEVERITIES[severity], channels=list(channels), disabled=disabled,
    )  # fmt: skip
