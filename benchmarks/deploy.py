"""Deploy benchmark: Deploy RPC -> first successful inference for a 50 MB model; rollback
switch time under load and failed requests during it; outbox delivery rate to the hub.

Real processes on loopback: `modelfleet hub serve` (SQLite) and one `modelfleet-agent run`.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modelfleet.agent.node.sample import write_sample_model
from modelfleet.agent.node.state import AUDIT, StateStore
from modelfleet.proto.v1 import fleet_pb2
from tests.fleet.bigmodel import write_big_model
from tests.fleet.fleethelp import WORKSPACE, AgentProcess, HubProcess, join, wait_for


def _first_answer(agent: AgentProcess, version: str, timeout: float = 120.0) -> float:
    start = time.perf_counter()
    wait_for(lambda: agent.serving("fraud", version), timeout, f"version {version}", every=0.005)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-mb", type=int, default=50)
    parser.add_argument("--outbox-events", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mf-deploy-bench-") as folder:
        root = Path(folder)
        hub = HubProcess(root, f"sqlite:///{root / 'hub.db'}")
        hub.start()
        agent: AgentProcess | None = None
        try:
            admin = hub.admin()
            admin.client.create_workspace(WORKSPACE)
            small = write_sample_model(root / "models", "credit", 1) / "model.onnx"
            big = write_big_model(root / "big" / "model.onnx", args.model_mb)
            admin.client.push_model(small, "credit")
            big_version = admin.client.push_model(big, "credit").version
            data_dir = root / "agent"
            joined = join(hub, admin.join_token("production"), data_dir)
            assert joined.returncode == 0, joined.stderr
            agent = AgentProcess(data_dir, grace_s=600.0).start()

            # 1. Deploy -> first successful inference (pull, verify, load, warm, switch).
            started = time.perf_counter()
            admin.deploy("fraud", "production", "credit", big_version)
            _first_answer(agent, str(big_version))
            deploy_s = time.perf_counter() - started

            # 2. Rollback under load: v1 at 100%, then the big version, then roll back.
            admin.traffic("fraud", "production", {1: 100})
            _first_answer(agent, "1")
            admin.traffic("fraud", "production", {big_version: 100})
            _first_answer(agent, str(big_version))
            failures, served, switched_at = [], [0], [0.0]
            stop = threading.Event()

            def load() -> None:
                while not stop.is_set():
                    try:
                        status, answered, _ = agent.infer("fraud")  # type: ignore[union-attr]
                    except OSError as exc:
                        failures.append(repr(exc))
                        continue
                    served[0] += 1
                    if status != 200:
                        failures.append(status)
                    elif answered == "1" and not switched_at[0]:
                        switched_at[0] = time.perf_counter()

            threads = [threading.Thread(target=load) for _ in range(4)]
            for thread in threads:
                thread.start()
            time.sleep(1.0)
            rollback_started = time.perf_counter()
            admin.rollback("fraud", "production")
            wait_for(lambda: switched_at[0] > 0, 30, "the rollback")
            time.sleep(1.0)
            stop.set()
            for thread in threads:
                thread.join()
            rollback_ms = (switched_at[0] - rollback_started) * 1000

            # 3. Outbox: events queued while the agent was down, delivered on start.
            agent.stop()
            store = StateStore(data_dir / "state.db")
            event = fleet_pb2.AgentAuditEvent(action="Bench.Event", target="b", outcome="success")
            body = fleet_pb2.OutboxEvent(audit=event).SerializeToString()
            store.append_many(AUDIT, [body] * args.outbox_events)
            store.close()
            agent.start()
            outbox_started = time.perf_counter()
            running = agent
            wait_for(lambda: running.outbox()[0] == 0, 300, "the outbox to drain", every=0.05)
            outbox_s = time.perf_counter() - outbox_started
            admin.client.close()
        finally:
            if agent is not None:
                agent.stop()
            hub.stop()
    print(
        orjson.dumps(
            {
                "benchmark": "deploy",
                "model_mb": args.model_mb,
                "deploy_to_first_inference_s": round(deploy_s, 3),
                "rollback_to_first_old_answer_ms": round(rollback_ms, 1),
                "rollback_requests_served": served[0],
                "rollback_failed_requests": len(failures),
                "outbox_events": args.outbox_events,
                "outbox_events_per_s": round(args.outbox_events / outbox_s),
            }
        ).decode()
    )


if __name__ == "__main__":
    main()
