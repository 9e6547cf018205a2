"""TLS for the agent's HTTP and gRPC ports: user-provided PEM files or the hub-issued pair."""

from __future__ import annotations

import ipaddress
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from modelfleet.agent.node.access._hosts import is_wildcard

_PRIVATE_KEY = re.compile(
    rb"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.+?-----END \1PRIVATE KEY-----", re.S
)


class TlsError(ValueError):
    """The certificate or key cannot serve TLS; the message says what is wrong or missing."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """PEM certificate chain and private key (`key` may be inside `cert`, as in agent.pem)."""

    cert: Path
    key: Path

    def ssl_context(self) -> ssl.SSLContext:
        """Server context for asyncio (TLS 1.2+); raises TlsError for unusable files."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(self.cert, self.key)
        except (OSError, ssl.SSLError) as exc:
            raise TlsError(
                f"cannot use certificate {self.cert} with key {self.key}: {exc}"
            ) from None
        return context

    def grpc_credentials(self) -> grpc.ServerCredentials:
        cert = self.cert.read_bytes()
        key = self.key.read_bytes()
        return grpc.ssl_server_credentials([(_only_key(key), _only_certs(cert))])


def _only_certs(pem: bytes) -> bytes:
    start = pem.find(b"-----BEGIN CERTIFICATE-----")
    if start < 0:
        raise TlsError("no PEM certificate found")
    return pem[start:]


def _only_key(pem: bytes) -> bytes:
    found = _PRIVATE_KEY.search(pem)
    if found is None:
        raise TlsError("no PEM private key found")
    return found.group(0)


def hub_serving_files(credentials: Path, names: list[str]) -> TlsFiles:
    """The enrolled key and certificate (one PEM file), if the certificate can serve TLS to
    clients that dial `names`; TlsError naming what is missing otherwise."""
    # Only `run --tls-from-hub` reads a certificate here; `serve` does not pay for the import.
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    data = credentials.read_bytes()
    cert = x509.load_pem_x509_certificate(_only_certs(data))
    missing: list[str] = []
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.SERVER_AUTH not in usage:
            missing.append("extended key usage serverAuth (it has clientAuth only)")
    except x509.ExtensionNotFound:
        pass  # no EKU: any use is allowed
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = x509.SubjectAlternativeName([])
    dns = {n.lower() for n in san.get_values_for_type(x509.DNSName)}
    ips = set(san.get_values_for_type(x509.IPAddress))
    wanted = [n for n in names if not is_wildcard(n)]
    if not wanted:
        missing.append("a host name to check it against (bind a named address or pass "
                       "--allowed-hosts with the names clients use)")  # fmt: skip
    for name in wanted:
        if not _covers(name, dns, ips):
            missing.append(f"a DNS or IP subjectAltName for {name!r}")
    if missing:
        uris = ", ".join(san.get_values_for_type(x509.UniformResourceIdentifier)) or "none"
        raise TlsError(
            "the enrolled agent certificate cannot serve TLS: it lacks "
            + "; ".join(missing)
            + f" (its URI names: {uris}). Pass --tls-cert/--tls-key instead, or have the hub "
            "issue a serving certificate"
        )
    return TlsFiles(credentials, credentials)


def _covers(name: str, dns: set[str], ips: set[Any]) -> bool:
    try:
        return ipaddress.ip_address(name.strip("[]")) in ips
    except ValueError:
        pass
    name = name.lower()
    if name in dns:
        return True
    rest = name.partition(".")[2]
    return bool(rest) and f"*.{rest}" in dns
