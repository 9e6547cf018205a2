"""Serving throughput and latency of the agent on the sample model; prints one JSON line.

Measures, in one run: raw in-process ONNX Runtime single-row calls/s; agent REST OIP
single-row req/s with p50/p99 at 16 connections (wrk); agent gRPC ModelInfer req/s at 16
concurrent calls, from grpc.aio clients in separate processes and from h2load (a C HTTP/2
load generator whose own cost does not cap the figure: 4 connections x 4 streams, req/s and
p50/p99); REST req/s at 64 connections with dynamic batching on (--max-batch-size 64) and
off (0); start-to-ready time and idle RSS.
The load generators run on the same machine as the agent, so they compete for its cores.

`--only startup` measures just start-to-ready and idle RSS (median of --rounds agent
starts, each value listed too), in a few seconds and without wrk or h2load. `--only rest`
measures just REST single-row at 16 connections, for pairs of runs alternating two builds.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing as mp
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from modelfleet.agent.node.sample import FEATURE_COUNT, write_sample_model

ROOT = Path(__file__).resolve().parent.parent
# The agent launcher of the serving tests: one way to start an agent and wait for it.
sys.path.insert(0, str(ROOT / "tests" / "serving"))
sys.path.insert(0, str(ROOT / "tests"))
from agentproc import Agent, start_agent  # noqa: E402
from procstat import cpu_seconds  # noqa: E402

MODEL = "credit-risk"
DURATION_S = 10
WARMUP_S = 2
ROW = np.random.default_rng(1).normal(size=(1, FEATURE_COUNT)).astype(np.float32)

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '%s'
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"errors\\": %%d, " ..
    "\\"non2xx\\": %%d, \\"p50_us\\": %%d, \\"p99_us\\": %%d}\\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout,
    e.status, latency:percentile(50), latency:percentile(99)))
end
"""


def ensure_tool(binary: str, package: str) -> str:
    """A load generator from Debian's packages, installed on first use."""
    found = shutil.which(binary)
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", package], check=True, env=env, capture_output=True
    )
    return shutil.which(binary) or binary


def ort_calls_per_second(model_path: Path) -> float:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    ort_model = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    feed = {"input": ROW}
    for _ in range(1000):
        ort_model.run(None, feed)
    calls, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < 3:
        for _ in range(1000):
            ort_model.run(None, feed)
        calls += 1000
    return calls / elapsed


