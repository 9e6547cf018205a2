"""A minimal agent for hub tests: a real gRPC client that joins and keeps a session open."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from modelfleet.proto.v1 import fleet_pb2, fleet_pb2_grpc


def make_csr() -> tuple[bytes, str]:
    """(private key PEM, CSR PEM) for a fresh EC P-256 key, as an agent makes them."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test agent")]))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, csr.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class JoinedAgent:
    agent_id: str
    key_pem: bytes
    cert_pem: bytes
    ca_pem: bytes
    agent_target: str
    joined: fleet_pb2.JoinResponse

    def channel(self) -> grpc.Channel:
        creds = grpc.ssl_channel_credentials(self.ca_pem, self.key_pem, self.cert_pem)
        return grpc.secure_channel(self.agent_target, creds)


def join(address: str, ca_pem: bytes, token: str, hostname: str = "node-1") -> JoinedAgent:
    key_pem, csr = make_csr()
    with grpc.secure_channel(address, grpc.ssl_channel_credentials(ca_pem)) as channel:
        joined = fleet_pb2_grpc.EnrollmentStub(channel).Join(
            fleet_pb2.JoinRequest(token=token, csr_pem=csr, hostname=hostname), timeout=20
        )
    host = address.rsplit(":", 1)[0]
    return JoinedAgent(
        joined.agent_id,
        key_pem,
        joined.certificate_pem.encode(),
        joined.ca_pem.encode(),
        f"{host}:{joined.agent_port}",
        joined,
    )


@dataclass
class Session:
    """One Connect stream: `send` agent messages, `recv` hub messages with a timeout."""

    call: grpc.Future  # the response iterator, also a grpc.Call
    outgoing: queue.Queue[fleet_pb2.AgentMessage | None]
    incoming: queue.Queue[fleet_pb2.HubMessage | grpc.RpcError | None] = field(
        default_factory=queue.Queue
    )

    def send(self, message: fleet_pb2.AgentMessage) -> None:
        self.outgoing.put(message)

    def recv(self, timeout: float = 10.0) -> fleet_pb2.HubMessage:
        item = self.incoming.get(timeout=timeout)
        if item is None:
            raise EOFError("stream ended")
        if isinstance(item, grpc.RpcError):
            raise item
        return item

    def recv_kind(self, kind: str, timeout: float = 10.0) -> fleet_pb2.HubMessage:
        while True:
            message = self.recv(timeout)
            if message.WhichOneof("body") == kind:
                return message

    def close(self) -> None:
        self.outgoing.put(None)
        self.call.cancel()


def connect(channel: grpc.Channel, hello: fleet_pb2.Hello | None = None) -> Session:
    outgoing: queue.Queue[fleet_pb2.AgentMessage | None] = queue.Queue()
    outgoing.put(fleet_pb2.AgentMessage(hello=hello or fleet_pb2.Hello(hostname="node-1")))

    def requests() -> Iterator[fleet_pb2.AgentMessage]:
        while (item := outgoing.get()) is not None:
            yield item

    responses = fleet_pb2_grpc.AgentSessionStub(channel).Connect(requests())
    session = Session(responses, outgoing)

    def pump() -> None:
        try:
            for message in responses:
                session.incoming.put(message)
            session.incoming.put(None)
        except grpc.RpcError as exc:
            session.incoming.put(exc)

    threading.Thread(target=pump, daemon=True).start()
    return session
