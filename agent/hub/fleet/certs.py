"""Agent certificates: CSRs signed by the hub CA with the identity as SAN URIs, and parsing."""

from __future__ import annotations

import datetime as dt
import hashlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from modelfleet.agent.hub.errors import InvalidArgument
from modelfleet.fleet.identity import AgentIdentity, IdentityError

_CURVES = (ec.SECP256R1, ec.SECP384R1)


def load_csr(csr_pem: str) -> x509.CertificateSigningRequest:
    """A CSR with a valid self-signature over an EC P-256/P-384 or Ed25519 key."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
    except ValueError:
        raise InvalidArgument("csr_pem", "a PEM certificate signing request") from None
    key = csr.public_key()
    if not (
        isinstance(key, ed25519.Ed25519PublicKey)
        or (isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, _CURVES))
    ):
        raise InvalidArgument("csr_pem", "an EC P-256/P-384 or Ed25519 public key")
    try:
        valid = csr.is_signature_valid
    except InvalidSignature:
        valid = False
    if not valid:
        raise InvalidArgument("csr_pem", "a request signed by its own key")
    return csr


def issue(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_pem: bytes,
    csr: x509.CertificateSigningRequest,
    identity: AgentIdentity,
    hours: float,
) -> tuple[str, dt.datetime]:
    """A client certificate for the CSR's key naming `identity`; returns (PEM, not_after)."""
    ca_cert = x509.load_pem_x509_certificate(ca_pem)
    now = dt.datetime.now(dt.UTC)
    not_after = min(now + dt.timedelta(hours=hours), ca_cert.not_valid_after_utc)
    sans = [x509.UniformResourceIdentifier(u) for u in identity.san_uris()]
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"agent {identity.agent_id}")])
        )
        .issuer_name(ca_cert.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), not_after


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
