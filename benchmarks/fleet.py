"""Fleet on the hub: CPU of one hub holding N agents with heartbeats, and outbox ingest rate.

Starts a real hub (`modelfleet hub init` + `hub serve`, SQLite or PostgreSQL), enrols N
agents through join tokens (real CSRs, real certificates), then holds N mutual-TLS
AgentSession streams from this process (grpc.aio; one channel per agent) sending a
Heartbeat every --interval seconds. The hub process's CPU time (/proc/<pid>/stat) is
measured over --seconds with all agents connected, and over the same time idle (no agent
connected) in the same run for comparison. Then one agent sends outbox batches (metric
roll-ups, then audit events, each batch waiting for its ack) to measure ingest events/s.

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google.protobuf.timestamp_pb2 import Timestamp
from procstat import cpu_seconds

from modelfleet.proto.v1 import auth_pb2, auth_pb2_grpc, fleet_pb2, fleet_pb2_grpc

PASSWORD = "bench-password-4-all"
PG_ADMIN_URL = os.environ.get("MODELFLEET_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
CLI = [sys.executable, "-c", "import sys; from modelfleet.cli import main; sys.exit(main())"]


@contextlib.contextmanager
def database(backend: str) -> Iterator[str | None]:
    if backend == "sqlite":
        yield None
        return
    import psycopg

    name = f"bench_fleet_{os.getpid()}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


@contextlib.contextmanager
def hub_process(db_url: str | None) -> Iterator[dict[str, object]]:
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        data_dir, ready = Path(tmp) / "hub", Path(tmp) / "ready.json"
        secret = Path(tmp) / "admin-password"
        secret.write_text(PASSWORD)
        init = [
            *CLI,
            "hub",
            "init",
            "--data-dir",
            str(data_dir),
            "--admin-password-file",
            str(secret),
        ]
        subprocess.run(
            [*init, *(["--db", db_url] if db_url else [])], check=True, capture_output=True
        )
        serve = [*CLI, "hub", "serve", "--data-dir", str(data_dir), "--port", "0",
                 "--ready-file", str(ready)]  # fmt: skip
        proc = subprocess.Popen(serve, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while not ready.exists() or not ready.read_text().strip():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("hub did not start")
                time.sleep(0.05)
            info = json.loads(ready.read_text())
            info["ca_pem"] = (data_dir / "tls" / "ca.pem").read_bytes()
            yield info
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def enrol(address: str, ca_pem: bytes, count: int) -> list[tuple[bytes, bytes, int]]:
    """(key PEM, certificate PEM, agent port) for `count` new agents."""
    creds = grpc.ssl_channel_credentials(ca_pem)
    with grpc.secure_channel(address, creds) as channel:
        token = (
            auth_pb2_grpc.AuthStub(channel)
            .Login(auth_pb2.LoginRequest(username="admin", password=PASSWORD))
            .access_token
        )
        md = [("authorization", f"Bearer {token}"), ("x-modelfleet-workspace", "default")]
        fleet = fleet_pb2_grpc.FleetStub(channel)
        enrolment = fleet_pb2_grpc.EnrollmentStub(channel)
        out = []
        for i in range(count):
            join_token = fleet.CreateJoinToken(
                fleet_pb2.CreateJoinTokenRequest(
                    environment="production", labels={"rack": str(i % 8)}
                ),
                metadata=md,
            ).token
            key = ec.generate_private_key(ec.SECP256R1())
            csr = (
                x509.CertificateSigningRequestBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"a{i}")]))
                .sign(key, hashes.SHA256())
            )
            joined = enrolment.Join(
                fleet_pb2.JoinRequest(
                    token=join_token,
                    csr_pem=csr.public_bytes(serialization.Encoding.PEM).decode(),
                    hostname=f"sim-{i:03d}",
                )
            )
            key_pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            out.append((key_pem, joined.certificate_pem.encode(), joined.agent_port))
        return out


class SimAgent:
    """One agent's stream: Hello, then a Heartbeat every `interval` seconds."""

    def __init__(self, ca_pem: bytes, key_pem: bytes, cert_pem: bytes, port: int) -> None:
        creds = grpc.ssl_channel_credentials(ca_pem, key_pem, cert_pem)
        options = [("grpc.keepalive_time_ms", 20_000)]
        self.channel = grpc.aio.secure_channel(f"127.0.0.1:{port}", creds, options=options)
        self.outgoing: asyncio.Queue[fleet_pb2.AgentMessage | None] = asyncio.Queue()
        self.desired = asyncio.Event()
        self.acks: asyncio.Queue[int] = asyncio.Queue()

    async def requests(self):  # type: ignore[no-untyped-def]
        while (message := await self.outgoing.get()) is not None:
            yield message

    async def run(self) -> None:
        self.outgoing.put_nowait(fleet_pb2.AgentMessage(hello=fleet_pb2.Hello(hostname="sim")))
        stub = fleet_pb2_grpc.AgentSessionStub(self.channel)
        with contextlib.suppress(grpc.aio.AioRpcError, asyncio.CancelledError):
            async for message in stub.Connect(self.requests()):
                if message.WhichOneof("body") == "desired":
                    self.desired.set()
                else:
                    self.acks.put_nowait(message.ack.committed_seq)

    async def beat(self, interval: float, stop: asyncio.Event) -> None:
        await asyncio.sleep(random.uniform(0, interval))
        while not stop.is_set():
            beat = fleet_pb2.Heartbeat(
                cpu_percent=12.5, memory_rss_bytes=200 << 20, cpu_count=4, health="ok",
                loaded=[fleet_pb2.LoadedVersion(deployment="fraud", model_name="fraud",
                                                model_version=3, state="ready",
                                                traffic_percent=100)],
            )  # fmt: skip
            beat.time.GetCurrentTime()
            self.outgoing.put_nowait(fleet_pb2.AgentMessage(heartbeat=beat))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)


