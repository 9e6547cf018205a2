"""IP allow-lists: CIDR parsing (IPv4/IPv6), peers 127.0.0.1 vs 127.0.0.2, audited refusals."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from sqlalchemy import select

from modelfleet.agent.hub.access import netpolicy
from modelfleet.agent.hub.access.permissions import PERMISSIONS, Role
from modelfleet.agent.hub.access.principal import Call, Principal, WorkspaceRef
from modelfleet.agent.hub.db import AuditEvent
from modelfleet.agent.hub.errors import InvalidArgument, PermissionDenied
from modelfleet.proto.v1 import auth_pb2, auth_pb2_grpc, workspaces_pb2, workspaces_pb2_grpc
from tests.hub.conftest import DEVELOPER, TEST_SETTINGS, VIEWER, Hub, start_hub


class SourceProxy:
    """Listens on 127.0.0.1 and connects on to the hub *from* `source` (another loopback)."""

    def __init__(self, target: tuple[str, int], source: str) -> None:
        self._target, self._source = target, source
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target, source_address=(self._source, 0))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._listener.close()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    data: Path = tmp_path_factory.mktemp("hub")
    server, handle = start_hub(data / "hub", f"sqlite:///{data / 'hub.db'}", TEST_SETTINGS)
    try:
        yield handle
    finally:
        handle.channel.close()
        server.stop()
        handle.state.db.dispose()


def test_cidr_parsing_and_peers() -> None:
    assert str(netpolicy.parse_cidr("cidr", "10.1.2.3/8")) == "10.0.0.0/8"
    assert str(netpolicy.parse_cidr("cidr", "203.0.113.7")) == "203.0.113.7/32"
    assert str(netpolicy.parse_cidr("cidr", "2001:db8::1/32")) == "2001:db8::/32"
    assert str(netpolicy.parse_cidr("cidr", " ::1 ")) == "::1/128"
    assert str(netpolicy.parse_cidr("cidr", "::ffff:10.0.0.0/104")) == "10.0.0.0/8"
    for bad in ("", "10.0.0.0/33", "2001:db8::/129", "example.com", "10.0.0.0/8,11.0.0.0/8"):
        with pytest.raises(InvalidArgument, match=r"^cidr: expected a CIDR"):
            netpolicy.parse_cidr("cidr", bad)
    assert netpolicy.peer_address("ipv4:127.0.0.2:5000") == ipaddress.ip_address("127.0.0.2")
    assert netpolicy.peer_address("ipv6:[::1]:5000") == ipaddress.ip_address("::1")
    assert netpolicy.peer_address("ipv6:%5B2001:db8::7%5D:443") == ipaddress.ip_address(
        "2001:db8::7"
    )
    assert netpolicy.peer_address("ipv6:[::ffff:10.1.1.1]:1") == ipaddress.ip_address("10.1.1.1")
    assert netpolicy.peer_address("unix:/tmp/sock") is None
    v6 = (netpolicy.parse_cidr("cidr", "2001:db8::/32"),)
    assert netpolicy.allows(v6, ipaddress.ip_address("2001:db8:1::5"))
    assert not netpolicy.allows(v6, ipaddress.ip_address("2001:db9::5"))
    assert not netpolicy.allows(v6, None)
    assert netpolicy.allows((), None)  # an empty list allows everyone


def _net(hub: Hub) -> auth_pb2_grpc.NetworkPolicyStub:
    return auth_pb2_grpc.NetworkPolicyStub(hub.channel)


def _add(hub: Hub, token: str, ws: str | None, audience: int, cidr: str) -> auth_pb2.AllowedNetwork:
    return _net(hub).AddAllowedNetwork(
        auth_pb2.AddAllowedNetworkRequest(audience=audience, cidr=cidr),  # type: ignore[arg-type]
        metadata=hub.md(token, ws),
    )


def test_off_list_address_is_refused_and_audited(hub: Hub) -> None:
    hub.add_user("owner", "password-123")
    hub.add_user("member", "password-123")
    owner = hub.token("owner", "password-123")
    hub.add_workspace("net", owner)
    hub.add_workspace("open", owner)
    for ws in ("net", "open"):
        hub.workspaces.SetMember(
            workspaces_pb2.SetMemberRequest(user="member", role=DEVELOPER),
            metadata=hub.md(owner, ws),
        )
    people = auth_pb2.NETWORK_AUDIENCE_PEOPLE
    # A list that would shut out the admin making the change is refused.
    with pytest.raises(grpc.RpcError) as caught:
        _add(hub, owner, "net", people, "10.0.0.0/8")
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "your own address (127.0.0.1)" in (caught.value.details() or "")
    entry = _add(hub, owner, "net", people, "127.0.0.1/32")
    _add(hub, owner, "net", people, "2001:db8::/32")
    listed = _net(hub).ListAllowedNetworks(
        auth_pb2.ListAllowedNetworksRequest(), metadata=hub.md(owner, "net")
    )
    assert sorted(n.cidr for n in listed.networks) == ["127.0.0.1/32", "2001:db8::/32"]

    member = hub.token("member", "password-123")
    port = int(hub.address.rsplit(":", 1)[1])
    proxy = SourceProxy(("127.0.0.1", port), "127.0.0.2")
    far = grpc.insecure_channel(proxy.address)
    try:
        far_workspaces = workspaces_pb2_grpc.WorkspacesStub(far)
        get = workspaces_pb2.GetWorkspaceRequest()
        assert hub.workspaces.GetWorkspace(get, metadata=hub.md(member, "net")).name == "net"
        with pytest.raises(grpc.RpcError) as caught:
            far_workspaces.GetWorkspace(get, metadata=hub.md(member, "net"))
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "127.0.0.2 is not on the allow-list of workspace 'net' for people" in (
            caught.value.details() or ""
        )
        with hub.engine.connect() as conn:
            row = conn.execute(
                select(
                    AuditEvent.action,
                    AuditEvent.source,
                    AuditEvent.actor_name,
                    AuditEvent.details_json,
                )
                .where(AuditEvent.outcome == "denied")
                .order_by(AuditEvent.seq.desc())
            ).first()
        assert row is not None and row.action == "Workspaces.GetWorkspace"
        assert row.source.startswith("ipv4:127.0.0.2:") and row.actor_name == "member"
        assert "PERMISSION_DENIED" in row.details_json
        # Lists are per workspace: another workspace answers from anywhere.
        assert far_workspaces.GetWorkspace(get, metadata=hub.md(member, "open")).name == "open"
        # API keys have their own list.
        key = hub.api_keys.CreateApiKey(
            auth_pb2.CreateApiKeyRequest(name="ci", role=VIEWER), metadata=hub.md(owner, "net")
        ).secret
        assert far_workspaces.GetWorkspace(get, metadata=hub.md(key, "net")).name == "net"
        _add(hub, owner, "net", auth_pb2.NETWORK_AUDIENCE_API_KEYS, "127.0.0.1")
        with pytest.raises(grpc.RpcError) as caught:
            far_workspaces.GetWorkspace(get, metadata=hub.md(key, "net"))
        assert "for api keys" in (caught.value.details() or "")
        # Removing the entry opens the workspace again (the IPv6 entry alone excludes both).
        with pytest.raises(grpc.RpcError) as caught:
            _net(hub).RemoveAllowedNetwork(
                auth_pb2.RemoveAllowedNetworkRequest(id=entry.id), metadata=hub.md(owner, "net")
            )
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    finally:
        far.close()
        proxy.close()


def test_agents_list_is_hub_wide(hub: Hub) -> None:
    admin = hub.token()
    agents = auth_pb2.NETWORK_AUDIENCE_AGENTS
    with pytest.raises(grpc.RpcError) as caught:
        _add(hub, admin, "default", agents, "10.0.0.0/8")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (caught.value.details() or "").startswith("audience:")
    _add(hub, admin, None, agents, "10.0.0.0/8")
    guard = netpolicy.NetworkGuard(hub.state.db, ttl=5.0)
    agent = Principal("agent", "a1", "agent:a1", False, {"ws": Role.VIEWER})
    permission = PERMISSIONS["/modelfleet.v1.AgentSession/Connect"]
    workspace = WorkspaceRef("ws", "default", False)

    def call(peer: str) -> Call:
        return Call("/m/x", "AgentSession.Connect", peer, agent, workspace, Role.VIEWER)

    asyncio.run(guard.admit(call("ipv4:10.2.3.4:5000"), permission))
    with pytest.raises(PermissionDenied, match="not on the allow-list of the hub for agents"):
        asyncio.run(guard.admit(call("ipv4:127.0.0.2:5000"), permission))
