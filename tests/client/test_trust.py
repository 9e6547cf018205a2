"""Trusting a hub by CA file or pinned fingerprint, against real TLS servers."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from modelfleet.client import (
    ClientSettings,
    ConfigurationError,
    HubClient,
    HubTrustError,
    Unavailable,
    fingerprint_pem,
)
from tests.client.tls_server import Pki, make_pki, tls_server


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki("genuine hub")


def _connect(address: str, hub_ca: str) -> HubClient:
    return HubClient.connect(ClientSettings(hub=address, hub_ca=hub_ca, timeout=5, retries=1))


def test_pinned_fingerprint_accepts_the_hub_and_caches_its_ca(
    pki: Pki, private_data_dir: Path
) -> None:
    with (
        tls_server(pki, version="genuine") as address,
        _connect(address, pki.fingerprint) as client,
    ):
        assert client.get_hub_info().version == "genuine"
    cached = private_data_dir / "hub-ca" / (pki.fingerprint.removeprefix("sha256:") + ".pem")
    assert fingerprint_pem(cached.read_bytes()) == pki.fingerprint
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600


def test_pin_is_accepted_in_upper_case_with_colons(pki: Pki) -> None:
    digest = pki.fingerprint.removeprefix("sha256:").upper()
    colons = "SHA256:" + ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
    with tls_server(pki, version="genuine") as address, _connect(address, colons) as client:
        assert client.get_hub_info().version == "genuine"


def test_wrong_fingerprint_is_refused_before_any_call(pki: Pki) -> None:
    impostor = make_pki("impostor")
    with tls_server(impostor, version="impostor") as address, pytest.raises(HubTrustError) as err:
        _connect(address, pki.fingerprint)
    assert pki.fingerprint in str(err.value)


def test_impostor_presenting_the_genuine_ca_cannot_pass_the_pin(pki: Pki) -> None:
    """The CA certificate is public: an impostor can send it along with its own leaf. The
    pin then selects the genuine CA, and the TLS handshake fails because the impostor's
    leaf is not signed by it."""
    impostor = make_pki("impostor")
    forged = type(impostor)(
        ca_pem=pki.ca_pem, cert_pem=impostor.cert_pem + impostor.ca_pem, key_pem=impostor.key_pem
    )
    with (
        tls_server(forged, version="impostor") as address,
        _connect(address, pki.fingerprint) as client,
        pytest.raises(Unavailable),
    ):
        client.get_hub_info()


def test_ca_file_trusts_the_hub_and_another_ca_does_not(pki: Pki, tmp_path: Path) -> None:
    good, other = tmp_path / "hub-ca.pem", tmp_path / "other-ca.pem"
    good.write_bytes(pki.ca_pem)
    other.write_bytes(make_pki("other").ca_pem)
    with tls_server(pki, version="genuine") as address:
        with _connect(address, str(good)) as client:
            assert client.get_hub_info().version == "genuine"
        with _connect(address, str(other)) as client, pytest.raises(Unavailable):
            client.get_hub_info()


def test_hub_that_sends_only_its_leaf_cannot_be_pinned(pki: Pki) -> None:
    with tls_server(pki, send_ca=False) as address, pytest.raises(HubTrustError):
        _connect(address, pki.fingerprint)


@pytest.mark.parametrize(
    ("hub", "hub_ca", "message"),
    [
        (None, "sha256:" + "0" * 64, "no hub address"),
        ("127.0.0.1:1", None, "not trusted yet"),
        ("127.0.0.1", "sha256:" + "0" * 64, "HOST:PORT"),
        ("127.0.0.1:1", "sha256:abc", "64 hex digits"),
        ("127.0.0.1:1", "/nonexistent/ca.pem", "cannot be read"),
    ],
)
def test_bad_trust_settings_name_what_is_wrong(
    hub: str | None, hub_ca: str | None, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        HubClient.connect(ClientSettings(hub=hub, hub_ca=hub_ca))


def test_ca_file_that_is_not_pem_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ConfigurationError, match="not a PEM certificate"):
        HubClient.connect(ClientSettings(hub="127.0.0.1:1", hub_ca=str(junk)))


def test_unreachable_hub_is_unavailable_when_pinning() -> None:
    with pytest.raises(Unavailable, match="cannot reach"):
        HubClient.connect(ClientSettings(hub="127.0.0.1:1", hub_ca="sha256:" + "0" * 64))
