"""The permission table for the agent principal: every method, called with an agent certificate.

Agents get through only where the table opens a method to them (agent-only methods and
artifact reads); people never get through agent-only methods. Walks `PERMISSIONS` itself,
so a new method is covered the day it is added.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import descriptor_pool, message_factory
from sqlalchemy import func, select

from modelfleet.agent.hub.access.permissions import PERMISSIONS, Access
from modelfleet.agent.hub.db import AuditEvent
from modelfleet.agent.hub.server import build_server  # noqa: F401  (registers every service)
from tests.fleet_hub.conftest import FleetHub

REFUSED = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}


def _invoke(channel: grpc.Channel, method: str, metadata: list[tuple[str, str]]) -> grpc.StatusCode:
    service_name, name = method.strip("/").split("/")
    service = descriptor_pool.Default().FindServiceByName(service_name)
    desc = service.methods_by_name[name]
    request_type: Any = message_factory.GetMessageClass(desc.input_type)
    response_type: Any = message_factory.GetMessageClass(desc.output_type)
    kind = (
        ("stream" if desc.client_streaming else "unary")
        + "_"
        + ("stream" if desc.server_streaming else "unary")
    )
    rpc = getattr(channel, kind)(
        method,
        request_serializer=request_type.SerializeToString,
        response_deserializer=response_type.FromString,
    )
    request: Any = request_type()
    if desc.client_streaming:
        request = iter([])
    try:
        result = rpc(request, metadata=metadata, timeout=20)
        if desc.server_streaming:
            list(result)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def test_agents_reach_only_what_the_table_opens_to_them(fleet_hub: FleetHub) -> None:
    hub = fleet_hub
    agent = hub.enrol()
    failures = []
    with agent.channel() as channel:
        for method, permission in sorted(PERMISSIONS.items()):
            # Workspace metadata must not widen an agent's reach.
            code = _invoke(channel, method, hub.md())
            if permission.agents and code in REFUSED:
                failures.append(f"agent refused on {method}: {code.name}")
            if not permission.agents and code is not grpc.StatusCode.PERMISSION_DENIED:
                failures.append(f"agent admitted on {method}: {code.name}")
    for method, permission in PERMISSIONS.items():
        if permission.access is Access.AGENT:
            code = _invoke(hub.channel, method, hub.md())
            if code is not grpc.StatusCode.PERMISSION_DENIED:
                failures.append(f"person admitted on {method}: {code.name}")
    assert not failures, "\n".join(failures)
    assert hub_audit_denials(hub) >= sum(not p.agents for p in PERMISSIONS.values())


def hub_audit_denials(hub: FleetHub) -> int:
    with hub.state.db.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).where(
                    AuditEvent.actor_kind == "agent", AuditEvent.outcome == "denied"
                )
            ).scalar_one()
        )
