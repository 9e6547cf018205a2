"""The hub's own CA, its TLS server certificate and the token-signing key."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import logging
import socket
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from modelfleet.agent.hub.datadir import HubPaths
from modelfleet.paths import ensure_private_dir, write_private_file

log = logging.getLogger(__name__)

CA_DAYS = 20 * 365
SERVER_DAYS = 825
# `hub serve` re-issues the server certificate when less than this is left.
RENEW_BEFORE = dt.timedelta(days=30)


def fingerprint(cert_pem: bytes) -> str:
    """ "sha256:<hex>" of the certificate's DER encoding (what clients pin)."""
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def _private_pem(key: ec.EllipticCurvePrivateKey | Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _create_ca(paths: HubPaths) -> None:
    key, cert = _new_ca("modelfleet hub CA")
    write_private_file(paths.ca_key, _private_pem(key))
    write_private_file(paths.ca_cert, cert.public_bytes(serialization.Encoding.PEM))


def _new_ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _issue_server_cert(paths: HubPaths) -> None:
    ca_key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca_cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    hostname = socket.gethostname()
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    if hostname and hostname != "localhost":
        names.append(x509.DNSName(hostname))
    names += [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    cert = sign_leaf(
        ca_key, ca_cert, key.public_key(), "modelfleet hub", names,
        ExtendedKeyUsageOID.SERVER_AUTH, dt.timedelta(days=SERVER_DAYS),
    )  # fmt: skip
    write_private_file(paths.server_key, _private_pem(key))
    # Certificates are public; 0600 anyway keeps the folder uniform.
    write_private_file(paths.server_cert, cert.public_bytes(serialization.Encoding.PEM))


def sign_leaf(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    public_key: ec.EllipticCurvePublicKey | Ed25519PublicKey,
    common_name: str,
    sans: list[x509.GeneralName],
    usage: x509.ObjectIdentifier,
    lifetime: dt.timedelta,
) -> x509.Certificate:
    """A non-CA certificate for `public_key` signed by the CA, with the given subject
    alternative names and one extended key usage, valid `lifetime` (never past the CA)."""
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + lifetime, ca_cert.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def server_cert_expiring(paths: HubPaths) -> bool:
    cert = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
    return cert.not_valid_after_utc - _now() < RENEW_BEFORE


def ensure_tls(paths: HubPaths, *, renew: bool = False) -> None:
    """Create the CA, server certificate and serving CA when missing; with `renew`, re-issue
    an expiring server certificate."""
    ensure_private_dir(paths.tls)
    if not paths.ca_cert.exists():
        _create_ca(paths)
    if not paths.server_cert.exists() or not paths.server_key.exists():
        _issue_server_cert(paths)
    elif renew and server_cert_expiring(paths):
        log.info("server certificate expires within %s; issuing a new one", RENEW_BEFORE)
        _issue_server_cert(paths)
    ensure_serving_ca(paths)


def ensure_serving_ca(paths: HubPaths) -> None:
    """Create the serving CA (signs agents' TLS server certificates) when missing. It is a
    separate root: the hub CA, which people's clients pin, never signs an agent's server
    certificate, so no agent can pose as the hub to them."""
    if paths.serving_ca_cert.exists() and paths.serving_ca_key.exists():
        return
    ensure_private_dir(paths.tls)
    key, cert = _new_ca("modelfleet agent serving CA")
    write_private_file(paths.serving_ca_key, _private_pem(key))
    write_private_file(paths.serving_ca_cert, cert.public_bytes(serialization.Encoding.PEM))
    log.info("created the serving CA for agents' TLS certificates")


def load_serving_ca(paths: HubPaths) -> tuple[ec.EllipticCurvePrivateKey | None, bytes]:
    """(key, certificate PEM) of the serving CA; (None, b"") when `ensure_tls` made none."""
    if not (paths.serving_ca_cert.exists() and paths.serving_ca_key.exists()):
        return None, b""
    key = serialization.load_pem_private_key(paths.serving_ca_key.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{paths.serving_ca_key.name}: expected an EC private key")
    return key, paths.serving_ca_cert.read_bytes()


def ensure_signing_key(path: Path) -> None:
    if not path.exists():
        write_private_file(path, _private_pem(Ed25519PrivateKey.generate()))


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path.name}: expected an Ed25519 private key")
    return key
