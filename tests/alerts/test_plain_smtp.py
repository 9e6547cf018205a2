"""Plain SMTP (no TLS) only by explicit choice and only inside outbound_allowed_networks; no
credentials over plaintext unless that is chosen too. A real aiosmtpd without TLS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from modelfleet.proto.v1 import alerts_pb2
from tests.alerts.conftest import SMTP_PASSWORD, AlertHub
from tests.alerts.receivers import SmtpReceiver, self_signed

USER = "alerts@example.com"


@pytest.fixture
def plain_smtp(tmp_path: Path) -> Iterator[SmtpReceiver]:
    cert, key, _ = self_signed(tmp_path)
    receiver = SmtpReceiver(cert, key, SMTP_PASSWORD, plain=True)
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


def _create(ah: AlertHub, name: str, secret: str = "", **email: object) -> alerts_pb2.Channel:
    config = alerts_pb2.EmailConfig(from_address=USER, to=["oncall@example.com"], **email)  # type: ignore[arg-type]
    request = alerts_pb2.CreateChannelRequest(name=name, email=config, secret=secret)
    return ah.channels.CreateChannel(request, metadata=ah.md)


def _refusal(ah: AlertHub, name: str, secret: str = "", **email: object) -> str:
    with pytest.raises(grpc.RpcError) as exc:
        _create(ah, name, secret, **email)
    error: grpc.Call = exc.value  # type: ignore[assignment]
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    return str(error.details())


def _send(ah: AlertHub, name: str) -> alerts_pb2.TestChannelResponse:
    request = alerts_pb2.TestChannelRequest(channel=name)
    return ah.channels.TestChannel(request, metadata=ah.md)


def test_plain_smtp_inside_the_allowed_networks(
    alert_hub: AlertHub, plain_smtp: SmtpReceiver
) -> None:
    ah, port = alert_hub, plain_smtp.port
    # STARTTLS stays the default: a plain server cannot take it.
    _create(ah, "default", host="127.0.0.1", port=port)
    failed = _send(ah, "default")
    assert not failed.delivered and "STARTTLS" in failed.error

    plain = _create(ah, "plain", host="127.0.0.1", port=port, security=alerts_pb2.PLAINTEXT)
    assert plain.email.security == alerts_pb2.PLAINTEXT
    sent = _send(ah, "plain")
    assert sent.delivered, sent.error
    assert len(plain_smtp.messages) == 1 and plain_smtp.logins == []

    # Credentials over plaintext need their own explicit yes.
    details = _refusal(
        ah, "auth", SMTP_PASSWORD, host="127.0.0.1", port=port, username=USER,
        security=alerts_pb2.PLAINTEXT,
    )  # fmt: skip
    assert details.startswith("email.plaintext_auth: expected true"), details
    assert SMTP_PASSWORD not in details
    _create(
        ah, "auth", SMTP_PASSWORD, host="127.0.0.1", port=port, username=USER,
        security=alerts_pb2.PLAINTEXT, plaintext_auth=True,
    )  # fmt: skip
    assert _send(ah, "auth").delivered
    assert plain_smtp.logins == [USER] and len(plain_smtp.messages) == 2

    details = _refusal(ah, "odd", host="127.0.0.1", port=port, plaintext_auth=True)
    assert details.startswith("email.plaintext_auth: expected false unless security is PLAINTEXT")


def test_plain_smtp_elsewhere_is_refused(alert_hub: AlertHub) -> None:
    # A public address passes the outbound policy, but not without TLS (nothing is sent).
    details = _refusal(alert_hub, "public", host="8.8.8.8", security=alerts_pb2.PLAINTEXT)
    assert details.startswith("email.security: expected STARTTLS or IMPLICIT_TLS"), details
    assert "outbound_allowed_networks" in details
    request = alerts_pb2.ListChannelsRequest()
    listed = alert_hub.channels.ListChannels(request, metadata=alert_hub.md)
    assert [c.name for c in listed.channels] == []
