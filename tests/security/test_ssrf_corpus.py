"""SSRF corpus against the hub's outbound URL inputs: alert channel destinations (webhook,
Slack, Teams URLs: check_url + OutboundPolicy, as the channel servicer and the delivery
client call them) and identity-provider URLs (IdpHttp, which fetches OIDC discovery, JWKS
and token endpoints). Every URL here aims at the hub itself, its network or a cloud
metadata service and must be refused before any connection. (Names resolve through the
system resolver: only /etc/hosts answers here.)
"""

from __future__ import annotations

import asyncio

import pytest

from modelfleet.agent.hub.alerts.outbound import OutboundPolicy, OutboundRefused, check_url
from modelfleet.agent.hub.sso.http import IdpError, IdpHttp

SSRF_URLS = [
    "http://127.0.0.1/", "https://127.0.0.1:8443/hook", "http://localhost/", "http://LOCALHOST./",
    "http://[::1]/", "http://[::]/", "http://0.0.0.0/", "http://0/",
    "http://127.1/", "http://2130706433/", "http://0x7f000001/", "http://0177.0.0.1/",
    "http://017700000001/", "http://127.000.000.001/",
    "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "http://[0:0:0:0:0:ffff:a9fe:a9fe]/",
    "http://169.254.169.254/latest/meta-data/", "http://[fe80::1%25eth0]/",
    "http://metadata.google.internal/computeMetadata/v1/", "http://100.100.100.200/",
    "http://10.0.0.1/", "http://172.16.0.1/", "http://192.168.1.1/", "http://100.64.0.1/",
    "http://[fd00::1]/", "http://[fc00::1]/", "http://224.0.0.1/", "http://255.255.255.255/",
    "http://\u2460\u2461\u2466.0.0.1/", "http://\uff11\uff12\uff17.0.0.1/",
    "http://127.0.0.1\x00.example.com/", "http://127.0.0.1%00.example.com/",
    "http://user:pass@example.com@127.0.0.1/", "http://user@127.0.0.1/",
    "file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO", "ftp://127.0.0.1/",
    "dict://127.0.0.1:11211/", "ldap://127.0.0.1/", "javascript:alert(1)", "//127.0.0.1/",
    "http:///", "http://:80/", "http://127.0.0.1:99999/", "",
]  # fmt: skip


def _outcome(url: str) -> str:
    try:
        host, port = check_url(url, field="config.url")
    except ValueError as exc:
        assert "config.url" in str(exc), exc
        return "refused"
    try:
        allowed = asyncio.run(OutboundPolicy().resolve(host, port))
    except OutboundRefused:
        return "refused"
    return f"allowed {allowed}"


@pytest.mark.parametrize("url", SSRF_URLS)
def test_internal_destinations_are_refused(url: str) -> None:
    assert _outcome(url) == "refused"


@pytest.mark.parametrize("url", SSRF_URLS)
def test_identity_provider_urls_are_refused(url: str) -> None:
    with pytest.raises(IdpError) as refused:
        asyncio.run(IdpHttp(OutboundPolicy(), timeout=2.0).get_json(url, what="issuer"))
    # Refused by the policy, not after trying to connect.
    assert "cannot reach" not in str(refused.value) and "did not answer" not in str(refused.value)


def test_refusal_names_the_host_not_the_url() -> None:
    with pytest.raises(OutboundRefused) as refused:
        asyncio.run(OutboundPolicy().resolve("169.254.169.254", 80))
    assert "link-local" in str(refused.value) and "meta-data" not in str(refused.value)
