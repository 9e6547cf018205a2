"""The hub's gRPC server: TLS, the access interceptor, servicers, ready file, graceful stop."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import grpc
import orjson

from modelfleet.agent.hub import pki
from modelfleet.agent.hub.access.interceptor import AccessInterceptor
from modelfleet.agent.hub.alerts import AlertsRuntime, AlertsServicer, ChannelsServicer
from modelfleet.agent.hub.datadir import HubPaths, load_agent_port, save_agent_port
from modelfleet.agent.hub.deployments.policy import PromotionPolicy
from modelfleet.agent.hub.deployments.service import DeploymentsServicer
from modelfleet.agent.hub.fleet.runtime import FleetRuntime
from modelfleet.agent.hub.fleet.service import EnrollmentServicer, FleetServicer
from modelfleet.agent.hub.fleet.session import AgentSessionServicer
from modelfleet.agent.hub.monitoring.service import MonitoringServicer
from modelfleet.agent.hub.services.artifacts import ArtifactsServicer
from modelfleet.agent.hub.services.audit import AuditServicer
from modelfleet.agent.hub.services.auth import ApiKeysServicer, AuthServicer
from modelfleet.agent.hub.services.registry import RegistryServicer
from modelfleet.agent.hub.services.tracking import TrackingServicer
from modelfleet.agent.hub.services.users import UsersServicer
from modelfleet.agent.hub.services.workspaces import WorkspacesServicer
from modelfleet.agent.hub.settings import HubSettings
from modelfleet.agent.hub.signin import SignInSecurity
from modelfleet.agent.hub.state import HubState
from modelfleet.paths import write_private_file
from modelfleet.proto.v1 import (
    alerts_pb2_grpc,
    artifacts_pb2_grpc,
    audit_pb2_grpc,
    auth_pb2_grpc,
    deployments_pb2_grpc,
    fleet_pb2_grpc,
    monitoring_pb2_grpc,
    registry_pb2_grpc,
    tracking_pb2_grpc,
    workspaces_pb2_grpc,
)

log = logging.getLogger(__name__)

GRACE_SECONDS = 5.0


# Agents ping every 20 s on their long-lived streams; allow it, with or without calls.
_KEEPALIVE = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
]


def build_server(
    hub: HubState, *, promotion_policy: PromotionPolicy | None = None
) -> grpc.aio.Server:
    """A server with every hub servicer behind the access interceptor (no port bound yet)."""
    if hub.fleet is None:
        hub.fleet = FleetRuntime(hub)
    fleet = hub.fleet
    if hub.alerts is None:
        hub.alerts = AlertsRuntime(hub)
    security = SignInSecurity(hub)
    server = grpc.aio.server(
        interceptors=[
            AccessInterceptor(
                hub.db, hub.authenticator, agents=fleet.directory, guards=security.guards
            )
        ],
        # Room for a model version's reference profile; artifact chunks are bounded lower.
        options=[
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", 16 << 20),
            *_KEEPALIVE,
        ],
    )
    auth_pb2_grpc.add_AuthServicer_to_server(AuthServicer(hub), server)
    auth_pb2_grpc.add_ApiKeysServicer_to_server(ApiKeysServicer(hub), server)
    workspaces_pb2_grpc.add_UsersServicer_to_server(UsersServicer(hub), server)
    workspaces_pb2_grpc.add_WorkspacesServicer_to_server(WorkspacesServicer(hub), server)
    audit_pb2_grpc.add_AuditServicer_to_server(AuditServicer(hub), server)
    artifacts_pb2_grpc.add_ArtifactsServicer_to_server(ArtifactsServicer(hub), server)
    registry_pb2_grpc.add_RegistryServicer_to_server(RegistryServicer(hub), server)
    fleet_pb2_grpc.add_FleetServicer_to_server(FleetServicer(fleet), server)
    fleet_pb2_grpc.add_EnrollmentServicer_to_server(EnrollmentServicer(fleet), server)
    fleet_pb2_grpc.add_AgentSessionServicer_to_server(AgentSessionServicer(fleet), server)
    deployments_pb2_grpc.add_DeploymentsServicer_to_server(
        DeploymentsServicer(fleet, promotion_policy), server
    )
    monitoring_pb2_grpc.add_MonitoringServicer_to_server(MonitoringServicer(hub), server)
    tracking_pb2_grpc.add_TrackingServicer_to_server(TrackingServicer(hub), server)
    alerts_pb2_grpc.add_AlertsServicer_to_server(AlertsServicer(hub.db), server)
    alerts_pb2_grpc.add_ChannelsServicer_to_server(ChannelsServicer(hub.db, hub.alerts), server)
    security.add_to(server)
    return server


def server_credentials(paths: HubPaths) -> grpc.ServerCredentials:
    # The chain includes the CA so a client can pin its fingerprint from the handshake.
    chain = paths.server_cert.read_bytes() + paths.ca_cert.read_bytes()
    return grpc.ssl_server_credentials([(paths.server_key.read_bytes(), chain)])


def agent_server_credentials(paths: HubPaths) -> grpc.ServerCredentials:
    """The agent port: a client certificate issued by the hub CA is required (mutual TLS).

    A separate port because gRPC servers cannot ask for an optional client certificate.
    """
    chain = paths.server_cert.read_bytes() + paths.ca_cert.read_bytes()
    return grpc.ssl_server_credentials(
        [(paths.server_key.read_bytes(), chain)],
        root_certificates=paths.ca_cert.read_bytes(),
        require_client_auth=True,
    )


async def serve(
    data_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ready_file: Path | None = None,
    settings: HubSettings | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully."""
    paths = HubPaths(data_dir)
    pki.ensure_tls(paths, renew=True)
    hub = HubState.open(paths, settings or HubSettings.from_env())
    server = build_server(hub)
    address = _address(host, port)
    bound = _bind(server, address, server_credentials(paths))
    if bound == 0:
        raise OSError(f"cannot listen on {address}")
    agent_port = _bind_agent_port(server, paths, host, hub.settings.agent_port)
    assert hub.fleet is not None
    hub.fleet.agent_port = agent_port
    hub.fleet.hub_hint = _address(host, bound)
    await server.start()
    assert hub.alerts is not None
    hub.alerts.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "hub listening on %s:%d, agents on port %d (CA %s)",
        host,
        bound,
        agent_port,
        hub.ca_fingerprint,
    )
    if ready_file is not None:
        doc = {
            "port": bound,
            "agent_port": agent_port,
            "ca_fingerprint": hub.ca_fingerprint,
            "pid": os.getpid(),
        }
        write_private_file(ready_file, orjson.dumps(doc))
    try:
        await stop.wait()
    finally:
        log.info("stopping (grace %.0f s)", GRACE_SECONDS)
        await server.stop(GRACE_SECONDS)
        await hub.alerts.close()
        await hub.fleet.close()
        hub.db.dispose()
        if ready_file is not None:
            await asyncio.to_thread(ready_file.unlink, missing_ok=True)


