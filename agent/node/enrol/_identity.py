"""What an enrolled agent keeps in its data dir: identity, key + certificate, hub CA, hub key."""

from __future__ import annotations

import datetime as dt
import socket
from dataclasses import dataclass
from pathlib import Path

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.x509.oid import NameOID

from modelfleet.fleet import AgentIdentity
from modelfleet.fleet.endpoints import split_host_port
from modelfleet.paths import ensure_private_dir, write_private_file

IDENTITY_FILE = "identity.json"
# Key and certificate share one file so a renewal replaces both in one atomic rename.
CREDENTIALS_FILE = "agent.pem"
CA_FILE = "ca.pem"
MANIFEST_KEY_FILE = "manifest-key.pem"
# The serving key and certificate (from the hub's serving CA; only when the join token named
# hosts), one file as above; and the serving CA, which inference clients trust.
SERVING_FILE = "serving.pem"
SERVING_CA_FILE = "serving-ca.pem"


class NotEnrolled(RuntimeError):
    """The data dir holds no (complete) enrolment; run `modelfleet-agent join` first."""


@dataclass(frozen=True)
class Enrolment:
    """An agent's identity and the addresses it talks to."""

    identity: AgentIdentity
    #: where the agent joined (the hub's main port) and where it reaches agent-only methods
    hub: str
    agent_target: str
    #: the agent port the hub last announced (0: none, agent methods on the main port)
    agent_port: int = 0

    @property
    def agent_id(self) -> str:
        return self.identity.agent_id


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def csr_pem(key: ec.EllipticCurvePrivateKey, hostname: str) -> str:
    """A CSR for `key`; the hub decides the subject and SANs, the CSR proves the key."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname[:64] or "agent")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class DataDir:
    """The files of one agent's data dir (created 0700, secrets 0600)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def state_db(self) -> Path:
        return self.root / "state.db"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def serving(self) -> Path:
        return self.root / "serving"

    @property
    def control_token(self) -> Path:
        return self.root / "control.token"

    def ensure(self) -> None:
        ensure_private_dir(self.root)

    def is_enrolled(self) -> bool:
        return (self.root / IDENTITY_FILE).is_file()

    def save(
        self,
        enrolment: Enrolment,
        key: ec.EllipticCurvePrivateKey,
        certificate_pem: str,
        ca_pem: str,
        manifest_key_pem: str,
    ) -> None:
        """Write everything; the identity file goes last so a half-done join is not enrolled."""
        self.ensure()
        write_private_file(self.root / CA_FILE, ca_pem.encode())
        write_private_file(self.root / MANIFEST_KEY_FILE, manifest_key_pem.encode())
        self.save_credentials(key, certificate_pem)
        self.save_identity(enrolment)

    def save_identity(self, enrolment: Enrolment) -> None:
        """Replace the identity file in one atomic rename (addresses change, the id never)."""
        ident = enrolment.identity
        doc = {
            "agent_id": ident.agent_id,
            "workspace_id": ident.workspace_id,
            "environment": ident.environment,
            "labels": dict(ident.labels),
            "hub": enrolment.hub,
            "agent_target": enrolment.agent_target,
            "agent_port": enrolment.agent_port,
        }
        write_private_file(self.root / IDENTITY_FILE, orjson.dumps(doc, option=orjson.OPT_INDENT_2))

    def save_credentials(self, key: ec.EllipticCurvePrivateKey, certificate_pem: str) -> None:
        write_private_file(self.root / CREDENTIALS_FILE, key_pem(key) + certificate_pem.encode())

    def save_serving(
        self, key: ec.EllipticCurvePrivateKey, certificate_pem: str, ca_pem: str
    ) -> None:
        """Keep a hub-issued serving certificate (the CA first: a reader of the pair finds a
        CA that verifies it)."""
        write_private_file(self.root / SERVING_CA_FILE, ca_pem.encode())
        write_private_file(self.root / SERVING_FILE, key_pem(key) + certificate_pem.encode())

    def serving_certificate(self) -> str:
        """The current serving certificate PEM, or "" (none issued)."""
        path = self.root / SERVING_FILE
        if not path.is_file():
            return ""
        data = path.read_bytes()
        return data[data.index(b"-----BEGIN CERTIFICATE-----") :].decode()

    def load(self) -> Enrolment:
        try:
            doc = orjson.loads((self.root / IDENTITY_FILE).read_bytes())
        except FileNotFoundError:
            raise NotEnrolled(
                f"{self.root} holds no agent identity; run `modelfleet-agent join` first"
            ) from None
        identity = AgentIdentity(
            doc["agent_id"], doc["workspace_id"], doc["environment"], doc["labels"]
        )
        # Identities saved before the hub announced ports here: the target's port it was.
        announced = doc.get("agent_port")
        if announced is None:
            announced = split_host_port(doc["agent_target"])[1] if doc["agent_target"] else 0
        return Enrolment(identity, doc["hub"], doc["agent_target"], int(announced))

    def credentials(self) -> tuple[bytes, bytes]:
        """(private key PEM, certificate PEM)."""
        data = (self.root / CREDENTIALS_FILE).read_bytes()
        marker = b"-----BEGIN CERTIFICATE-----"
        split = data.index(marker)
        return data[:split], data[split:]

    def ca_pem(self) -> bytes:
        return (self.root / CA_FILE).read_bytes()

    def manifest_key(self) -> Ed25519PublicKey | None:
        path = self.root / MANIFEST_KEY_FILE
        if not path.is_file() or not path.read_bytes().strip():
            return None
        key = serialization.load_pem_public_key(path.read_bytes())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"{MANIFEST_KEY_FILE} does not hold an Ed25519 public key")
        return key

    def certificate_window(self) -> tuple[dt.datetime, dt.datetime]:
        """(not before, not after) of the current certificate, UTC."""
        cert = x509.load_pem_x509_certificate(self.credentials()[1])
        return cert.not_valid_before_utc, cert.not_valid_after_utc


def hostname() -> str:
    return socket.gethostname()
