"""The SSO sign-in's loopback redirect receiver (RFC 8252) answers only its own address:
a request naming another host (a page that rebound its name to 127.0.0.1) neither ends
nor spoils the sign-in."""

from __future__ import annotations

import http.client

import pytest

from modelfleet.client import AuthenticationError
from modelfleet.client._signin_calls import _LoopbackReceiver


def _get(port: int, path: str, host: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_host=True)
        connection.putheader("Host", host)
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def test_only_the_redirect_uris_own_host_is_answered() -> None:
    receiver = _LoopbackReceiver()
    try:
        port = receiver.port
        for host in (f"evil.example:{port}", f"localhost:{port}", "127.0.0.1", ""):
            assert _get(port, "/callback?code=forged&state=s", host) == 421
        with pytest.raises(AuthenticationError, match="in time"):
            receiver.wait(0.2)  # nothing was accepted
        assert _get(port, "/callback?code=real&state=s", f"127.0.0.1:{port}") == 200
        assert receiver.wait(1.0) == {"code": "real", "state": "s"}
        # One answer only: a second redirect is refused.
        assert _get(port, "/callback?code=again&state=s", f"127.0.0.1:{port}") == 404
    finally:
        receiver.close()