def _bind_agent_port(server: grpc.aio.Server, paths: HubPaths, host: str, configured: int) -> int:
    """Bind the agent port: the configured one (MODELFLEET_HUB_AGENT_PORT), else the one the
    last start bound, so enrolled agents find the hub where they left it.

    A saved port that is taken meanwhile gives way to an OS-chosen one; agents then learn
    it from the hub's main port (Auth.GetHubInfo). The port bound is saved for next time.
    """
    credentials = agent_server_credentials(paths)
    wanted = configured or load_agent_port(paths)
    port = _bind(server, _address(host, wanted), credentials)
    if port == 0 and configured:
        raise OSError(f"cannot listen on {_address(host, configured)} (agent port)")
    if port == 0:
        port = _bind(server, _address(host, 0), credentials)
        if port == 0:
            raise OSError(f"cannot listen on {_address(host, 0)} (agent port)")
        log.warning(
            "agent port %d (saved by the last start) is in use; agents now use port %d and "
            "find it through the hub's main port",
            wanted,
            port,
        )
    if port != load_agent_port(paths):
        save_agent_port(paths, port)
    return port


def _bind(server: grpc.aio.Server, address: str, credentials: grpc.ServerCredentials) -> int:
    """The port bound, or 0 when the address is taken (grpc raises or returns 0 by version)."""
    try:
        return server.add_secure_port(address, credentials)
    except RuntimeError:
        return 0


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