def _rollup(seq: int) -> fleet_pb2.OutboxEvent:
    start = Timestamp()
    start.FromDatetime(datetime.now(UTC))
    return fleet_pb2.OutboxEvent(
        seq=seq,
        rollup=fleet_pb2.MetricRollup(
            deployment="fraud", model_name="fraud", model_version=3, window_start=start,
            window_seconds=10, requests=1000, errors=2, latency_p50=1.2, latency_p95=3.4,
            latency_p99=5.6, latency_mean=1.5, batch_size_mean=4.0,
        ),
    )  # fmt: skip


def _audit(seq: int) -> fleet_pb2.OutboxEvent:
    return fleet_pb2.OutboxEvent(
        seq=seq,
        audit=fleet_pb2.AgentAuditEvent(
            action="Deployment.Loaded", target="deployment:fraud", details_json='{"version": 3}'
        ),
    )


async def ingest_rate(agent: SimAgent, first_seq: int, total: int, batch: int, make) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    seq = first_seq
    while seq < first_seq + total:
        events = [make(q) for q in range(seq, seq + batch)]
        agent.outgoing.put_nowait(
            fleet_pb2.AgentMessage(outbox=fleet_pb2.OutboxBatch(events=events))
        )
        seq += batch
        while await agent.acks.get() < seq - 1:
            pass
    return total / (time.perf_counter() - started)


async def measure(args: argparse.Namespace, info: dict[str, object]) -> dict[str, object]:
    pid = int(info["pid"])  # type: ignore[call-overload]
    ca_pem = info["ca_pem"]
    assert isinstance(ca_pem, bytes)
    identities = await asyncio.to_thread(enrol, f"127.0.0.1:{info['port']}", ca_pem, args.agents)
    # Idle baseline: the same hub with every agent enrolled but none connected.
    await asyncio.sleep(2)
    c0, t0 = cpu_seconds(pid), time.perf_counter()
    await asyncio.sleep(args.seconds)
    idle = (cpu_seconds(pid) - c0) / (time.perf_counter() - t0) * 100

    agents = [SimAgent(ca_pem, *ident) for ident in identities]
    streams = [asyncio.create_task(a.run()) for a in agents]
    connect_started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(a.desired.wait() for a in agents)), 120)
    connect_seconds = time.perf_counter() - connect_started
    stop = asyncio.Event()
    beats = [asyncio.create_task(a.beat(args.interval, stop)) for a in agents]
    await asyncio.sleep(args.interval * 2)  # warm-up: every agent has beaten at least once
    c0, t0 = cpu_seconds(pid), time.perf_counter()
    await asyncio.sleep(args.seconds)
    busy = (cpu_seconds(pid) - c0) / (time.perf_counter() - t0) * 100
    stop.set()
    await asyncio.gather(*beats)

    rollups = await ingest_rate(agents[0], 1, args.events, args.batch, _rollup)
    audits = await ingest_rate(agents[1], 1, args.events, args.batch, _audit)
    for agent in agents:
        agent.outgoing.put_nowait(None)
    for task in streams:
        task.cancel()
    await asyncio.gather(*streams, return_exceptions=True)
    for agent in agents:
        await agent.channel.close()
    return {
        "agents": args.agents,
        "heartbeat_interval_s": args.interval,
        "window_s": args.seconds,
        "hub_cpu_percent_of_one_core": round(busy, 2),
        "hub_cpu_percent_idle_same_run": round(idle, 2),
        "connect_all_s": round(connect_seconds, 2),
        "outbox_rollups_per_s": round(rollups),
        "outbox_audit_events_per_s": round(audits),
        "outbox_batch": args.batch,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=250)
    args = parser.parse_args()
    with database(args.backend) as db_url, hub_process(db_url) as info:
        result = asyncio.run(measure(args, info))
    print(json.dumps({"benchmark": "fleet", "backend": args.backend, **result}))


if __name__ == "__main__":
    main()
