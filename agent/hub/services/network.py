"""NetworkPolicy servicer: the IP allow-lists of workspaces (people, API keys) and agents."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelfleet.agent.hub import validation
from modelfleet.agent.hub.access import netpolicy
from modelfleet.agent.hub.access.principal import Call, current_call
from modelfleet.agent.hub.access.recording import record
from modelfleet.agent.hub.db.security_models import AllowedNetworkRow
from modelfleet.agent.hub.errors import (
    AlreadyExists,
    Context,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from modelfleet.agent.hub.services import convert
from modelfleet.agent.hub.state import HubState
from modelfleet.proto.v1 import auth_pb2, auth_pb2_grpc

_AUDIENCES = {
    auth_pb2.NETWORK_AUDIENCE_PEOPLE: netpolicy.PEOPLE,
    auth_pb2.NETWORK_AUDIENCE_API_KEYS: netpolicy.API_KEYS,
    auth_pb2.NETWORK_AUDIENCE_AGENTS: netpolicy.AGENTS,
}
_NUMBERS = {name: number for number, name in _AUDIENCES.items()}
_MAX_ENTRIES = 1000


class NetworkPolicyServicer(auth_pb2_grpc.NetworkPolicyServicer):
    def __init__(self, hub: HubState, guard: netpolicy.NetworkGuard) -> None:
        self._hub = hub
        self._guard = guard

    async def AddAllowedNetwork(
        self, request: auth_pb2.AddAllowedNetworkRequest, context: Context
    ) -> auth_pb2.AllowedNetwork:
        call = current_call()
        audience = _audience(call, request.audience, required=True)
        assert audience is not None
        network = netpolicy.parse_cidr("cidr", request.cidr)
        note = validation.text("note", request.note, 256)
        workspace_id = call.workspace.id if call.workspace else None
        call.target = f"allow_list:{audience}"

        def add(s: Session) -> auth_pb2.AllowedNetwork:
            current = netpolicy.list_cidrs(s, workspace_id, audience)
            if str(network) in current:
                raise AlreadyExists(f"cidr: {network} is already on this list")
            if len(current) >= _MAX_ENTRIES:
                raise FailedPrecondition(f"an allow-list holds at most {_MAX_ENTRIES} networks")
            _keep_caller_in(call, audience, [*current, str(network)])
            row = AllowedNetworkRow(
                workspace_id=workspace_id,
                audience=audience,
                cidr=str(network),
                note=note,
                created_by=call.user.username,
            )
            s.add(row)
            s.flush()
            record(s, call, details={"audience": audience, "cidr": str(network)})
            return _message(row)

        added = await self._hub.db.write(add)
        self._guard.changed()
        return added

    async def ListAllowedNetworks(
        self, request: auth_pb2.ListAllowedNetworksRequest, context: Context
    ) -> auth_pb2.ListAllowedNetworksResponse:
        call = current_call()
        audience = _audience(call, request.audience, required=False)
        workspace_id = call.workspace.id if call.workspace else None

        def listing(s: Session) -> list[auth_pb2.AllowedNetwork]:
            query = select(AllowedNetworkRow).where(netpolicy.scope_of(workspace_id))
            if audience is not None:
                query = query.where(AllowedNetworkRow.audience == audience)
            rows = s.scalars(query.order_by(AllowedNetworkRow.created_at)).all()
            return [_message(r) for r in rows]

        return auth_pb2.ListAllowedNetworksResponse(networks=await self._hub.db.read(listing))

    async def RemoveAllowedNetwork(
        self, request: auth_pb2.RemoveAllowedNetworkRequest, context: Context
    ) -> auth_pb2.RemoveAllowedNetworkResponse:
        call = current_call()
        entry_id = validation.required("id", request.id, "an allow-list entry id")
        call.target = f"allow_list_entry:{entry_id[:64]}"
        workspace_id = call.workspace.id if call.workspace else None

        def remove(s: Session) -> None:
            row = s.scalar(
                select(AllowedNetworkRow).where(
                    AllowedNetworkRow.id == entry_id, netpolicy.scope_of(workspace_id)
                )
            )
            if row is None:
                raise NotFound(f"id: no allow-list entry {entry_id!r} here")
            rest = [c for c in netpolicy.list_cidrs(s, workspace_id, row.audience) if c != row.cidr]
            _keep_caller_in(call, row.audience, rest)
            s.delete(row)
            record(s, call, details={"audience": row.audience, "cidr": row.cidr})

        await self._hub.db.write(remove)
        self._guard.changed()
        return auth_pb2.RemoveAllowedNetworkResponse()


def _audience(call: Call, value: int, *, required: bool) -> str | None:
    """The list a request names; agents' list is hub-wide, the others per workspace."""
    if value == auth_pb2.NETWORK_AUDIENCE_UNSPECIFIED and not required:
        return None
    audience: str | None = _AUDIENCES.get(value)  # type: ignore[call-overload]
    if call.workspace is None:
        if audience not in (None, netpolicy.AGENTS):
            raise InvalidArgument(
                "audience", "AGENTS without a workspace (people and API key lists need one)"
            )
        return netpolicy.AGENTS
    if audience not in (netpolicy.PEOPLE, netpolicy.API_KEYS):
        raise InvalidArgument(
            "audience", "PEOPLE or API_KEYS in a workspace (AGENTS: omit the workspace)"
        )
    return audience


def _keep_caller_in(call: Call, audience: str, cidrs: list[str]) -> None:
    """Refuse a change to the people list that would lock the caller out."""
    if audience != netpolicy.PEOPLE or call.user.kind != "user":
        return
    networks = tuple(netpolicy.parse_cidr("cidr", c) for c in cidrs)
    address = netpolicy.peer_address(call.peer)
    if not netpolicy.allows(networks, address):
        raise FailedPrecondition(
            f"this change would refuse your own address ({address or 'unknown'}): add a "
            "network that contains it first"
        )


def _message(row: AllowedNetworkRow) -> auth_pb2.AllowedNetwork:
    return auth_pb2.AllowedNetwork(
        id=row.id,
        audience=_NUMBERS[row.audience],
        cidr=row.cidr,
        note=row.note,
        workspace_id=row.workspace_id or "",
        created_by=row.created_by,
        created_at=convert.timestamp(row.created_at),
    )
