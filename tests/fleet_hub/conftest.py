"""Fleet hub tests: the real hub servicers on TLS ports (people) and mutual TLS (agents).

The hub runs in-process on its own event loop thread so tests can swap the promotion
policy; everything reaches it through real gRPC channels with the hub's own certificates.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from modelfleet.agent.hub import pki
from modelfleet.agent.hub.bootstrap import init_hub
from modelfleet.agent.hub.datadir import HubPaths
from modelfleet.agent.hub.deployments.policy import PromotionPolicy
from modelfleet.agent.hub.server import agent_server_credentials, build_server, server_credentials
from modelfleet.agent.hub.state import HubState
from modelfleet.client import ClientSettings, HubClient
from modelfleet.proto.v1 import (
    auth_pb2,
    auth_pb2_grpc,
    deployments_pb2_grpc,
    fleet_pb2,
    fleet_pb2_grpc,
    monitoring_pb2_grpc,
)
from tests.fleet_hub.agentclient import JoinedAgent, join
from tests.hub.conftest import ADMIN_PASSWORD, TEST_SETTINGS, _ServerThread

WORKSPACE = "default"


class _TlsServerThread(_ServerThread):
    """The hub's own server with its people's TLS port and its mutual-TLS agent port."""

    def __init__(self, state: HubState, paths: HubPaths, policy: PromotionPolicy | None) -> None:
        self._paths = paths
        self._policy = policy
        self._state = state
        super().__init__(state)

    def stop(self) -> None:
        assert self._state.fleet is not None
        self._run(self._state.fleet.close())
        super().stop()

    async def _start(self, state: HubState) -> int:
        self.server = build_server(state, promotion_policy=self._policy)
        port = self.server.add_secure_port("127.0.0.1:0", server_credentials(self._paths))
        agent_port = self.server.add_secure_port(
            "127.0.0.1:0", agent_server_credentials(self._paths)
        )
        assert state.fleet is not None
        state.fleet.agent_port = agent_port
        state.fleet.hub_hint = f"127.0.0.1:{port}"
        await self.server.start()
        return port


@dataclass
class FleetHub:
    state: HubState
    address: str
    ca_pem: bytes
    channel: grpc.Channel
    token: str

    def md(self, workspace: str = WORKSPACE, token: str | None = None) -> list[tuple[str, str]]:
        return [
            ("authorization", f"Bearer {token or self.token}"),
            ("x-modelfleet-workspace", workspace),
        ]

    @property
    def fleet(self) -> fleet_pb2_grpc.FleetStub:
        return fleet_pb2_grpc.FleetStub(self.channel)

    @property
    def deployments(self) -> deployments_pb2_grpc.DeploymentsStub:
        return deployments_pb2_grpc.DeploymentsStub(self.channel)

    @property
    def monitoring(self) -> monitoring_pb2_grpc.MonitoringStub:
        return monitoring_pb2_grpc.MonitoringStub(self.channel)

    def login(self, username: str, password: str) -> str:
        pair = auth_pb2_grpc.AuthStub(self.channel).Login(
            auth_pb2.LoginRequest(username=username, password=password)
        )
        return str(pair.access_token)

    def client(self) -> HubClient:
        settings = ClientSettings(
            hub=self.address,
            hub_ca=pki.fingerprint(self.ca_pem),
            workspace=WORKSPACE,
            timeout=30,
        )
        client = HubClient.connect(settings)
        client.login("admin", ADMIN_PASSWORD)
        return client

    def join_token(self, environment: str = "staging", **labels: str) -> str:
        created = self.fleet.CreateJoinToken(
            fleet_pb2.CreateJoinTokenRequest(environment=environment, labels=labels),
            metadata=self.md(),
        )
        return str(created.token)

    def enrol(
        self, environment: str = "staging", hostname: str = "node-1", **labels: str
    ) -> JoinedAgent:
        return join(self.address, self.ca_pem, self.join_token(environment, **labels), hostname)


def _start(tmp_path: Path, db_url: str, policy: PromotionPolicy | None) -> tuple[Any, FleetHub]:
    # Initialise and open the data directory exactly as `hub init` / `hub serve` do.
    init_hub(tmp_path / "hub", db_url=db_url, admin_password=ADMIN_PASSWORD, settings=TEST_SETTINGS)
    paths = HubPaths(tmp_path / "hub")
    state = HubState.open(paths, TEST_SETTINGS)
    server = _TlsServerThread(state, paths, policy)
    address = f"127.0.0.1:{server.port}"
    ca_pem = paths.ca_cert.read_bytes()
    channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(ca_pem))
    token = (
        auth_pb2_grpc.AuthStub(channel)
        .Login(auth_pb2.LoginRequest(username="admin", password=ADMIN_PASSWORD))
        .access_token
    )
    return server, FleetHub(state, address, ca_pem, channel, token)


@pytest.fixture
def fleet_hub_factory(hub_db_url: str, tmp_path: Path) -> Iterator[Any]:
    started: list[tuple[Any, FleetHub]] = []

    def make(policy: PromotionPolicy | None = None) -> FleetHub:
        pair = _start(tmp_path, hub_db_url, policy)
        started.append(pair)
        return pair[1]

    yield make
    for server, handle in started:
        handle.channel.close()
        server.stop()
        handle.state.db.dispose()


@pytest.fixture
def fleet_hub(fleet_hub_factory: Any) -> FleetHub:
    return fleet_hub_factory()  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def sample_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real scikit-learn pipeline converted with skl2onnx."""
    from modelfleet.agent.node.sample import write_sample_model

    return write_sample_model(tmp_path_factory.mktemp("sample")) / "model.onnx"


def push_versions(hub: FleetHub, onnx: Path, name: str, count: int) -> None:
    """`count` versions of model `name`, through the registry's own client calls."""
    with hub.client() as client:
        for _ in range(count):
            client.push_model(onnx, name)
