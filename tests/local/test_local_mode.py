"""Local mode against real processes: an app instance owns the local hub and agent, a second
instance reuses them, the Quick Start runs end to end on them, the headless CLI prints its
URLs and live summary, and the children die with the owner (cleanly or by kill -9).

One stack serves the module (a cold start costs ~20-40 s on a shared 2-core machine); the
last two tests end it on purpose and run last.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from modelfleet.client import FileStore, account_name
from modelfleet.local import LiveSummary, LocalStack, QuickStart, TrafficPlan, watch
from modelfleet.local._quickstart import ALIAS, DEPLOYMENT, MODEL
from modelfleet.local._traffic import example_row
from tests.local.localhelp import Instance, gone, local_env, running_children, wait_for

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The user data dir of the module; this process uses it too (CA pin cache)."""
    folder = tmp_path_factory.mktemp("userdata")
    previous = os.environ.get("MODELFLEET_DATA_DIR")
    os.environ["MODELFLEET_DATA_DIR"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("MODELFLEET_DATA_DIR", None)
    else:
        os.environ["MODELFLEET_DATA_DIR"] = previous


@pytest.fixture(scope="module")
def owner(data_dir: Path) -> Iterator[Instance]:
    instance = Instance(data_dir)
    yield instance
    instance.close()


@pytest.fixture(scope="module")
def stack(owner: Instance, data_dir: Path) -> Iterator[LocalStack]:
    """A LocalStack in this process, reusing the owner's children."""
    local = LocalStack(data_dir / "local", store=FileStore(data_dir / "credentials.json"))
    local.start()
    yield local
    local.stop()


def test_owner_starts_hub_and_agent_signed_in_and_online(owner: Instance, data_dir: Path):
    info, local = owner.info, data_dir / "local"
    assert owner.doc["owned"] is True and info.owner_pid == owner.process.pid
    assert not gone(info.hub_pid) and not gone(info.agent_pid)
    # Each child wrote its ready file with its own pid; the record names the same ones.
    assert orjson.loads((local / "run" / "hub.ready.json").read_bytes())["pid"] == info.hub_pid
    assert orjson.loads((local / "run" / "agent.ready.json").read_bytes())["pid"] == info.agent_pid
    assert orjson.loads((local / "stack.json").read_bytes())["hub_pid"] == info.hub_pid
    # The admin password and the sign-in are private; the tokens went to the client's store.
    assert stat.S_IMODE((local / "admin-password").stat().st_mode) == 0o600
    tokens = FileStore(data_dir / "credentials.json").load(account_name(info.hub_address, "admin"))
    assert tokens is not None and tokens.refresh_token
    with LocalStack(local, store=FileStore(data_dir / "credentials.json")).connect() as client:
        assert client.whoami().username == "admin"
        agent = client.get_agent(info.agent_id)
    assert (agent.state, agent.environment) == ("online", "local")
    assert agent.http_url == info.rest_url
    status = http_get(info.agent_http_port, "/v2/health/ready")
    assert status == 200


def test_second_instance_reuses_the_running_children(owner: Instance, data_dir: Path):
    second = Instance(data_dir)
    try:
        assert second.doc["owned"] is False
        assert (second.info.hub_pid, second.info.agent_pid) == (
            owner.info.hub_pid,
            owner.info.agent_pid,
        )
        assert second.info.hub_port == owner.info.hub_port
    finally:
        assert second.close() == 0
    # The instance that only reused them leaves them running.
    assert not gone(owner.info.hub_pid) and not gone(owner.info.agent_pid)
    assert http_get(owner.info.agent_http_port, "/v2/health/live") == 200


def test_quick_start_end_to_end(stack: LocalStack, record_property: pytest.RecordProperty):
    steps: list[tuple[str, str]] = []
    plan = TrafficPlan(rate_rps=20.0, drift_after_s=12.0, drift_ramp_s=2.0)
    quickstart = QuickStart(stack, on_step=lambda s: steps.append((s.name, s.state)), plan=plan)
    try:
        result = quickstart.run()
        record_property("quickstart_seconds_to_traffic", result.seconds_to_traffic)
        print(f"Quick Start to live traffic: {result.seconds_to_traffic:.1f} s")
        names = ["stack", "train", "register", "deploy", "traffic"]
        assert [n for n, state in steps if state == "done" and n in names][-5:] == names
        assert not [s for s in steps if s[1] == "failed"]
        with stack.connect() as client:
            # The run: params, per-step and per-epoch metrics.
            run = client.get_run(result.run_id)
            assert run.params["epochs"] == "12" and run.tags["source"] == "quickstart"
            assert run.metrics["val_auc"].count == 12 and run.metrics["val_auc"].last > 0.8
            assert run.metrics["batch_loss"].count == 12 * 20
            # The version: the champion, from that run, with the training data's profile.
            champion = client.get_version(MODEL, alias=ALIAS)
            assert champion.version == result.version and ALIAS in champion.aliases
            assert champion.source_run_id == result.run_id
            assert champion.reference_profile_json
            assert champion.metrics["val_auc"] == run.metrics["val_auc"].last  # via log_model
            assert champion.signature.feature_names[0] == "amount"
            # The deployment: the champion, applied by the local agent.
            deployment = client.get_deployment(DEPLOYMENT, "local")
            assert [(t.model_name, t.model_version) for t in deployment.targets] == [
                (MODEL, result.version)
            ]
            assert [a.state for a in deployment.agents] == ["ready"]
        # Inference through the agent, with named features (the printed curl's request).
        status, body = http_post(
            stack.start().agent_http_port,
            f"/v1/models/{DEPLOYMENT}/predict",
            {"instances": [example_row(), example_row()]},
        )
        assert status == 200, body
        assert len(orjson.loads(body)["predictions"]) == 2
        # Live figures: traffic, then the drifting phase raises the drifted share.
        summaries = live_until_drift(stack, result.grpc_target, timeout=90.0)
        before = [s for s in summaries[:-1] if s.drift_share is not None]
        assert summaries[-1].drift_share is not None and summaries[-1].drift_share >= 0.5
        assert before and before[0].drift_share is not None and before[0].drift_share < 0.5
        assert summaries[-1].requests_total > 100 and summaries[-1].errors_total == 0
        assert max(s.requests_per_s for s in summaries) > 5.0
        assert quickstart.traffic is not None
        traffic = quickstart.traffic.stats()
        assert traffic.errors == 0 and traffic.labels_accepted > 0
        # Roll-ups reach the hub: QueryMetrics has the deployment's traffic.
        with stack.connect() as client:
            points = wait_for(
                lambda: [p for p in client.query_metrics(DEPLOYMENT, "local") if p.requests],
                60.0,
                "roll-ups at the hub",
                every=1.0,
            )
        assert sum(p.requests for p in points) > 0
    finally:
        quickstart.stop()


def test_headless_cli_prints_urls_and_a_live_summary(owner: Instance, data_dir: Path):
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from modelfleet.cli import main; sys.exit(main())",
         "quickstart", "--every", "1", "--drift-after", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=local_env(data_dir), text=True,
    )  # fmt: skip
    lines: list[str] = []
    summary = re.compile(r"^\s+\d\d:\d\d:\d\d\s+[\d.]+ req/s\s+p95\s+[\d.]+ ms\s+errors \d+/\d+")
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if len([x for x in lines if summary.match(x)]) >= 3:
                break
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    out = "".join(lines) + rest
    info = owner.info
    assert process.returncode == 0, out
    assert f"REST       http://127.0.0.1:{info.agent_http_port}" in out
    assert f"gRPC       127.0.0.1:{info.agent_grpc_port}" in out
    assert f"curl -s http://127.0.0.1:{info.agent_http_port}/v1/models/{DEPLOYMENT}/predict" in out
    assert re.search(r"Quick Start is live \(\d+\.\d s to traffic\)", out)
    assert "stopping ..." in out
    # It reused the owner's stack, so it leaves it running.
    assert "local hub and agent stopped" not in out
    assert not gone(info.hub_pid) and not gone(info.agent_pid)


