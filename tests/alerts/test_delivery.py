"""Alerts end to end: a condition held for its duration fires, reaches a real SMTP server and
real HTTP receivers once per channel, resolves with hysteresis, survives receiver outages."""

from __future__ import annotations

import hashlib
import hmac
import time

import orjson

from modelfleet.proto.v1 import alerts_pb2
from tests.alerts.alerthelp import (
    HOOK_SECRET,
    SLACK_PATH,
    TEAMS_PATH,
    add_email,
    add_http_channels,
    alerts_of,
    create_rule,
    deliveries,
    wait_state,
)
from tests.alerts.conftest import AlertHub
from tests.alerts.receivers import SMTP_USER, HttpReceiver, SmtpReceiver, wait_for


def _all_received(smtp: SmtpReceiver, http: HttpReceiver, count: int) -> bool:
    paths = (SLACK_PATH, TEAMS_PATH, "/hook")
    return len(smtp.messages) >= count and all(len(http.to(p)) >= count for p in paths)


def test_fires_after_duration_notifies_each_channel_once_and_resolves_with_hysteresis(
    alert_hub: AlertHub, smtp: SmtpReceiver, http_receiver: HttpReceiver
) -> None:
    ah, http = alert_hub, http_receiver
    add_email(ah, smtp)
    add_http_channels(ah, http)
    rule = create_rule(ah, for_seconds=1, channels=["mail", "slack", "teams", "hook"])
    assert rule.effective_resolve_threshold == 47.5  # default 5% margin below 50

    ah.rollup(p95=80.0, requests=100)
    pending = wait_state(ah, alerts_pb2.PENDING)
    assert not smtp.messages and not http.requests  # nothing before the duration
    firing = wait_state(ah, alerts_pb2.FIRING)
    held = firing.fired_at.ToDatetime() - firing.pending_since.ToDatetime()
    assert held.total_seconds() >= 1.0
    assert pending.labels == {"deployment": "churn", "environment": "prod"}
    wait_for(lambda: _all_received(smtp, http, 1), what=lambda: deliveries(ah))

    mail = smtp.messages[0]
    assert mail["Subject"].startswith("[FIRING] slow-churn (critical)")
    assert mail["To"] == "oncall@example.com" and smtp.logins == [SMTP_USER]
    assert "latency_p95 is 80" in mail.get_payload()
    slack = orjson.loads(http.to(SLACK_PATH)[0][1])
    assert slack["text"].startswith("[FIRING] slow-churn") and slack["blocks"]
    teams = orjson.loads(http.to(TEAMS_PATH)[0][1])
    assert teams["@type"] == "MessageCard" and teams["themeColor"] == "D0021B"
    headers, body = http.to("/hook")[0]
    stamp = headers["X-Modelfleet-Timestamp"]
    expected = hmac.new(HOOK_SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    assert headers["X-Modelfleet-Signature"] == f"sha256={expected.hexdigest()}"
    hook = orjson.loads(body)
    assert hook["event"] == "firing" and hook["value"] == 80.0
    assert headers["X-Modelfleet-Idempotency-Key"] == hook["idempotency_key"]

    # 49 is below the threshold but not past the resolve threshold (47.5): still firing.
    ah.rollup(p95=49.0, requests=1_000_000)
    time.sleep(0.6)
    (alert,) = alerts_of(ah)
    assert alert.state == alerts_pb2.FIRING and 49.0 < alert.value < 49.1
    ah.rollup(p95=40.0, requests=100_000_000)
    resolved = wait_state(ah, alerts_pb2.RESOLVED)
    wait_for(lambda: _all_received(smtp, http, 2), what=lambda: deliveries(ah))
    assert smtp.messages[1]["Subject"].startswith("[RESOLVED] slow-churn")
    assert orjson.loads(http.to("/hook")[1][1])["event"] == "resolved"

    time.sleep(0.6)  # evaluations go on; nothing is sent twice
    assert len(smtp.messages) == 2 and len(http.requests) == 6
    (alert,) = alerts_of(ah, history=True)
    assert [e.kind for e in alert.history] == ["resolved", "firing", "pending"]
    assert alert.id == resolved.id == firing.id
    log = deliveries(ah)
    assert len(log) == 8 and {d.status for d in log} == {"delivered"}
    assert len({d.idempotency_key for d in log}) == 8


def test_receiver_outages_are_retried_and_notified_exactly_once(
    alert_hub: AlertHub, smtp: SmtpReceiver, http_receiver: HttpReceiver
) -> None:
    ah, http = alert_hub, http_receiver
    add_email(ah, smtp)
    add_http_channels(ah, http)
    create_rule(ah, name="errors", series="error_rate", threshold=0.05, channels=["mail", "hook"])
    smtp.stop()  # the SMTP server is down: connections are refused
    http.fail_next = 3  # the webhook receiver answers 503 three times
    ah.rollup(requests=1000, errors=200)
    wait_state(ah, alerts_pb2.FIRING)
    wait_for(lambda: len(http.to("/hook")) == 1, what="the webhook after its outage")
    assert http.attempts == 4
    time.sleep(0.6)
    smtp.start()  # back on the same port
    wait_for(lambda: len(smtp.messages) == 1, what="the e-mail after the outage")
    time.sleep(1.0)  # retries are over: no duplicate arrives later
    assert len(smtp.messages) == 1 and len(http.to("/hook")) == 1
    by_channel = {d.channel_name: d for d in deliveries(ah)}
    assert by_channel["hook"].status == "delivered" and by_channel["hook"].attempts == 4
    assert by_channel["mail"].status == "delivered" and by_channel["mail"].attempts >= 2
    assert by_channel["hook"].last_error == ""


def test_acknowledge_and_silence(alert_hub: AlertHub, http_receiver: HttpReceiver) -> None:
    ah, http = alert_hub, http_receiver
    add_http_channels(ah, http)
    create_rule(ah, name="errors", series="error_rate", threshold=0.05, channels=["hook"])
    ah.rollup(requests=1000, errors=200)
    firing = wait_state(ah, alerts_pb2.FIRING)
    wait_for(lambda: len(http.to("/hook")) == 1, what="the firing notification")

    acked = ah.alerts.AcknowledgeAlert(
        alerts_pb2.AcknowledgeAlertRequest(alert_id=firing.id, note="looking"), metadata=ah.md
    )
    assert acked.acknowledged_by == "admin" and acked.HasField("acknowledged_at")
    until = alerts_pb2.SilenceAlertRequest(alert_id=firing.id)
    until.until.FromSeconds(int(time.time()) + 3600)
    silenced = ah.alerts.SilenceAlert(until, metadata=ah.md)
    assert silenced.silenced_by == "admin"

    ah.rollup(requests=100_000_000, errors=0)  # resolves while silenced: nobody is told
    wait_state(ah, alerts_pb2.RESOLVED)
    wait_for(lambda: any(d.status == "suppressed" for d in deliveries(ah)), what="suppressed")
    assert len(http.to("/hook")) == 1

    lift = alerts_pb2.SilenceAlertRequest(alert_id=firing.id)
    lift.until.FromSeconds(int(time.time()) - 1)
    assert not ah.alerts.SilenceAlert(lift, metadata=ah.md).HasField("silenced_until")
    ah.rollup(requests=1_000_000_000, errors=900_000_000)  # fires again: a new episode
    wait_for(lambda: len(http.to("/hook")) == 2, what="the second firing notification")
    (alert,) = alerts_of(ah, history=True)
    assert alert.state == alerts_pb2.FIRING and not alert.acknowledged_by
    kinds = [e.kind for e in alert.history]
    assert kinds == ["firing", "unsilenced", "resolved", "silenced", "acknowledged", "firing"]
    assert alert.history[4].note == "looking"
