"""Cost of the hub's per-request NUL check (access/requestcheck.py) next to parsing the request.

Three requests: a small CreateModel (name, description, two tags), a LogBatch with 100 metric
points and 20 params, and an upload chunk of 1 MiB (its bytes are never read). For each:
median microseconds of `check_request` and of `FromString` (what gRPC already does for every
request), and their ratio. Prints one JSON line.

    python benchmarks/request_check.py [--repeat 2000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from google.protobuf.message import Message

from modelfleet.agent.hub.access.requestcheck import check_request
from modelfleet.proto.v1 import artifacts_pb2, registry_pb2, tracking_pb2


def _median_us(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1000


def _requests() -> dict[str, Message]:
    return {
        "create_model": registry_pb2.CreateModelRequest(
            name="churn", description="churn model", tags={"team": "growth", "stage": "dev"}
        ),
        "log_batch_100": tracking_pb2.LogBatchRequest(
            run_id="r" * 32,
            idempotency_key="k" * 36,
            metrics=[
                tracking_pb2.MetricPoint(key=f"loss_{i % 5}", value=i, step=i) for i in range(100)
            ],
            params={f"p{i}": str(i) for i in range(20)},
        ),
        "upload_chunk_1mib": artifacts_pb2.UploadChunk(
            upload_id="u" * 32, offset=0, data=b"\x00" * (1 << 20)
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    out: dict[str, object] = {"benchmark": "request_check", "repeat": args.repeat}
    for name, message in _requests().items():
        wire = message.SerializeToString()
        parse = type(message).FromString
        check_request(message)  # builds the per-type plan once, as the first request would
        check_us = _median_us(lambda m=message: check_request(m), args.repeat)
        parse_us = _median_us(lambda w=wire, p=parse: p(w), args.repeat)
        out[name] = {
            "check_us": round(check_us, 2),
            "parse_us": round(parse_us, 2),
            "check_to_parse": round(check_us / parse_us, 3),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
