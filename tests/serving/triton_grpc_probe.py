"""Drive an agent with Triton's gRPC client; prints a JSON list of failures (empty = all good).

Runs in its own process: Triton's client registers its own `inference.*` protobuf messages,
which cannot share a descriptor pool with the agent's generated ones.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
import tritonclient.grpc as grpcclient
from modelzoo import DATATYPES, IDENTITY_IN, IDENTITY_OUT, identity_name, sample_array
from tritonclient.utils import InferenceServerException


def check_datatype(client: Any, datatype: str) -> list[str]:
    name = identity_name(datatype)
    failures = []
    if not client.is_model_ready(name):
        failures.append(f"{name}: not ready")
    meta = client.get_model_metadata(name, as_json=True)
    if meta["platform"] != "onnxruntime_onnx" or meta["inputs"][0]["shape"] != ["-1", "3"]:
        failures.append(f"{name}: metadata {meta}")
    array = sample_array(datatype, rows=3, seed=5)
    if datatype == "BYTES":
        array = np.array([s.encode() for s in array.reshape(-1)], dtype=object).reshape(3, 3)
    tensor = grpcclient.InferInput(IDENTITY_IN, list(array.shape), datatype)
    tensor.set_data_from_numpy(array)
    result = client.infer(
        name, [tensor], outputs=[grpcclient.InferRequestedOutput(IDENTITY_OUT)], request_id="tc"
    )
    got = result.as_numpy(IDENTITY_OUT)
    if got is None or got.tolist() != array.tolist():
        failures.append(
            f"{name}: sent {array.tolist()} got {None if got is None else got.tolist()}"
        )
    if result.get_response().id != "tc":
        failures.append(f"{name}: request id not echoed")
    return failures


def main(port: str) -> int:
    client = grpcclient.InferenceServerClient(url=f"127.0.0.1:{port}")
    failures = []
    if not (client.is_server_live() and client.is_server_ready()):
        failures.append("server not live/ready")
    if client.get_server_metadata().name != "modelfleet":
        failures.append("server metadata")
    for datatype in DATATYPES:
        try:
            failures += check_datatype(client, datatype)
        except InferenceServerException as exc:
            failures.append(f"{datatype}: {exc}")
    try:
        client.get_model_metadata("no-such-model")
        failures.append("unknown model did not fail")
    except InferenceServerException as exc:
        if exc.status() != "StatusCode.NOT_FOUND":
            failures.append(f"unknown model: {exc.status()}")
    print(json.dumps(failures))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
