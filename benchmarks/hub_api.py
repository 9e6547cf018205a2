"""Hub control-plane latency: simulated users mixing reads and writes, per RPC class.

Starts a real hub (`modelfleet hub init` + `hub serve`) on PostgreSQL and on SQLite, creates
the users through the client library, then drives them from a few processes of grpc.aio
clients (so the load generator does not starve the hub of one core's worth of Python).
Each user signs in once, then loops: think (exponential, mean --think-ms), then one call:
75 % reads (WhoAmI, ListWorkspaces, GetWorkspace, ListMembers, ListApiKeys), 20 % writes
(CreateApiKey / RevokeApiKey, both audited), 5 % token refresh. The load generator speaks
the wire protocol directly: it measures the hub, not the client library's conversions.

Prints one JSON line: p50/p95/p99 in ms per class (login, auth, read, write) and backend.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from modelfleet.client import ClientSettings, HubClient, Role
from modelfleet.proto.v1 import auth_pb2, auth_pb2_grpc, workspaces_pb2, workspaces_pb2_grpc

WORKSPACE = "bench"
PASSWORD = "bench-password-4-all"
PG_ADMIN_URL = os.environ.get("MODELFLEET_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database for this run, dropped afterwards."""
    import psycopg

    name = f"bench_hub_{os.getpid()}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def running_hub(db_url: str | None) -> Iterator[tuple[str, str]]:
    """`hub init` + `hub serve` on port 0; yields (address, CA fingerprint)."""
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp:
        data_dir, ready = Path(tmp) / "hub", Path(tmp) / "ready.json"
        password_file = Path(tmp) / "admin-password"
        password_file.write_text(PASSWORD)
        cli = [
            sys.executable,
            "-c",
            "import sys; from modelfleet.cli import main; sys.exit(main())",
        ]
        init = [
            *cli,
            "hub",
            "init",
            "--data-dir",
            str(data_dir),
            "--admin-password-file",
            str(password_file),
        ]
        subprocess.run(
            [*init, *(["--db", db_url] if db_url else [])], check=True, capture_output=True
        )
        serve = [
            *cli,
            "hub",
            "serve",
            "--data-dir",
            str(data_dir),
            "--port",
            "0",
            "--ready-file",
            str(ready),
        ]
        proc = subprocess.Popen(serve, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while not ready.exists() or not ready.read_text().strip():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"hub did not start: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
                time.sleep(0.05)
            info = json.loads(ready.read_text())
            yield f"127.0.0.1:{info['port']}", info["ca_fingerprint"]
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def create_users(address: str, fingerprint: str, count: int) -> None:
    settings = ClientSettings(hub=address, hub_ca=fingerprint, timeout=30)
    with HubClient.connect(settings) as admin:
        admin.login("admin", PASSWORD)
        admin.create_workspace(WORKSPACE)
        for i in range(count):
            admin.create_user(f"user{i:03d}", password=PASSWORD)
            admin.set_member(f"user{i:03d}", Role.DEVELOPER, workspace=WORKSPACE)


async def simulate_user(
    channel: grpc.aio.Channel,
    index: int,
    signed_in: asyncio.Queue[int],
    go: asyncio.Event,
    stop_at: list[float],
    think: float,
    out: dict[str, list[float]],
) -> int:
    auth = auth_pb2_grpc.AuthStub(channel)
    keys = auth_pb2_grpc.ApiKeysStub(channel)
    ws = workspaces_pb2_grpc.WorkspacesStub(channel)
    rng = random.Random(index)
    errors = 0

    async def timed(kind: str, call: Any) -> Any:
        nonlocal errors
        started = time.perf_counter()
        try:
            result = await call
        except grpc.aio.AioRpcError as exc:
            errors += 1
            out.setdefault(f"error:{kind}:{exc.code().name}", []).append(0.0)
            return None
        out[kind].append(time.perf_counter() - started)
        return result

    pair = await timed(
        "login",
        auth.Login(
            auth_pb2.LoginRequest(username=f"user{index:03d}", password=PASSWORD), timeout=180
        ),
    )
    signed_in.put_nowait(index)
    if pair is None:
        return errors + 1
    meta: tuple[tuple[str, str], ...] = ()
    own_keys: list[str] = []

    def set_tokens(p: auth_pb2.TokenPair) -> None:
        nonlocal meta, pair
        pair = p
        meta = (
            ("authorization", f"Bearer {p.access_token}"),
            ("x-modelfleet-workspace", WORKSPACE),
        )

    set_tokens(pair)
    await go.wait()  # every user of every process is signed in: the measured phase starts
    reads = (
        lambda: auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=meta, timeout=10),
        lambda: ws.ListWorkspaces(
            workspaces_pb2.ListWorkspacesRequest(), metadata=meta, timeout=10
        ),
        lambda: ws.GetWorkspace(workspaces_pb2.GetWorkspaceRequest(), metadata=meta, timeout=10),
        lambda: ws.ListMembers(workspaces_pb2.ListMembersRequest(), metadata=meta, timeout=10),
        lambda: keys.ListApiKeys(auth_pb2.ListApiKeysRequest(), metadata=meta, timeout=10),
    )
    while time.monotonic() < stop_at[0]:
        await asyncio.sleep(rng.expovariate(1 / think))
        roll = rng.random()
        if roll < 0.75:
            await timed("read", rng.choice(reads)())
        elif roll < 0.95:
            if own_keys and rng.random() < 0.5:
                request = auth_pb2.RevokeApiKeyRequest(id=own_keys.pop())
                await timed("write", keys.RevokeApiKey(request, metadata=meta, timeout=10))
            else:
                request = auth_pb2.CreateApiKeyRequest(name=f"k{rng.getrandbits(40)}", role=1)
                created = await timed(
                    "write", keys.CreateApiKey(request, metadata=meta, timeout=10)
                )
                if created is not None:
                    own_keys.append(created.key.id)
        else:
            fresh = await timed(
                "auth",
                auth.Refresh(auth_pb2.RefreshRequest(refresh_token=pair.refresh_token), timeout=10),
            )
            if fresh is not None:
                set_tokens(fresh)
    return errors