def test_owner_exit_stops_the_children(owner: Instance, data_dir: Path):
    hub, agent = owner.info.hub_pid, owner.info.agent_pid
    assert owner.close() == 0
    assert gone(hub) and gone(agent)
    assert not (data_dir / "local" / "stack.json").exists()
    # Nothing of ours is left running from this data dir.
    assert not running_children(data_dir)


def test_children_stop_themselves_when_the_owner_is_killed(data_dir: Path):
    instance = Instance(data_dir)  # the hub exists now: no init, a warm start
    hub, agent = instance.info.hub_pid, instance.info.agent_pid
    assert instance.doc["owned"] is True
    instance.process.kill()
    instance.process.wait()
    wait_for(lambda: gone(hub) and gone(agent), 30.0, "the children to stop")
    assert not running_children(data_dir)


def live_until_drift(stack: LocalStack, grpc_target: str, timeout: float) -> list[LiveSummary]:
    stop = threading.Event()
    timer = threading.Timer(timeout, stop.set)
    timer.start()
    seen: list[LiveSummary] = []
    try:
        for summary in watch(grpc_target, stack.paths.control_token, DEPLOYMENT, stop):
            seen.append(summary)
            if summary.drift_share is not None and summary.drift_share >= 0.5:
                return seen
    finally:
        stop.set()
        timer.cancel()
    raise AssertionError(f"no drift within {timeout} s: {[s.line() for s in seen[-5:]]}")


def http_get(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def http_post(port: int, path: str, body: object) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", path, orjson.dumps(body), {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()
