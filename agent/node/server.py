"""The agent process: REST and gRPC on one event loop, model loading, ready file, drain."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from typing import Any, Protocol

from prometheus_client import ProcessCollector
from prometheus_client.registry import CollectorRegistry

from modelfleet.agent.node.access import (
    ANY_HOST,
    HostCheck,
    InferenceAccess,
    is_loopback,
)
from modelfleet.agent.node.config import AgentConfig, load_or_create_token, write_atomically
from modelfleet.agent.node.cpu import available_cpus
from modelfleet.agent.node.inference import InferenceService
from modelfleet.agent.node.metrics import MetricsRegistry
from modelfleet.agent.node.models import ModelManager
from modelfleet.agent.node.monitor import FeedbackServicer, Monitors
from modelfleet.agent.node.rest.handlers import RestApi
from modelfleet.agent.node.rest.protocol import HttpProtocol, HttpServerState
from modelfleet.agent.node.rpc.control import ControlServicer, MetricsServicer
from modelfleet.agent.node.rpc.http2 import GrpcServer
from modelfleet.agent.node.rpc.inference import InferenceServicer
from modelfleet.agent.node.rpc.interceptors import AccessInterceptor
from modelfleet.agent.node.workers import ModelWorkers
from modelfleet.oip import dumps
from modelfleet.proto.inference import grpc_predict_v2_pb2_grpc as inference_grpc
from modelfleet.proto.v1 import agent_pb2_grpc as agent_grpc

log = logging.getLogger(__name__)
_DRAIN_POLL_S = 0.02


class AgentExtension(Protocol):
    """Something that runs inside the agent (the fleet session): started before the agent
    reports ready, stopped first when it drains."""

    async def start(self, agent: Agent) -> dict[str, Any]:
        """Returns extra fields for the ready file."""
        ...

    async def stop(self) -> None: ...


class Agent:
    """Serves the models of one repository (and/or an extension's) until told to stop."""

    def __init__(self, config: AgentConfig, extension: AgentExtension | None = None) -> None:
        self.config = config
        self.extension = extension
        self.http_port = 0
        self.grpc_port = 0
        self._ready = False
        self._stop = asyncio.Event()
        self._stopping = asyncio.Event()
        workers = config.workers or available_cpus()
        self._pool = ModelWorkers(workers)
        self.metrics = MetricsRegistry()
        self.manager = ModelManager(
            config.models_dir, self._pool, workers, config.batching, self.metrics
        )
        self.service = InferenceService(self.manager, config.limits, self.metrics)
        self.monitors = Monitors() if config.monitoring else None
        if self.monitors is not None:
            self.monitors.attach(self.service)
        self._registry = CollectorRegistry(auto_describe=True)
        self._registry.register(self.metrics)
        ProcessCollector(registry=self._registry)
        self._token = load_or_create_token(config.control_token_file)
        #: inference keys; a fleet extension adds the keys of its deployments
        self.access = InferenceAccess(config.inference_keys)
        api = RestApi(
            self.service,
            self._registry,
            self.is_ready,
            self.monitors,
            self.access,
            _host_check(config),
            self._token,
        )
        self.http_state = HttpServerState(api, config.limits.max_body_bytes)
        self._http: asyncio.Server | None = None
        self._grpc: GrpcServer | None = None
        log.info("model worker pool: %d threads", workers)

    def is_ready(self) -> bool:
        return self._ready

    async def start(self) -> None:
        """Bind both ports, load and warm every model, then write the ready file."""
        config = self.config
        loop = asyncio.get_running_loop()
        tls = config.tls
        self._http = await loop.create_server(
            lambda: HttpProtocol(self.http_state),
            config.host,
            config.http_port,
            reuse_address=True,
            backlog=2048,
            ssl=tls.ssl_context() if tls is not None else None,
        )
        self.http_port = self._http.sockets[0].getsockname()[1]
        grpc_server = self._grpc = GrpcServer(
            [AccessInterceptor(self._token, self.access)], config.limits.max_body_bytes
        )
        grpc_server.add_servicer(
            inference_grpc.add_GRPCInferenceServiceServicer_to_server,
            InferenceServicer(self.service, self.is_ready),
        )
        grpc_server.add_servicer(
            agent_grpc.add_AgentControlServicer_to_server, ControlServicer(self.manager)
        )
        grpc_server.add_servicer(
            agent_grpc.add_MetricsServicer_to_server,
            MetricsServicer(self.metrics, self._stopping, self.monitors),
        )
        if self.monitors is not None:
            grpc_server.add_servicer(
                agent_grpc.add_FeedbackServicer_to_server,
                FeedbackServicer(self.monitors, self.manager),
            )
        self.grpc_port = await self._grpc.start(
            config.host, config.grpc_port, tls.ssl_context() if tls is not None else None
        )
        scheme = "https" if tls is not None else "http"
        log.info(
            "listening: %s %s:%d, grpc%s %s:%d",
            scheme,
            config.host,
            self.http_port,
            "+tls" if tls is not None else "",
            config.host,
            self.grpc_port,
        )
        self._warn_if_open()
        await self.manager.load_repository()
        extra = await self.extension.start(self) if self.extension is not None else {}
        self._ready = True
        if config.ready_file is not None:
            ready = {"http_port": self.http_port, "grpc_port": self.grpc_port, "pid": os.getpid()}
            write_atomically(config.ready_file, dumps({**ready, **extra}))
        log.info("ready: %d model version(s) serving", len(self.manager.statuses()))

    def _warn_if_open(self) -> None:
        if is_loopback(self.config.host) or self.access.protects_all:
            return
        who = (
            "deployments the hub sends without inference keys"
            if self.extension is not None
            else "every model"
        )
        log.warning(
            "SERVING WITHOUT AUTHENTICATION on non-loopback address %s (http %d, grpc %d): "
            "anyone who can reach these ports can call %s. Protect them with "
            "--inference-keys FILE (create keys with `modelfleet-agent keys create`)%s.",
            self.config.host,
            self.http_port,
            self.grpc_port,
            who,
            "" if self.config.tls is not None else " and --tls-cert/--tls-key",
        )

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop)

    def request_stop(self) -> None:
        # Flip readiness here, not when `serve` resumes: probes must see 503 at once.
        self._ready = False
        self.service.draining = True
        self.http_state.closing = True
        self._stop.set()

    async def serve(self, on_ready: Callable[[Agent], None] | None = None) -> None:
        """Start, serve until SIGTERM/SIGINT (or `request_stop`), then drain."""
        self.install_signal_handlers()
        try:
            await self.start()
            if on_ready is not None:
                on_ready(self)
            await self._stop.wait()
        finally:
            await self.drain()

    async def drain(self) -> None:
        """Stop accepting, finish in-flight requests up to the drain timeout, close."""
        log.info("draining (up to %.0f s)", self.config.drain_timeout_s)
        self._ready = False
        if self.extension is not None:
            await self.extension.stop()
        self.service.draining = True
        self._stopping.set()
        self.http_state.closing = True
        if self._http is not None:
            self._http.close()
        # GOAWAY at once: gRPC clients stop sending here while the calls in flight finish.
        grpc_stop = (
            asyncio.ensure_future(self._grpc.stop(self.config.drain_timeout_s))
            if self._grpc
            else None
        )
        deadline = asyncio.get_running_loop().time() + self.config.drain_timeout_s
        while self.service.in_flight() and asyncio.get_running_loop().time() < deadline:
            for connection in list(self.http_state.connections):
                connection.close_if_idle()
            await asyncio.sleep(_DRAIN_POLL_S)
        for connection in list(self.http_state.connections):
            connection.close_if_idle()
        if grpc_stop is not None:
            await grpc_stop
        if self.service.in_flight():
            log.warning("drain timeout: %d request(s) still in flight", self.service.in_flight())
        self._pool.shutdown()
        if self.monitors is not None:
            self.monitors.close()
        log.info("stopped")


def _host_check(config: AgentConfig) -> HostCheck | None:
    allowed = config.allowed_hosts
    if allowed is None:
        return HostCheck(config.host, ()) if is_loopback(config.host) else None
    return None if ANY_HOST in allowed else HostCheck(config.host, allowed)
