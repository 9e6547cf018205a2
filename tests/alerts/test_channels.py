"""Channels: secrets are write-only (never in a response, the log or the database in clear),
outbound destinations pass the SSRF policy, tests report the truth, bad input is named."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from sqlalchemy import text

from modelfleet.agent.hub.alerts.outbound import OutboundPolicy, OutboundRefused, parse_networks
from modelfleet.proto.v1 import alerts_pb2, audit_pb2
from tests.alerts.alerthelp import (
    HOOK_SECRET,
    SLACK_PATH,
    TEAMS_PATH,
    add_email,
    add_http_channels,
    create_rule,
    deliveries,
)
from tests.alerts.conftest import (
    ALERT_SETTINGS,
    SMTP_PASSWORD,
    AlertHub,
    close_alert_hub,
    open_alert_hub,
)
from tests.alerts.receivers import HttpReceiver, SmtpReceiver, wait_for


def _code(exc: pytest.ExceptionInfo[grpc.RpcError]) -> tuple[grpc.StatusCode, str]:
    return exc.value.code(), exc.value.details()  # type: ignore[attr-defined]


def test_secrets_never_leave_the_hub(
    alert_hub: AlertHub, smtp: SmtpReceiver, http_receiver: HttpReceiver
) -> None:
    ah, http = alert_hub, http_receiver
    responses = [add_email(ah, smtp), *add_http_channels(ah, http)]
    listed = ah.channels.ListChannels(alerts_pb2.ListChannelsRequest(), metadata=ah.md)
    assert [c.secret_set for c in listed.channels] == [True, True, True, True]
    assert {c.name: c.target for c in listed.channels}["slack"] == "127.0.0.1"
    responses.append(listed)
    create_rule(ah, name="errors", series="error_rate", threshold=0.05,
                channels=["mail", "slack", "teams", "hook"])  # fmt: skip
    ah.rollup(requests=1000, errors=200)
    wait_for(lambda: len(http.requests) == 3 and len(smtp.messages) == 1, what="notifications")
    for name in ("mail", "slack", "teams", "hook"):
        test = ah.channels.TestChannel(alerts_pb2.TestChannelRequest(channel=name), metadata=ah.md)
        assert test.delivered and not test.error, (name, test.error)
        responses.append(test)
    http.stop()  # failures must not leak the URL either (a Slack URL is its own secret)
    failed = ah.channels.TestChannel(alerts_pb2.TestChannelRequest(channel="slack"), metadata=ah.md)
    assert not failed.delivered and failed.error.startswith("127.0.0.1: cannot connect")
    responses += [failed, *deliveries(ah)]
    responses += [ah.alerts.ListRules(alerts_pb2.ListRulesRequest(), metadata=ah.md)]
    responses += [ah.hub.audit.QueryAudit(audit_pb2.QueryAuditRequest(), metadata=ah.md)]

    secrets = [SMTP_PASSWORD, SLACK_PATH, TEAMS_PATH, HOOK_SECRET]
    wire = b"".join(r.SerializeToString() for r in responses)
    log = ah.log.getvalue()
    assert "[Alerts.Deliver]" in log and "[Channels.CreateChannel]" in log  # the log is live
    with ah.hub.engine.connect() as conn:
        stored = repr(conn.execute(text("SELECT * FROM alert_channels")).all())
        stored += repr(conn.execute(text("SELECT * FROM alert_deliveries")).all())
        stored += repr(conn.execute(text("SELECT * FROM audit_events")).all())
    for secret in secrets:
        token = secret.rsplit("/", 1)[-1]
        assert token.encode() not in wire, secret
        assert token not in log, secret
        assert token not in stored, secret


@pytest.fixture
def strict_hub(tmp_path: Path) -> Iterator[AlertHub]:
    """A hub with the default outbound policy: no private destination allowed."""
    settings = dataclasses.replace(ALERT_SETTINGS, outbound_allowed_networks="")
    ah = open_alert_hub(tmp_path / "strict", f"sqlite:///{tmp_path / 'strict.db'}", settings)
    try:
        yield ah
    finally:
        close_alert_hub(ah)


@pytest.mark.parametrize("host", ["127.0.0.1", "169.254.169.254", "10.0.0.1", "[::1]"])
def test_private_destinations_are_refused_unless_allowed(strict_hub: AlertHub, host: str) -> None:
    ah = strict_hub
    requests = {
        "webhook.url": alerts_pb2.CreateChannelRequest(
            name="hook", webhook=alerts_pb2.WebhookConfig(url=f"https://{host}/x"),
            secret=HOOK_SECRET,
        ),
        "secret": alerts_pb2.CreateChannelRequest(
            name="slack", slack=alerts_pb2.SlackConfig(), secret=f"https://{host}{SLACK_PATH}"
        ),
        "email.host": alerts_pb2.CreateChannelRequest(
            name="mail",
            email=alerts_pb2.EmailConfig(host=host, from_address="a@example.com",
                                         to=["b@example.com"]),
        ),
    }  # fmt: skip
    for field, request in requests.items():
        with pytest.raises(grpc.RpcError) as exc:
            ah.channels.CreateChannel(request, metadata=ah.md)
        code, details = _code(exc)
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert details.startswith(f"{field}: expected a public destination"), details
        assert "outbound_allowed_networks" in details and SLACK_PATH not in details
    listed = ah.channels.ListChannels(alerts_pb2.ListChannelsRequest(), metadata=ah.md)
    assert not listed.channels


def test_outbound_policy() -> None:
    strict = OutboundPolicy()
    for address in ("127.0.0.1", "::ffff:127.0.0.1", "0.0.0.0", "224.0.0.1", "100.64.0.1",
                    "fd00::1", "fe80::1", "192.168.1.10", "169.254.169.254"):  # fmt: skip
        with pytest.raises(OutboundRefused):
            strict.check_address("h", ipaddress.ip_address(address))
    strict.check_address("h", ipaddress.ip_address("93.184.216.34"))
    with pytest.raises(OutboundRefused, match="use https://"):
        strict.check_plain_http("h", [ipaddress.ip_address("93.184.216.34")])
    opened = OutboundPolicy(parse_networks("10.1.0.0/16, ::1/128"))
    opened.check_address("h", ipaddress.ip_address("10.1.2.3"))
    opened.check_address("h", ipaddress.ip_address("::1"))
    with pytest.raises(OutboundRefused):
        opened.check_address("h", ipaddress.ip_address("10.2.0.1"))
    with pytest.raises(ValueError, match="outbound_allowed_networks"):
        parse_networks("10.0.0.0/8,not-a-network")


BAD_RULES = [
    ({"series": "Bad Series!"}, "spec.series: expected one of latency_p50"),
    ({"comparator": alerts_pb2.COMPARATOR_UNSPECIFIED}, "spec.comparator: expected GREATER"),
    ({"threshold": float("nan")}, "spec.threshold: expected a finite number"),
    ({"resolve_threshold": 60.0}, "spec.resolve_threshold: expected a value on the safe side"),
    ({"window_seconds": 10**7}, "spec.window_seconds: expected 1 to 604800"),
    ({"name": "Has Spaces"}, "spec.name: expected 1-64 characters"),
    ({"series": "agent_silent_seconds"}, "spec.scope.deployment: expected empty"),
    ({"scope": alerts_pb2.RuleScope(agent_id="x")}, "spec.scope.agent_id: expected empty"),
]


def test_bad_input_is_named_and_nothing_is_stored(
    alert_hub: AlertHub, http_receiver: HttpReceiver
) -> None:
    ah = alert_hub
    for overrides, message in BAD_RULES:
        with pytest.raises(grpc.RpcError) as exc:
            create_rule(ah, **overrides)
        assert _code(exc) == (grpc.StatusCode.INVALID_ARGUMENT, _code(exc)[1])
        assert _code(exc)[1].startswith(message), (overrides, _code(exc)[1])
    with pytest.raises(grpc.RpcError) as exc:
        create_rule(ah, channels=["nowhere"])
    assert _code(exc) == (
        grpc.StatusCode.NOT_FOUND, "spec.channels[0]: no channel 'nowhere' in this workspace"
    )  # fmt: skip
    bad_channels = [
        (alerts_pb2.CreateChannelRequest(name="x"), "config: expected one of email"),
        (alerts_pb2.CreateChannelRequest(name="x", webhook=alerts_pb2.WebhookConfig(
            url=http_receiver.url("/h")), secret="short"), "secret: expected the HMAC signing key"),
        (alerts_pb2.CreateChannelRequest(name="x", webhook=alerts_pb2.WebhookConfig(
            url="ftp://example.com/"), secret=HOOK_SECRET), "webhook.url: expected an http://"),
        (alerts_pb2.CreateChannelRequest(name="x", slack=alerts_pb2.SlackConfig()),
         "secret: expected the Slack incoming-webhook URL"),
        (alerts_pb2.CreateChannelRequest(name="x", email=alerts_pb2.EmailConfig(
            host="127.0.0.1", from_address="a@example.com")), "email.to: expected 1 to 50"),
        (alerts_pb2.CreateChannelRequest(name="x", email=alerts_pb2.EmailConfig(
            host="127.0.0.1", from_address="a@example.com", to=["b@example.com"],
            username="u")), "secret: expected a username and a password"),
    ]  # fmt: skip
    for request, message in bad_channels:
        with pytest.raises(grpc.RpcError) as exc:
            ah.channels.CreateChannel(request, metadata=ah.md)
        code, details = _code(exc)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith(message), details
    assert not ah.alerts.ListRules(alerts_pb2.ListRulesRequest(), metadata=ah.md).rules
    assert not ah.channels.ListChannels(alerts_pb2.ListChannelsRequest(), metadata=ah.md).channels

    add_http_channels(ah, http_receiver)
    create_rule(ah, channels=["hook"])
    with pytest.raises(grpc.RpcError) as exc:
        create_rule(ah, channels=["hook"])
    assert _code(exc)[0] == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.RpcError) as exc:
        ah.channels.DeleteChannel(alerts_pb2.DeleteChannelRequest(channel="hook"), metadata=ah.md)
    assert _code(exc) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "channel 'hook' is used by rules slow-churn; remove it from them first",
    )
    ah.alerts.DeleteRule(alerts_pb2.DeleteRuleRequest(rule="slow-churn"), metadata=ah.md)
    ah.channels.DeleteChannel(alerts_pb2.DeleteChannelRequest(channel="hook"), metadata=ah.md)
    silence = alerts_pb2.SilenceAlertRequest(alert_id="0" * 32)
    with pytest.raises(grpc.RpcError) as exc:
        ah.alerts.SilenceAlert(silence, metadata=ah.md)
    assert _code(exc) == (grpc.StatusCode.INVALID_ARGUMENT, _code(exc)[1])
    assert _code(exc)[1].startswith("until: expected a time")
