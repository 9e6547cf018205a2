"""The agent's one outbound stream to the hub: hello, desired state in, heartbeats, reports and
the outbox out, acknowledgements in; reconnects with jittered exponential back-off."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from modelfleet._version import __version__
from modelfleet.agent.node.enrol import (
    DataDir,
    Enrolment,
    hostname,
    renew_certificate,
    seconds_until_renewal,
)
from modelfleet.agent.node.hubsession._channel import mtls_channel
from modelfleet.agent.node.hubsession._discover import announced_agent_port, follow_agent_port
from modelfleet.agent.node.hubsession._facts import HostProbe
from modelfleet.agent.node.reconcile import Reconciler, desired_from_pb
from modelfleet.agent.node.state import Outbox, StateStore, batch_of
from modelfleet.proto.v1 import artifacts_pb2, artifacts_pb2_grpc, fleet_pb2, fleet_pb2_grpc

log = logging.getLogger(__name__)

BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 30.0
OUTBOX_BATCH = 500
#: events sent but not yet acknowledged; the sender waits for acks beyond this
OUTBOX_WINDOW = 5_000
REPORT_DEBOUNCE_S = 0.05
#: failed connections to the agent port in a row before the hub's main port is asked for it
ASK_HUB_AFTER = 3


class _Renewed(Exception):
    """The certificate was renewed: reconnect at once with the new one."""


class HubSession:
    """Keeps the stream up while the agent runs; every piece of it is restartable."""

    def __init__(
        self,
        folder: DataDir,
        enrolment: Enrolment,
        store: StateStore,
        outbox: Outbox,
        reconciler: Reconciler,
        endpoints: Callable[[], tuple[str, str]],
        heartbeat_s: float = 5.0,
    ) -> None:
        self.folder = folder
        self.enrolment = enrolment
        self.store = store
        self.outbox = outbox
        self.reconciler = reconciler
        self.endpoints = endpoints
        self.heartbeat_s = heartbeat_s
        self.connected = asyncio.Event()
        self._probe = HostProbe()
        self._acked = 0
        self._ack_event = asyncio.Event()
        self._report_event = asyncio.Event()
        reconciler.on_report = self._report_event.set

    async def run(self) -> None:
        """Connect, and reconnect after any failure, until cancelled."""
        delay = BACKOFF_MIN_S
        unreachable = 0
        while True:
            try:
                await self._connect_once()
            except _Renewed:
                continue
            except grpc.aio.AioRpcError as exc:
                log.warning(
                    "[AgentSession.Connect] %s: %s",
                    exc.code().name,
                    exc.details() or "stream ended",
                )
                if exc.code() == grpc.StatusCode.UNAVAILABLE and not self.connected.is_set():
                    unreachable += 1
            except (OSError, ValueError) as exc:
                log.warning("[AgentSession.Connect] cannot connect: %s", exc)
            if self.connected.is_set():
                delay = BACKOFF_MIN_S
                unreachable = 0
            elif unreachable >= ASK_HUB_AFTER:
                unreachable = 0
                await self._ask_for_agent_port()
            self.connected.clear()
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter
            delay = min(BACKOFF_MAX_S, delay * 2)

    async def _ask_for_agent_port(self) -> None:
        """The hub may have moved its agent port (restarted with the old one taken): ask its
        main port, which the agent joined through, for the current one."""
        try:
            port = await announced_agent_port(self.folder, self.enrolment.hub)
        except grpc.aio.AioRpcError as exc:
            log.warning("[Auth.GetHubInfo] %s: %s", exc.code().name, exc.details())
            return
        self.enrolment = await asyncio.to_thread(
            follow_agent_port, self.folder, self.enrolment, port
        )

    async def _connect_once(self) -> None:
        channel = mtls_channel(self.folder, self.enrolment.agent_target)
        try:
            if seconds_until_renewal(self.folder) <= 0:
                await renew_certificate(self.folder, channel)
                raise _Renewed
            # No request iterator: messages are written on the call (grpc.aio's stubs miss it).
            call = fleet_pb2_grpc.AgentSessionStub(channel).Connect()  # type: ignore[call-arg]
            try:
                await self._converse(channel, call)
            finally:
                call.cancel()
        finally:
            await channel.close(None)

    async def _converse(
        self,
        channel: grpc.aio.Channel,
        call: grpc.aio.StreamStreamCall,  # type: ignore[type-arg]
    ) -> None:
        """Run every part of one connection; the first to end (or fail) ends them all."""
        outgoing: asyncio.Queue[fleet_pb2.AgentMessage] = asyncio.Queue()
        http_url, grpc_target = self.endpoints()
        hello = fleet_pb2.Hello(
            agent_version=__version__,
            hostname=hostname(),
            http_url=http_url,
            grpc_target=grpc_target,
            desired_revision=self.reconciler.revision,
        )
        await call.write(fleet_pb2.AgentMessage(hello=hello))
        tasks = [
            asyncio.create_task(self._receive(call)),
            asyncio.create_task(self._writer(call, outgoing)),
            asyncio.create_task(self._heartbeats(outgoing)),
            asyncio.create_task(self._reports(outgoing)),
            asyncio.create_task(self._outbox_pump(outgoing)),
            asyncio.create_task(self._renewal(channel)),
        ]
        self.reconciler.source = _downloader(channel)
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.reconciler.source = None
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            error = task.exception()
            if error is not None:
                raise error

    async def _receive(self, call: grpc.aio.StreamStreamCall) -> None:  # type: ignore[type-arg]
        async for message in call:
            kind = message.WhichOneof("body")
            if kind == "desired":
                desired = message.desired
                await asyncio.to_thread(
                    self.store.save_desired, desired.revision, desired.SerializeToString()
                )
                self.reconciler.submit(desired_from_pb(desired))
                if not self.connected.is_set():
                    log.info(
                        "[AgentSession.Connect] connected; desired revision %d", desired.revision
                    )
                self.connected.set()
            elif kind == "ack":
                committed = message.ack.committed_seq
                await asyncio.to_thread(self.store.acknowledge, committed)
                self._acked = max(self._acked, committed)
                self._ack_event.set()

    async def _writer(
        self,
        call: grpc.aio.StreamStreamCall,  # type: ignore[type-arg]
        outgoing: asyncio.Queue[fleet_pb2.AgentMessage],
    ) -> None:
        # gRPC allows one write at a time on a stream; every sender goes through this queue.
        while True:
            await call.write(await outgoing.get())

    async def _heartbeats(self, outgoing: asyncio.Queue[fleet_pb2.AgentMessage]) -> None:
        while True:
            outgoing.put_nowait(fleet_pb2.AgentMessage(heartbeat=await self.heartbeat()))
            await asyncio.sleep(self.heartbeat_s)

    async def heartbeat(self) -> fleet_pb2.Heartbeat:
        facts = await asyncio.to_thread(self._probe.facts)
        pending = await asyncio.to_thread(self.store.pending_count)
        dropped = await asyncio.to_thread(self.store.rollups_dropped)
        loaded = self._loaded()
        now = Timestamp()
        now.GetCurrentTime()
        return fleet_pb2.Heartbeat(
            time=now,
            cpu_percent=facts.cpu_percent,
            memory_rss_bytes=facts.memory_rss_bytes,
            memory_total_bytes=facts.memory_total_bytes,
            cpu_count=facts.cpu_count,
            os=facts.os,
            loaded=loaded,
            health="degraded" if any(v.state == "failed" for v in loaded) else "ok",
            outbox_pending=pending,
            outbox_dropped=dropped,
        )

    def _loaded(self) -> list[fleet_pb2.LoadedVersion]:
        return [
            fleet_pb2.LoadedVersion(
                deployment=s.deployment,
                model_name=s.model_name,
                model_version=s.model_version,
                state=s.state,
                reason=s.reason,
                traffic_percent=s.traffic_percent,
            )
            for s in self.reconciler.statuses()
        ]

    async def _reports(self, outgoing: asyncio.Queue[fleet_pb2.AgentMessage]) -> None:
        self._report_event.set()
        while True:
            await self._report_event.wait()
            await asyncio.sleep(REPORT_DEBOUNCE_S)
            self._report_event.clear()
            report = fleet_pb2.DeploymentReport(
                desired_revision=self.reconciler.revision, versions=self._loaded()
            )
            outgoing.put_nowait(fleet_pb2.AgentMessage(report=report))

    async def _outbox_pump(self, outgoing: asyncio.Queue[fleet_pb2.AgentMessage]) -> None:
        # Everything unacknowledged is sent again on each connection; the hub dedups by seq.
        sent = 0
        while True:
            if sent - self._acked >= OUTBOX_WINDOW:
                self._ack_event.clear()
                await self._ack_event.wait()
                continue
            self.outbox.changed.clear()
            events = await asyncio.to_thread(
                self.store.pending, max(sent, self._acked), OUTBOX_BATCH
            )
            if not events:
                await self.outbox.changed.wait()
                continue
            oldest = await asyncio.to_thread(self.store.oldest_pending)
            outgoing.put_nowait(fleet_pb2.AgentMessage(outbox=batch_of(events, oldest)))
            sent = events[-1].seq

    async def _renewal(self, channel: grpc.aio.Channel) -> None:
        await asyncio.sleep(max(0.0, seconds_until_renewal(self.folder)))
        await renew_certificate(self.folder, channel)
        raise _Renewed


def _downloader(channel: grpc.aio.Channel) -> Callable[[str, int], AsyncIterator[bytes]]:
    stub = artifacts_pb2_grpc.ArtifactsStub(channel)

    async def download(sha256: str, offset: int) -> AsyncIterator[bytes]:
        position = offset
        async for chunk in stub.Download(
            artifacts_pb2.DownloadRequest(sha256=sha256, offset=offset)
        ):
            if chunk.offset != position:
                raise ValueError(f"download of {sha256[:12]} skipped to offset {chunk.offset}")
            position += len(chunk.data)
            yield chunk.data

    return download