def worker(
    args: tuple[str, bytes, list[int], Any, float, float],
) -> tuple[dict[str, list[float]], int]:
    address, ca_pem, indexes, barrier, duration, think = args

    async def run() -> tuple[dict[str, list[float]], int]:
        out: dict[str, list[float]] = {"login": [], "auth": [], "read": [], "write": []}
        credentials = grpc.ssl_channel_credentials(root_certificates=ca_pem)
        go, stop_at, signed_in = asyncio.Event(), [0.0], asyncio.Queue[int]()
        async with grpc.aio.secure_channel(address, credentials) as channel:
            users = [
                asyncio.create_task(simulate_user(channel, i, signed_in, go, stop_at, think, out))
                for i in indexes
            ]
            # Sign-ins (argon2, slow on purpose) come first and are reported apart; then
            # every process starts the measured phase together.
            for _ in users:
                await signed_in.get()
            await asyncio.to_thread(barrier.wait)
            stop_at[0] = time.monotonic() + duration
            go.set()
            errors = await asyncio.gather(*users)
        return out, sum(errors)

    return asyncio.run(run())


def summarise(samples: list[float]) -> dict[str, float | int]:
    if not samples:
        return {"count": 0}
    ms = np.asarray(samples) * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return {
        "count": len(samples),
        "p50_ms": round(p50, 2),
        "p95_ms": round(p95, 2),
        "p99_ms": round(p99, 2),
    }


def measure(db_url: str | None, opts: argparse.Namespace) -> dict[str, Any]:
    with running_hub(db_url) as (address, fingerprint):
        create_users(address, fingerprint, opts.users)
        from modelfleet.client import root_certificates

        ca_pem = root_certificates(address, fingerprint)
        groups = [list(range(opts.users))[p :: opts.processes] for p in range(opts.processes)]
        ctx = multiprocessing.get_context("spawn")
        with ctx.Manager() as manager, ctx.Pool(opts.processes) as pool:
            barrier = manager.Barrier(opts.processes)
            think = opts.think_ms / 1000
            jobs = [(address, ca_pem, g, barrier, opts.duration, think) for g in groups]
            results = pool.map(worker, jobs)
    merged: dict[str, list[float]] = {k: [] for k in ("login", "auth", "read", "write")}
    failures: dict[str, int] = {}
    for out, _ in results:
        for kind, values in out.items():
            if kind.startswith("error:"):
                key = kind.removeprefix("error:")
                failures[key] = failures.get(key, 0) + len(values)
            else:
                merged[kind].extend(values)
    calls = sum(len(v) for k, v in merged.items() if k != "login")
    return {
        **{kind: summarise(values) for kind, values in merged.items()},
        "control_plane": summarise([x for k in ("auth", "read", "write") for x in merged[k]]),
        "calls_per_s": round(calls / opts.duration, 1),
        "errors": sum(e for _, e in results),
        "errors_by_class": failures,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load per backend")
    parser.add_argument(
        "--think-ms", type=float, default=1000.0, help="mean pause between a user's calls"
    )
    parser.add_argument("--backends", default="postgresql,sqlite")
    opts = parser.parse_args()
    report: dict[str, Any] = {
        "benchmark": "hub_api",
        "users": opts.users,
        "processes": opts.processes,
        "duration_s": opts.duration,
        "think_ms": opts.think_ms,
        "cpu_count": os.cpu_count(),
    }
    for backend in opts.backends.split(","):
        if backend == "postgresql":
            with postgres_database() as url:
                report[backend] = measure(url, opts)
        elif backend == "sqlite":
            report[backend] = measure(None, opts)
        else:
            parser.error(f"--backends: expected postgresql and/or sqlite, got {backend!r}")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
