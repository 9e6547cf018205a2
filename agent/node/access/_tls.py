"""TLS for the agent's HTTP and gRPC ports: user-provided PEM files or the hub-issued pair
(a serving certificate from the hub's serving CA, for the names the join token granted)."""

from __future__ import annotations

import ipaddress
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelfleet.agent.node.access._hosts import is_wildcard

log = logging.getLogger(__name__)


class TlsError(ValueError):
    """The certificate or key cannot serve TLS; the message says what is wrong or missing."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """PEM certificate chain and private key (`key` may be inside `cert`, as in serving.pem).

    Both servers re-read the files when they change (a renewal or a rotation replaces them),
    for the connections that start afterwards; unusable new files keep the old ones serving.
    """

    cert: Path
    key: Path

    def ssl_context(self) -> ssl.SSLContext:
        """Server context for asyncio (TLS 1.2+); raises TlsError for unusable files."""
        return _ReloadingContext.serving(self)

    def stamp(self) -> tuple[int, ...]:
        """Changes whenever either file is replaced or rewritten."""
        stamps: list[int] = []
        for path in (self.cert, self.key):
            try:
                st = path.stat()
            except OSError:
                stamps += [-1, -1, -1]
                continue
            stamps += [st.st_ino, st.st_mtime_ns, st.st_size]
        return tuple(stamps)


class _ReloadingContext(ssl.SSLContext):
    """An asyncio server context that loads the pair again, before a new connection, once
    the files changed (one stat per connection)."""

    _files: TlsFiles
    _stamp: tuple[int, ...]

    @classmethod
    def serving(cls, files: TlsFiles) -> _ReloadingContext:
        context = cls(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context._files = files
        context._stamp = files.stamp()
        context._load()
        return context

    def _load(self) -> None:
        try:
            self.load_cert_chain(self._files.cert, self._files.key)
        except (OSError, ssl.SSLError) as exc:
            raise TlsError(
                f"cannot use certificate {self._files.cert} with key {self._files.key}: {exc}"
            ) from None

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        stamp = self._files.stamp()
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                _ReloadingContext.serving(self._files)  # never load a mismatched pair here
                self._load()
                log.info("serving the new TLS certificate from %s", self._files.cert)
            except TlsError as exc:
                log.warning("keeping the current TLS certificate: %s", exc)
        return super().wrap_bio(*args, **kwargs)


def _only_certs(pem: bytes) -> bytes:
    start = pem.find(b"-----BEGIN CERTIFICATE-----")
    if start < 0:
        raise TlsError("no PEM certificate found")
    return pem[start:]


NO_SERVING_CERTIFICATE = (
    "this agent holds no hub-issued serving certificate ({name}): the join token it enrolled "
    "with named no serving hosts. Create a token with `modelfleet agents join-token "
    "--serving-name HOST ...` and join again with an empty data dir, or pass "
    "--tls-cert/--tls-key instead"
)


def hub_serving_files(credentials: Path, names: list[str]) -> TlsFiles:
    """The hub-issued key and serving certificate (one PEM file), if the certificate can serve
    TLS to clients that dial `names`; TlsError naming what is missing otherwise."""
    # Only `run --tls-from-hub` reads a certificate here; `serve` does not pay for the import.
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    try:
        data = credentials.read_bytes()
    except FileNotFoundError:
        raise TlsError(NO_SERVING_CERTIFICATE.format(name=credentials.name)) from None
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
            f"the hub-issued certificate {credentials.name} cannot serve TLS: it lacks "
            + "; ".join(missing)
            + f" (its URI names: {uris}). Bind or allow only names the join token granted "
            "(`modelfleet agents join-token --serving-name`), or pass --tls-cert/--tls-key"
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