def wrk(binary: str, agent: Agent, connections: int, workdir: Path) -> dict[str, Any]:
    body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, FEATURE_COUNT],
                        "data": ROW.reshape(-1).tolist()}]}  # fmt: skip
    script = workdir / "post.lua"
    script.write_text(WRK_SCRIPT % json.dumps(body))
    url = f"http://127.0.0.1:{agent.http_port}/v2/models/{MODEL}/infer"
    base = [binary, "-t2", f"-c{connections}", "-s", str(script), url]
    subprocess.run([*base[:3], f"-d{WARMUP_S}s", *base[3:]], check=True, capture_output=True)
    out = subprocess.run([*base[:3], f"-d{DURATION_S}s", *base[3:]], check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    match = re.search(r"^RESULT (.*)$", out, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    result: dict[str, Any] = json.loads(match.group(1))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def _infer_request() -> Any:
    from modelfleet.proto.inference import grpc_predict_v2_pb2 as pb

    request = pb.ModelInferRequest(model_name=MODEL)
    request.inputs.add(name="input", datatype="FP32", shape=[1, FEATURE_COUNT])
    request.raw_input_contents.append(ROW.tobytes())
    return request


def _grpc_client(port: int, concurrency: int, start_at: float, stop_at: float, out: Any) -> None:
    """One load process: `concurrency` ModelInfer loops, counting completions in the window."""
    import grpc

    from modelfleet.proto.inference import grpc_predict_v2_pb2_grpc as pb_grpc

    request = _infer_request()

    async def run() -> tuple[int, int]:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            counted, errors = 0, 0

            async def loop() -> None:
                nonlocal counted, errors
                while (now := time.time()) < stop_at:
                    try:
                        await stub.ModelInfer(request, timeout=10)
                    except grpc.RpcError:
                        errors += 1
                    if now >= start_at:
                        counted += 1

            await asyncio.gather(*(loop() for _ in range(concurrency)))
            return counted, errors

    out.put(asyncio.run(run()))


def grpc_rps(agent: Agent, concurrency: int, processes: int = 2) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    start_at = time.time() + WARMUP_S + 2  # spawned interpreters need a moment to import
    stop_at = start_at + DURATION_S
    workers = [
        ctx.Process(target=_grpc_client,
                    args=(agent.grpc_port, concurrency // processes, start_at, stop_at, queue))
        for _ in range(processes)
    ]  # fmt: skip
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=DURATION_S + 60) for _ in workers]
    for worker in workers:
        worker.join()
    return {
        "rps": sum(r[0] for r in results) / DURATION_S,
        "errors": float(sum(r[1] for r in results)),
    }


def h2load(binary: str, agent: Agent, workdir: Path) -> dict[str, float]:
    """ModelInfer from h2load at 4 connections x 4 streams; p50/p99 from its request log.

    h2load counts HTTP 200s, which gRPC also sends with an error status in the trailers,
    so errors also include every request the agent itself counted as not `ok`.
    """
    request = _infer_request().SerializeToString()
    body = workdir / "infer.grpc"
    body.write_bytes(b"\x00" + struct.pack(">I", len(request)) + request)
    log = workdir / "h2load.log"
    url = f"http://127.0.0.1:{agent.grpc_port}/inference.GRPCInferenceService/ModelInfer"
    failed_before = _failed_requests(agent)
    out = subprocess.run([binary, "-c4", "-m4", "-D", str(DURATION_S), "--warm-up-time",
                          str(WARMUP_S), "-H", "content-type: application/grpc", "-H",
                          "te: trailers", "-d", str(body), "--log-file", str(log), url],
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    match = re.search(r"finished in [\d.]+s, ([\d.]+) req/s", out)
    if match is None:
        raise RuntimeError(f"h2load printed no result:\n{out}")
    rows = [line.split("\t") for line in log.read_text().splitlines()]
    latencies = np.array([int(r[2]) for r in rows if r[1] == "200"], dtype=np.float64) / 1000
    return {
        "rps": float(match.group(1)),
        "p50_ms": float(np.percentile(latencies, 50)),
        "p99_ms": float(np.percentile(latencies, 99)),
        "errors": float(len(rows) - latencies.size + _failed_requests(agent) - failed_before),
    }


def _failed_requests(agent: Agent) -> float:
    total = agent.metric("modelfleet_requests_total", model=MODEL)
    return total - agent.metric("modelfleet_requests_total", model=MODEL, status="ok")


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else float("nan")


def models_without_batching_config(root: Path) -> Path:
    """The sample model with the batching block dropped, so the CLI flags decide."""
    version_dir = write_sample_model(root)
    config_path = version_dir / "modelfleet.json"
    config = json.loads(config_path.read_text())
    config.pop("batching", None)
    config_path.write_text(json.dumps(config))
    return root


def startup(rounds: int) -> dict[str, Any]:
    """Start-to-ready and idle RSS (one second after ready) of `rounds` fresh agents."""
    ready_s: list[float] = []
    idle_mb: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        work = Path(tmp)
        models = models_without_batching_config(work / "models")
        for i in range(rounds):
            started = time.perf_counter()
            agent = start_agent(
                models, work / f"start{i}", "--max-batch-size", "64", "--log-level", "warning"
            )
            ready_s.append(round(time.perf_counter() - started, 3))
            try:
                time.sleep(1)
                idle_mb.append(round(rss_mb(agent.proc.pid), 1))
            finally:
                agent.stop()
    return {
        "benchmark": "serving-startup",
        "date": dt.date.today().isoformat(),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "start_to_ready_s": statistics.median(ready_s),
        "idle_rss_mb": statistics.median(idle_mb),
        "start_to_ready_s_each": ready_s,
        "idle_rss_mb_each": idle_mb,
    }


def rest_only(wrk_binary: str) -> dict[str, Any]:
    """REST single-row at 16 connections on a fresh agent (batching on, as in the full run)."""
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        work = Path(tmp)
        models = models_without_batching_config(work / "models")
        agent = start_agent(models, work / "on", "--max-batch-size", "64", "--log-level", "warning")
        try:
            cpu_before = cpu_seconds(agent.proc.pid)
            done_before = agent.metric("modelfleet_requests_total", model=MODEL)
            rest = wrk(wrk_binary, agent, 16, work)
            cpu = cpu_seconds(agent.proc.pid) - cpu_before
            done = agent.metric("modelfleet_requests_total", model=MODEL) - done_before
        finally:
            agent.stop()
    return {
        "benchmark": "serving-rest",
        "date": dt.date.today().isoformat(),
        "rest_rps_c16": round(rest["rps"]),
        "rest_p50_ms": round(rest["p50_us"] / 1000, 3),
        "rest_p99_ms": round(rest["p99_us"] / 1000, 3),
        "rest_errors_c16": rest["errors"] + rest["non2xx"],
        # what a request costs the agent process (all threads), whatever the load generator
        # leaves it of the cores: compares two builds better than req/s on a shared machine
        "agent_cpu_us_per_request": round(cpu / max(done, 1) * 1e6, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["startup", "rest"], help="measure only this part")
    parser.add_argument("--rounds", type=int, default=3, help="agent starts for --only startup")
    args = parser.parse_args()
    if args.only == "startup":
        print(json.dumps(startup(max(args.rounds, 1))))
        return 0
    wrk_binary = ensure_tool("wrk", "wrk")
    if args.only == "rest":
        print(json.dumps(rest_only(wrk_binary)))
        return 0
    h2load_binary = ensure_tool("h2load", "nghttp2-client")
    result: dict[str, Any] = {
        "benchmark": "serving",
        "date": dt.date.today().isoformat(),
        "cpus": os.cpu_count(),
        "model": f"{MODEL} (StandardScaler + LogisticRegression, {FEATURE_COUNT} FP32 features)",
        "duration_s": DURATION_S,
    }
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        work = Path(tmp)
        models = models_without_batching_config(work / "models")
        result["ort_inprocess_calls_per_s"] = round(
            ort_calls_per_second(models / MODEL / "1" / "model.onnx")
        )

        started = time.perf_counter()
        agent = start_agent(models, work / "on", "--max-batch-size", "64", "--log-level", "warning")
        result["start_to_ready_s"] = round(time.perf_counter() - started, 3)
        try:
            time.sleep(1)
            result["idle_rss_mb"] = round(rss_mb(agent.proc.pid), 1)
            rest = wrk(wrk_binary, agent, 16, work)
            result["rest_rps_c16"] = round(rest["rps"])
            result["rest_p50_ms"] = round(rest["p50_us"] / 1000, 3)
            result["rest_p99_ms"] = round(rest["p99_us"] / 1000, 3)
            result["rest_errors_c16"] = rest["errors"] + rest["non2xx"]
            grpc_result = grpc_rps(agent, 16)
            result["grpc_rps_c16"] = round(grpc_result["rps"])
            result["grpc_errors_c16"] = int(grpc_result["errors"])
            native = h2load(h2load_binary, agent, work)
            result["grpc_h2load_rps_c16"] = round(native["rps"])
            result["grpc_h2load_p50_ms"] = round(native["p50_ms"], 3)
            result["grpc_h2load_p99_ms"] = round(native["p99_ms"], 3)
            result["grpc_h2load_errors_c16"] = int(native["errors"])
            batched = wrk(wrk_binary, agent, 64, work)
        finally:
            agent.stop()
        agent = start_agent(models, work / "off", "--max-batch-size", "0", "--log-level", "warning")
        try:
            unbatched = wrk(wrk_binary, agent, 64, work)
        finally:
            agent.stop()
    result["rest_rps_c64_batching_on"] = round(batched["rps"])
    result["rest_rps_c64_batching_off"] = round(unbatched["rps"])
    result["rest_errors_c64"] = sum(r["errors"] + r["non2xx"] for r in (batched, unbatched))
    result["batching_speedup_c64"] = round(batched["rps"] / max(unbatched["rps"], 1e-9), 2)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
