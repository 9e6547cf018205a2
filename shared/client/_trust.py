"""How a client comes to trust a hub: a CA PEM file, or a pinned "sha256:<hex>" CA fingerprint.

Pinning works without any prior trust: a TLS handshake that verifies nothing yields the
certificates the hub presents; the one whose fingerprint equals the pin is the hub's CA,
and from then on it is the *only* root the gRPC channel accepts. So every call travels over
a connection whose chain verified against exactly the pinned certificate; the unverified
handshake is only a way to obtain the bytes, which the fingerprint then authenticates.
"""

from __future__ import annotations

import hashlib
import re
import socket
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from modelfleet.client._errors import ConfigurationError, HubTrustError, Unavailable
from modelfleet.paths import user_data_dir, write_private_file

_FINGERPRINT = re.compile(r"^sha256:([0-9a-f]{64})$")


def is_fingerprint(hub_ca: str) -> bool:
    return hub_ca.strip().lower().startswith("sha256:")


def normalise_fingerprint(value: str) -> str:
    """`sha256:<64 hex>` in lower case; colons between hex pairs are accepted and dropped."""
    text = value.strip().lower()
    prefix, _, digest = text.partition(":")
    candidate = f"{prefix}:{digest.replace(':', '')}"
    if not _FINGERPRINT.match(candidate):
        raise ConfigurationError(
            f"hub CA fingerprint must look like sha256:<64 hex digits>, got {value!r}"
        )
    return candidate


def fingerprint_der(der: bytes) -> str:
    return "sha256:" + hashlib.sha256(der).hexdigest()


def fingerprint_pem(pem: bytes) -> str:
    """Fingerprint of the first certificate in `pem`."""
    return fingerprint_der(_load_pem(pem).public_bytes(Encoding.DER))


def split_address(address: str) -> tuple[str, int]:
    """ "host:port" or "[v6]:port" -> (host, port)."""
    host, sep, port = address.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigurationError(f"hub address must be HOST:PORT, got {address!r}")
    return host.strip("[]"), int(port)


def presented_chain(address: str, timeout: float = 5.0) -> list[bytes]:
    """DER certificates the hub presents in its TLS handshake, leaf first (not verified)."""
    host, port = split_address(address)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # nothing is trusted here; the pin decides (see above)
    context.set_alpn_protocols(["h2"])
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            return _unverified_chain(tls)
    except (OSError, ssl.SSLError) as exc:
        raise Unavailable(f"cannot reach the hub at {address}: {exc}") from exc


def _unverified_chain(tls: ssl.SSLSocket) -> list[bytes]:
    public = getattr(tls, "get_unverified_chain", None)  # Python >= 3.13
    if public is not None:
        return list(public())
    # Python 3.11/3.12 expose the same call on the underlying _ssl object only.
    chain = tls._sslobj.get_unverified_chain() or []  # type: ignore[attr-defined]
    return [cert.public_bytes(ssl._ssl.ENCODING_DER) for cert in chain]  # type: ignore[attr-defined]


def pinned_ca_pem(address: str, fingerprint: str, cache_dir: Path | None = None) -> bytes:
    """The hub CA whose fingerprint is `fingerprint`, from the cache or from the hub itself."""
    pin = normalise_fingerprint(fingerprint)
    cache = (cache_dir or user_data_dir() / "hub-ca") / f"{pin.removeprefix('sha256:')}.pem"
    if cache.exists():
        pem = cache.read_bytes()
        if fingerprint_pem(pem) == pin:
            return pem
    for der in presented_chain(address):
        if fingerprint_der(der) == pin:
            pem = x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM)
            write_private_file(cache, pem)
            return pem
    raise HubTrustError(
        f"the hub at {address} presented no certificate with fingerprint {pin}; "
        "check --hub-ca (a wrong fingerprint, or not the hub you meant)"
    )


def read_ca_file(path: Path) -> bytes:
    try:
        pem = path.expanduser().read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"hub CA file {path} cannot be read: {exc.strerror}") from exc
    _load_pem(pem, source=str(path))
    return pem


def root_certificates(address: str, hub_ca: str, cache_dir: Path | None = None) -> bytes:
    """PEM roots for a channel to `address`; `hub_ca` is a CA PEM path or a sha256 pin."""
    if is_fingerprint(hub_ca):
        return pinned_ca_pem(address, hub_ca, cache_dir)
    return read_ca_file(Path(hub_ca))


def _load_pem(pem: bytes, source: str = "PEM data") -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise ConfigurationError(f"{source} is not a PEM certificate") from exc
