"""Experiment tracking: the SDK's cost in a training loop, delivery rate, and SearchRuns.

For PostgreSQL and SQLite, a real hub (`hub init` + `hub serve`, TLS) is started and:

1. SDK: one run logs `--points` metric points (`run.log_metric("loss", value, step=i)`)
   in a tight loop. Reported: microseconds per call in the loop, points per second from
   the first call until `run.end()` returned (everything stored and acknowledged by the
   hub), and GetMetricHistory of that one curve downsampled to 1,000 buckets (p50).
2. SearchRuns: `--runs` runs with 20 metrics and 10 params each are written straight into
   the tables in bulk (then VACUUM ANALYZE), and one query is repeated through the client:
   `metrics.m00 > 0.5 and params.p1 = 'v3'` ordered by `metrics.m01 DESC`, first page of
   100, with its total (`matching_runs`: counted on SQLite; on PostgreSQL the planner's
   estimate, as SearchRuns reports past ~1,000 matches, `matching_runs_estimated`).
   Reported: p50/p95 in ms, plus the second page.

Prints one JSON line. The machine is shared: compare figures within one run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hub_api import PASSWORD, WORKSPACE, postgres_database, running_hub

import modelfleet
from modelfleet.agent.hub.db import make_engine
from modelfleet.client import ClientSettings, HubClient, Role

N_METRICS, N_PARAMS = 20, 10
QUERY = "metrics.m00 > 0.5 and params.p1 = 'v3'"
ORDER = ["metrics.m01 DESC"]


def admin_client(address: str, fingerprint: str) -> tuple[HubClient, str]:
    """A signed-in admin client and a developer API key of the bench workspace."""
    admin = HubClient.connect(
        ClientSettings(hub=address, hub_ca=fingerprint, workspace=WORKSPACE, timeout=60)
    )
    admin.login("admin", PASSWORD)
    admin.create_workspace(WORKSPACE)
    key = admin.create_api_key("bench", Role.DEVELOPER, workspace=WORKSPACE)
    return admin, key.secret


def measure_sdk(address: str, fingerprint: str, api_key: str, points: int) -> dict[str, float]:
    modelfleet.connect(hub=address, api_key=api_key, workspace=WORKSPACE, hub_ca=fingerprint)
    policy = modelfleet.SenderPolicy(max_buffered=max(points, 1_000_000))
    run = modelfleet.start_run("sdk-bench", policy=policy)
    log = run.log_metric
    values = np.sin(np.arange(points) / 5000.0).tolist()
    started = time.perf_counter()
    for i in range(points):
        log("loss", values[i], step=i)
    looped = time.perf_counter()
    finished = run.end()
    durable = time.perf_counter()
    stored = finished.metrics["loss"].count
    assert stored == points, f"stored {stored} of {points}"
    client = modelfleet.connect(
        hub=address, api_key=api_key, workspace=WORKSPACE, hub_ca=fingerprint
    )
    history_ms = []
    for _ in range(10):
        t0 = time.perf_counter()
        history = client.get_metric_history(run.id, "loss", max_points=1000)
        history_ms.append((time.perf_counter() - t0) * 1e3)
    assert sum(b.count for b in history.buckets) == points
    return {
        "log_metric_us": round((looped - started) / points * 1e6, 3),
        "points_per_s_until_durable": round(points / (durable - started)),
        "seconds_until_durable": round(durable - started, 2),
        "history_1000_buckets_p50_ms": round(float(np.percentile(history_ms, 50)), 1),
    }


def _bulk(
    conn: Connection, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    if conn.dialect.name == "postgresql":
        driver: Any = conn.connection.driver_connection
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" * len(columns))
    conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def seed_runs(db_url: str, workspace_id: str, experiment_id: str, runs: int) -> float:
    """`runs` runs x 20 metric summaries x 10 params, in bulk; returns seconds taken."""
    started = time.perf_counter()
    rng = np.random.default_rng(7)
    ids = [uuid.uuid4().hex for _ in range(runs)]
    base = datetime(2026, 1, 1, tzinfo=UTC)
    sqlite = db_url.startswith("sqlite")

    def when(i: int) -> Any:
        value = base + timedelta(seconds=i)
        return value.replace(tzinfo=None) if sqlite else value

    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            if not sqlite:
                # Seeding only: skip the per-row foreign-key triggers (the ids are consistent).
                conn.execute(text("SET LOCAL session_replication_role = replica"))
            # Integer run keys continue after the runs already there (the SDK run).
            first = int(conn.execute(text("SELECT coalesce(max(seq), 0) + 1 FROM runs")).scalar())
            seqs = range(first, first + runs)
            _bulk(conn, "runs",
                  ("id", "seq", "workspace_id", "experiment_id", "name", "status", "start_time",
                   "created_by"),
                  [(r, q, workspace_id, experiment_id, f"run-{i}", 2, when(i), "bench")
                   for i, (r, q) in enumerate(zip(ids, seqs, strict=True))])  # fmt: skip
            if not sqlite:
                conn.execute(text(
                    "SELECT setval(pg_get_serial_sequence('runs', 'seq'), max(seq)) FROM runs"
                ))  # fmt: skip
            values = rng.random((runs, N_METRICS))
            series = [
                (r, q, f"m{k:02d}", float(v), float(v), float(v), 1, 0, 0)
                for r, q, row in zip(ids, seqs, values.tolist(), strict=True)
                for k, v in enumerate(row)
            ]
            _bulk(conn, "metric_series",
                  ("run_id", "run_seq", "key", "last", "min", "max", "count", "last_step",
                   "last_timestamp_ms"), series)  # fmt: skip
            choices = rng.integers(0, 10, (runs, N_PARAMS)).tolist()
            params = [
                (r, q, f"p{k}", f"v{c}", None)
                for r, q, row in zip(ids, seqs, choices, strict=True)
                for k, c in enumerate(row)
            ]  # fmt: skip
            _bulk(conn, "run_params", ("run_id", "run_seq", "key", "value", "value_num"), params)
        # The state autovacuum keeps a live database in: statistics, visibility map; and
        # on PostgreSQL the bulk load's dirty pages written out, so that the checkpointer
        # does not flush them during the timed searches.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE" if sqlite else "VACUUM ANALYZE"))
            if not sqlite:
                conn.execute(text("CHECKPOINT"))
    finally:
        engine.dispose()
    return time.perf_counter() - started


def measure_search(client: HubClient, repeats: int) -> dict[str, Any]:
    samples, second = [], []
    total, estimated = 0, False
    for _ in range(repeats):
        t0 = time.perf_counter()
        page = client.search_runs(["search-bench"], QUERY, ORDER, page_size=100)
        samples.append(time.perf_counter() - t0)
        total, estimated = page.total_count, page.total_is_estimate
        assert len(page.runs) == 100 and page.next_page_token
        t0 = time.perf_counter()
        client.search_runs(
            ["search-bench"], QUERY, ORDER, page_size=100, page_token=page.next_page_token
        )
        second.append(time.perf_counter() - t0)
    # The hub recalls a query's total estimate and first-page window edge for a while; a
    # query it has not seen (another threshold each time) pays for both.
    fresh = []
    for i in range(repeats):
        query = QUERY.replace("> 0.5", f"> {0.5 + (i + 1) * 1e-4:.4f}")
        t0 = time.perf_counter()
        client.search_runs(["search-bench"], query, ORDER, page_size=100)
        fresh.append(time.perf_counter() - t0)
    ms = np.array(samples) * 1e3
    fresh_ms = np.array(fresh) * 1e3
    return {
        "first_page_p50_ms": round(float(np.percentile(ms, 50)), 1),
        "first_page_p95_ms": round(float(np.percentile(ms, 95)), 1),
        "second_page_p50_ms": round(float(np.percentile(np.array(second) * 1e3, 50)), 1),
        "fresh_query_first_page_p50_ms": round(float(np.percentile(fresh_ms, 50)), 1),
        "fresh_query_first_page_p95_ms": round(float(np.percentile(fresh_ms, 95)), 1),
        "matching_runs": total,
        "matching_runs_estimated": estimated,
    }


def measure(db_url: str, opts: argparse.Namespace) -> dict[str, Any]:
    with running_hub(db_url) as (address, fingerprint):
        admin, api_key = admin_client(address, fingerprint)
        with admin:
            result: dict[str, Any] = {}
            if opts.points:
                result["sdk"] = measure_sdk(address, fingerprint, api_key, opts.points)
            if opts.runs:
                workspace = admin.get_workspace()
                experiment = admin.create_experiment("search-bench")
                seconds = seed_runs(db_url, workspace.id, experiment.id, opts.runs)
                result["search"] = {
                    "runs": opts.runs,
                    "seed_s": round(seconds, 1),
                    **measure_search(admin, opts.repeats),
                }
            return result


@contextlib.contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="tracking-bench-") as tmp:
        yield f"sqlite:///{Path(tmp) / 'hub.db'}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000, help="0 skips the SDK part")
    parser.add_argument("--runs", type=int, default=100_000, help="0 skips the search part")
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--backend", choices=("both", "postgresql", "sqlite"), default="both")
    opts = parser.parse_args()
    out: dict[str, Any] = {"benchmark": "tracking", "points": opts.points}
    if opts.backend in ("both", "postgresql"):
        with postgres_database() as url:
            out["postgresql"] = measure(url, opts)
    if opts.backend in ("both", "sqlite"):
        with sqlite_database() as url:
            out["sqlite"] = measure(url, opts)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
