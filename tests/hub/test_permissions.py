"""The permission matrix: every served hub RPC x every kind of caller x own/foreign workspace.

The hub runs with its people's TLS port and its mutual-TLS agent port. A call the
interceptor admits reaches its servicer, which answers OK or a request error
(INVALID_ARGUMENT / NOT_FOUND from the deliberately harmless requests of
`permission_cases`) and leaves no denial; a refused call answers UNAUTHENTICATED or
PERMISSION_DENIED and leaves exactly one "denied" audit row. The walked methods must be
exactly the ones the hub serves, so a new RPC without a case fails here.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import Message
from sqlalchemy import update

import modelfleet.proto
from modelfleet.agent.hub.access.permissions import PERMISSIONS
from modelfleet.agent.hub.db import Workspace
from modelfleet.proto.v1 import auth_pb2
from tests.fleet_hub.conftest import FleetHub, _start
from tests.hub.conftest import ADMIN, DEVELOPER, VIEWER, Hub
from tests.hub.permission_cases import CALLERS, CASES, allowed

ADMITTED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND}
REFUSED = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}
PACKAGE = "/modelfleet.v1."


def invoke(
    channel: grpc.Channel,
    method: str,
    request: Message | list[Message],
    metadata: list[tuple[str, str]],
) -> grpc.StatusCode:
    """Call any method by its full name, its message types taken from the descriptor pool."""
    service_name, name = method.strip("/").split("/")
    desc = descriptor_pool.Default().FindServiceByName(service_name).methods_by_name[name]
    request_type: Any = message_factory.GetMessageClass(desc.input_type)
    response_type: Any = message_factory.GetMessageClass(desc.output_type)
    kind = ("stream" if desc.client_streaming else "unary") + (
        "_stream" if desc.server_streaming else "_unary"
    )
    rpc = getattr(channel, kind)(
        method,
        request_serializer=request_type.SerializeToString,
        response_deserializer=response_type.FromString,
    )
    payload: Any = iter(request) if isinstance(request, list) else request
    try:
        result = rpc(payload, metadata=metadata, timeout=20)
        if desc.server_streaming:
            list(result)
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def served_methods(channel: grpc.Channel) -> set[str]:
    """Every method of every project service that the running hub answers.

    gRPC servers cannot list what they serve, so each method of every service the
    project's protos define is called once without credentials: a method `build_server`
    registered answers anything but UNIMPLEMENTED (the interceptor sees it first).
    """
    served = set()
    for info in pkgutil.walk_packages(modelfleet.proto.__path__, "modelfleet.proto."):
        if not info.name.endswith("_pb2"):
            continue
        for service in importlib.import_module(info.name).DESCRIPTOR.services_by_name.values():
            for desc in service.methods:
                method = f"/{service.full_name}/{desc.name}"
                empty: Message | list[Message] = (
                    []
                    if desc.client_streaming
                    else message_factory.GetMessageClass(desc.input_type)()
                )
                if invoke(channel, method, empty, []) is not grpc.StatusCode.UNIMPLEMENTED:
                    served.add(method)
    return served


@pytest.fixture
def hubs(hub_db_url: str, tmp_path: Path) -> Iterator[tuple[Hub, FleetHub]]:
    """One hub with both ports, seen through the people's helpers and the fleet's."""
    server, fleet = _start(tmp_path, hub_db_url, None)
    try:
        yield Hub(state=fleet.state, channel=fleet.channel, address=fleet.address), fleet
    finally:
        fleet.channel.close()
        server.stop()
        fleet.state.db.dispose()


def _check_the_walk_covers_exactly_the_served_methods(hub: Hub) -> None:
    served = served_methods(hub.channel)
    assert {f"{PACKAGE}Auth/Login", f"{PACKAGE}AgentSession/Connect"} <= served
    # Every served method has a rule (the interceptor refuses the rest anyway).
    assert served <= set(PERMISSIONS), sorted(served - set(PERMISSIONS))
    walked = {PACKAGE + name for name in CASES}
    assert not served - walked, f"served without a matrix case: {sorted(served - walked)}"
    assert not walked - served, f"matrix cases the hub does not serve: {sorted(walked - served)}"


def _callers(hub: Hub, own: str, foreign: str) -> dict[str, str | None]:
    """A credential per caller kind of `permission_cases.CALLERS` (the agent's is its cert)."""
    for name, role in (("viewer", VIEWER), ("developer", DEVELOPER), ("wsadmin", ADMIN)):
        hub.add_user(name)
        hub.set_member(own, name, role)
    hub.add_user("outsider")
    hub.add_workspace(foreign, hub.token("outsider", "password-123"))
    credentials: dict[str, str | None] = {
        "none": None,
        "viewer": hub.token("viewer", "password-123"),
        "developer": hub.token("developer", "password-123"),
        "admin": hub.token("wsadmin", "password-123"),
        "sysadmin": hub.token(),
        "agent": None,
    }
    for name, role in (("viewer", VIEWER), ("developer", DEVELOPER), ("admin", ADMIN)):
        key = hub.api_keys.CreateApiKey(
            auth_pb2.CreateApiKeyRequest(name=f"ci-{name}", role=role),
            metadata=tuple(hub.admin_md(own)),
        )
        credentials[f"key:{name}"] = key.secret
    assert set(credentials) == set(CALLERS)
    return credentials


def test_permission_matrix(hubs: tuple[Hub, FleetHub]) -> None:
    hub, fleet = hubs
    _check_the_walk_covers_exactly_the_served_methods(hub)
    # The agent enrols into the fleet's workspace, so that is the callers' own one too.
    own, foreign = "default", "foreign-ws"
    credentials = _callers(hub, own, foreign)
    agent = fleet.enrol()
    failures = []
    with agent.channel() as agent_channel:
        denied = hub.audit_count(outcome="denied")
        for name, case in CASES.items():
            method = PACKAGE + name
            for caller in CALLERS:
                channel = agent_channel if caller == "agent" else hub.channel
                scopes = [("own", own), ("foreign", foreign)]
                for scope, workspace in scopes + [("hub", None)] * case.hub_wide:
                    md = hub.md(credentials[caller], workspace)
                    code = invoke(channel, method, case.request, md)
                    expected = allowed(case, caller, scope)
                    where = f"{name} {caller} {scope}"
                    if code not in (ADMITTED if expected else REFUSED):
                        verdict = "admitted" if expected else "refused"
                        failures.append(f"{where}: {code.name}, expected {verdict}")
                    now = hub.audit_count(outcome="denied")
                    if now - denied != (0 if expected else 1):
                        failures.append(f"{where}: {now - denied} denial rows")
                    denied = now
                    if name == "Workspaces/ArchiveWorkspace" and code == grpc.StatusCode.OK:
                        with hub.engine.begin() as conn:
                            conn.execute(update(Workspace).values(archived=False))
                        hub.state.authenticator.workspaces_changed()
    assert not failures, "\n".join(failures)
    # The agent's refusals are recorded as the agent's, not as an anonymous caller's.
    agent_refusals = sum((2 + case.hub_wide) * (not case.agents) for case in CASES.values())
    assert hub.audit_count(outcome="denied", actor_kind="agent") == agent_refusals
