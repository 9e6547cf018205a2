"""A real TLS gRPC server with a freshly generated CA, for trust tests that need a hub
impostor (a server whose CA differs from the one pinned) as well as a genuine hub."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import NameOID

from modelfleet.client import fingerprint_pem
from modelfleet.proto.v1 import auth_pb2, auth_pb2_grpc


@dataclass(frozen=True)
class Pki:
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    @property
    def fingerprint(self) -> str:
        return fingerprint_pem(self.ca_pem)


def make_pki(common_name: str = "test hub") -> Pki:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{common_name} CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return Pki(
        ca_pem=ca.public_bytes(Encoding.PEM),
        cert_pem=cert.public_bytes(Encoding.PEM),
        key_pem=key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()),
    )


class _HubInfoOnly(auth_pb2_grpc.AuthServicer):
    """Answers GetHubInfo only; enough to prove which server a channel reached."""

    def __init__(self, pki: Pki, version: str) -> None:
        self._pki = pki
        self._version = version

    def GetHubInfo(self, request: auth_pb2.GetHubInfoRequest, context: object) -> auth_pb2.HubInfo:
        return auth_pb2.HubInfo(
            version=self._version,
            ca_fingerprint=self._pki.fingerprint,
            ca_pem=self._pki.ca_pem.decode(),
        )


@contextmanager
def tls_server(pki: Pki, version: str = "test", *, send_ca: bool = True) -> Iterator[str]:
    """Serve on 127.0.0.1:<free port> over TLS; yields the address."""
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    auth_pb2_grpc.add_AuthServicer_to_server(_HubInfoOnly(pki, version), server)
    chain = pki.cert_pem + (pki.ca_pem if send_ca else b"")
    port = server.add_secure_port(
        "127.0.0.1:0", grpc.ssl_server_credentials([(pki.key_pem, chain)])
    )
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)
