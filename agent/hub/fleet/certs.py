"""Agent certificates: CSRs signed by the hub CA with the identity as SAN URIs, and parsing."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import re

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID

from modelfleet.agent.hub.errors import InvalidArgument
from modelfleet.agent.hub.pki import sign_leaf
from modelfleet.fleet.identity import AGENT, AgentIdentity, IdentityError

_CURVES = (ec.SECP256R1, ec.SECP384R1)
MAX_SERVING_NAMES = 16
_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def load_csr(csr_pem: str, field: str = "csr_pem") -> x509.CertificateSigningRequest:
    """A CSR with a valid self-signature over an EC P-256/P-384 or Ed25519 key."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
    except ValueError:
        raise InvalidArgument(field, "a PEM certificate signing request") from None
    key = csr.public_key()
    if not (
        isinstance(key, ed25519.Ed25519PublicKey)
        or (isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, _CURVES))
    ):
        raise InvalidArgument(field, "an EC P-256/P-384 or Ed25519 public key")
    try:
        valid = csr.is_signature_valid
    except InvalidSignature:
        valid = False
    if not valid:
        raise InvalidArgument(field, "a request signed by its own key")
    return csr


def serving_names(names: list[str]) -> list[str]:
    """The join token's serving names, normalised (lower case, canonical IPs, no duplicates);
    InvalidArgument naming `serving_names` for anything but plain DNS names and IP addresses."""
    if len(names) > MAX_SERVING_NAMES:
        raise InvalidArgument(
            "serving_names", f"at most {MAX_SERVING_NAMES} names", str(len(names))
        )
    out: list[str] = []
    for name in names:
        normal = _serving_name(name)
        if normal not in out:
            out.append(normal)
    return out


def _serving_name(name: str) -> str:
    shown = repr(name[:80])
    expected = "DNS names (no wildcards) or IP addresses"
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        if ip.is_unspecified or ip.is_multicast:
            raise InvalidArgument("serving_names", "unicast IP addresses", shown)
        return str(ip)
    if "*" in name:
        raise InvalidArgument("serving_names", f"{expected}; wildcards are not issued", shown)
    lowered = name.lower()
    labels = lowered.split(".")
    if (
        not 0 < len(lowered) <= 253
        or not all(_DNS_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise InvalidArgument("serving_names", expected, shown)
    return lowered


def issue(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_pem: bytes,
    csr: x509.CertificateSigningRequest,
    identity: AgentIdentity,
    hours: float,
) -> tuple[str, dt.datetime]:
    """A client certificate for the CSR's key naming `identity`; returns (PEM, not_after)."""
    sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(u) for u in identity.san_uris()]
    return _leaf(
        ca_key, ca_pem, csr, f"agent {identity.agent_id}", sans, ExtendedKeyUsageOID.CLIENT_AUTH,
        hours,
    )  # fmt: skip


def issue_serving(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_pem: bytes,
    csr: x509.CertificateSigningRequest,
    agent_id: str,
    names: list[str],
    hours: float,
) -> str:
    """A TLS server certificate (serverAuth only) for the CSR's key naming exactly `names`
    (already checked by `serving_names`) and the agent's URI; signed by the serving CA."""
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    sans.append(x509.UniformResourceIdentifier(AGENT + agent_id))
    pem, _ = _leaf(ca_key, ca_pem, csr, names[0][:64], sans, ExtendedKeyUsageOID.SERVER_AUTH, hours)
    return pem


def _leaf(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_pem: bytes,
    csr: x509.CertificateSigningRequest,
    common_name: str,
    sans: list[x509.GeneralName],
    usage: x509.ObjectIdentifier,
    hours: float,
) -> tuple[str, dt.datetime]:
    """A non-CA certificate for the CSR's key with one extended key usage, valid `hours`
    (never past the CA); returns (PEM, not_after)."""
    public_key = csr.public_key()
    # `load_csr` admitted only these key types.
    assert isinstance(public_key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey)
    ca_cert = x509.load_pem_x509_certificate(ca_pem)
    lifetime = dt.timedelta(hours=hours)
    cert = sign_leaf(ca_key, ca_cert, public_key, common_name, sans, usage, lifetime)
    return cert.public_bytes(serialization.Encoding.PEM).decode(), cert.not_valid_after_utc


def granted_serving_names(ca_pem: bytes, cert_pem: str, agent_id: str) -> list[str]:
    """The names of a serving certificate the serving CA issued to `agent_id` (expired or
    not: its signature records what the join token granted); [] for anything else."""
    try:
        ca_cert = x509.load_pem_x509_certificate(ca_pem)
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
        cert.verify_directly_issued_by(ca_cert)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return []
    if AGENT + agent_id not in san.get_values_for_type(x509.UniformResourceIdentifier):
        return []
    ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return [*san.get_values_for_type(x509.DNSName), *ips]


def identity_of(cert_pem: bytes) -> tuple[AgentIdentity, dt.datetime]:
    """The identity a (TLS-verified) agent certificate names, and its expiry."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise IdentityError("certificate has no subject alternative names") from None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    return AgentIdentity.from_san_uris(uris), cert.not_valid_after_utc


def fingerprint(cert_pem: bytes) -> str:
    return hashlib.sha256(cert_pem).hexdigest()
