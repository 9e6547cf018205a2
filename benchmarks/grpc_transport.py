"""gRPC transport cost alone: req/s of an empty ModelInfer on grpc.aio and on the agent's own
HTTP/2 server; prints one JSON line.

Both servers run the generated GRPCInferenceService servicer whose ModelInfer decodes the
request and returns an empty response (no model, no batcher), each in its own process with
uvloop, one after the other, `--rounds` times alternating, under the h2load command of
benchmarks/serving.py (4 connections x 4 streams, single-row ModelInferRequest).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from serving import _infer_request, ensure_tool

DURATION_S = 10
WARMUP_S = 2


def serve(kind: str, port: int) -> None:
    """The server process: `grpc.aio` or `own` (modelfleet.agent.node.rpc.http2)."""
    import uvloop

    from modelfleet.agent.node.rpc.http2 import GrpcServer
    from modelfleet.proto.inference import grpc_predict_v2_pb2 as pb
    from modelfleet.proto.inference import grpc_predict_v2_pb2_grpc as pb_grpc

    class Empty(pb_grpc.GRPCInferenceServiceServicer):
        async def ModelInfer(self, request: pb.ModelInferRequest, context: object) -> object:
            return pb.ModelInferResponse()

    async def run() -> None:
        if kind == "grpc.aio":
            import grpc

            server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
            pb_grpc.add_GRPCInferenceServiceServicer_to_server(Empty(), server)
            server.add_insecure_port(f"127.0.0.1:{port}")
            await server.start()
        else:
            own = GrpcServer()
            own.add_servicer(pb_grpc.add_GRPCInferenceServiceServicer_to_server, Empty())
            await own.start("127.0.0.1", port)
        await asyncio.Event().wait()

    uvloop.install()
    asyncio.run(run())


def measure(binary: str, kind: str, body: Path) -> float:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--port", str(port)])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"{kind} server did not start") from None
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/inference.GRPCInferenceService/ModelInfer"
        out = subprocess.run([binary, "-c4", "-m4", "-D", str(DURATION_S), "--warm-up-time",
                              str(WARMUP_S), "-H", "content-type: application/grpc", "-H",
                              "te: trailers", "-d", str(body), url],
                             check=True, capture_output=True, text=True).stdout  # fmt: skip
        match = re.search(r"finished in [\d.]+s, ([\d.]+) req/s", out)
        if match is None or " 0 failed, 0 errored" not in out:
            raise RuntimeError(f"h2load against {kind}:\n{out}")
        return float(match.group(1))
    finally:
        server.terminate()
        server.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs per server")
    parser.add_argument("--serve", choices=["grpc.aio", "own"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return 0
    binary = ensure_tool("h2load", "nghttp2-client")
    rps: dict[str, list[float]] = {"grpc.aio": [], "own": []}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-grpc-") as tmp:
        body = Path(tmp) / "infer.grpc"
        request = _infer_request().SerializeToString()
        body.write_bytes(b"\x00" + len(request).to_bytes(4, "big") + request)
        for _ in range(max(args.rounds, 1)):
            for kind in rps:
                rps[kind].append(round(measure(binary, kind, body)))
    result = {
        "benchmark": "grpc-transport",
        "date": dt.date.today().isoformat(),
        "cpus": os.cpu_count(),
        "load_average_1m_before": round(load_before, 2),
        "load_average_1m_after": round(os.getloadavg()[0], 2),
        "grpc_aio_empty_rps": statistics.median(rps["grpc.aio"]),
        "own_http2_empty_rps": statistics.median(rps["own"]),
        "speedup": round(statistics.median(rps["own"]) / statistics.median(rps["grpc.aio"]), 2),
        "grpc_aio_empty_rps_each": rps["grpc.aio"],
        "own_http2_empty_rps_each": rps["own"],
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
