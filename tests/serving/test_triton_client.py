"""Compatibility with a third-party OIP client: Triton's tritonclient over HTTP and gRPC."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient
from agentproc import Agent
from modelzoo import DATATYPES, IDENTITY_IN, IDENTITY_OUT, MULTI_OUTPUT, identity_name, sample_array
from tritonclient.utils import InferenceServerException

pytestmark = pytest.mark.timeout(120)

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def client(agent: Agent) -> httpclient.InferenceServerClient:
    return httpclient.InferenceServerClient(url=f"127.0.0.1:{agent.http_port}")


def test_http_health_and_metadata(client: httpclient.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.get_server_metadata()["name"] == "modelfleet"
    name = identity_name("FP32")
    assert client.is_model_ready(name)
    assert client.is_model_ready(name, model_version="1")
    meta = client.get_model_metadata(name)
    assert meta["platform"] == "onnxruntime_onnx"
    assert meta["inputs"] == [{"name": IDENTITY_IN, "datatype": "FP32", "shape": [-1, 3]}]


@pytest.mark.parametrize("datatype", list(DATATYPES))
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_http_infer_every_datatype(
    client: httpclient.InferenceServerClient, datatype: str, binary: bool
) -> None:
    array = sample_array(datatype, rows=3, seed=4)
    if datatype == "BYTES":
        array = np.array([s.encode() for s in array.reshape(-1)], dtype=object).reshape(3, 3)
    tensor = httpclient.InferInput(IDENTITY_IN, list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    result = client.infer(
        identity_name(datatype),
        [tensor],
        outputs=[httpclient.InferRequestedOutput(IDENTITY_OUT, binary_data=binary)],
        request_id="triton-http",
    )
    got = result.as_numpy(IDENTITY_OUT)
    assert got is not None
    if datatype == "BYTES":
        got = np.array([v if isinstance(v, bytes) else str(v).encode() for v in got.reshape(-1)],
                       dtype=object).reshape(got.shape)  # fmt: skip
    else:
        assert got.dtype == DATATYPES[datatype][0]
    assert got.tolist() == array.tolist()
    assert result.get_response()["id"] == "triton-http"


def test_http_output_selection_and_errors(client: httpclient.InferenceServerClient) -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    tensor = httpclient.InferInput("x", [2, 3], "FP32")
    tensor.set_data_from_numpy(x)
    result = client.infer(
        MULTI_OUTPUT, [tensor], outputs=[httpclient.InferRequestedOutput("total")]
    )
    assert result.as_numpy("total").tolist() == [3.0, 12.0]
    assert result.as_numpy("double") is None
    with pytest.raises(InferenceServerException, match="no-such-model"):
        client.infer("no-such-model", [tensor])


def test_grpc_client_in_its_own_process(agent: Agent) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)])}
    done = subprocess.run(
        [sys.executable, str(HERE / "triton_grpc_probe.py"), str(agent.grpc_port)],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
