"""Finding the hub's agent port again after the hub moved it (a restart on a taken port)."""

from __future__ import annotations

import dataclasses
import logging

import grpc

from modelfleet.agent.node.enrol import DataDir, Enrolment
from modelfleet.fleet.endpoints import agent_target
from modelfleet.proto.v1 import auth_pb2, auth_pb2_grpc

log = logging.getLogger(__name__)

ASK_TIMEOUT_S = 10.0


async def announced_agent_port(folder: DataDir, hub: str) -> int:
    """The agent port the hub at `hub` (its main port) announces now; trusts only the hub CA.

    Raises grpc.aio.AioRpcError when the hub cannot be asked.
    """
    credentials = grpc.ssl_channel_credentials(root_certificates=folder.ca_pem())
    async with grpc.aio.secure_channel(hub, credentials) as channel:
        stub = auth_pb2_grpc.AuthStub(channel)
        info = await stub.GetHubInfo(auth_pb2.GetHubInfoRequest(), timeout=ASK_TIMEOUT_S)
    return int(info.agent_port)


def follow_agent_port(folder: DataDir, enrolment: Enrolment, port: int) -> Enrolment:
    """The enrolment after the hub announced `port`, saved when it changed.

    The target moves only when it is the one derived from the hub's address and the port it
    announced before; a target set by hand (a relay, a NAT rule) is left as it is.
    """
    if port == enrolment.agent_port or port == 0:
        return enrolment
    target = enrolment.agent_target
    announced = enrolment.agent_port
    derived = agent_target(enrolment.hub, announced) if announced else enrolment.hub
    if target == derived:
        target = agent_target(enrolment.hub, port)
        log.warning(
            "[Auth.GetHubInfo] the hub's agent port moved from %d to %d; reconnecting to %s",
            enrolment.agent_port,
            port,
            target,
        )
    else:
        log.warning(
            "[Auth.GetHubInfo] the hub's agent port moved from %d to %d; the agent target %s "
            "was set by hand and stays as it is",
            enrolment.agent_port,
            port,
            target,
        )
    moved = dataclasses.replace(enrolment, agent_target=target, agent_port=port)
    folder.save_identity(moved)
    return moved
