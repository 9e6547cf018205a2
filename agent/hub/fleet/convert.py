"""Fleet rows to `modelfleet.v1` messages."""

from __future__ import annotations

import orjson

from modelfleet.agent.hub.db.fleet_models import Agent
from modelfleet.agent.hub.fleet.heartbeats import HeartbeatBook
from modelfleet.agent.hub.services.convert import timestamp
from modelfleet.proto.v1 import fleet_pb2


def agent_state(row: Agent, book: HeartbeatBook) -> str:
    if row.revoked_at is not None:
        return "revoked"
    return "online" if book.online(row.id, row.last_seen) else "offline"


def agent_info(row: Agent, book: HeartbeatBook) -> fleet_pb2.AgentInfo:
    beat = book.last_heartbeat(row.id)
    if beat is None and row.last_heartbeat:
        beat = fleet_pb2.Heartbeat.FromString(row.last_heartbeat)
    seen = book.last_seen(row.id)
    info = fleet_pb2.AgentInfo(
        id=row.id,
        workspace_id=row.workspace_id,
        environment=row.environment,
        labels=orjson.loads(row.labels_json),
        hostname=row.hostname,
        agent_version=row.agent_version,
        state=agent_state(row, book),
        certificate_expires_at=timestamp(row.certificate_expires_at),
        enrolled_at=timestamp(row.enrolled_at),
        http_url=row.http_url,
        grpc_target=row.grpc_target,
    )
    if seen is not None:
        info.last_seen.FromSeconds(int(seen))
    elif row.last_seen is not None:
        info.last_seen.FromDatetime(row.last_seen)
    if beat is not None:
        info.last_heartbeat.CopyFrom(beat)
    return info
