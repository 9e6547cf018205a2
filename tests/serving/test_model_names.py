"""AgentControl.LoadModel refuses model names that are not portable folder names with
INVALID_ARGUMENT naming the field, before touching the file system; the agent serves on."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from agentproc import Agent

from modelfleet.proto.v1 import agent_pb2

pytestmark = pytest.mark.timeout(90)

BAD_NAMES = [
    "x" * 256,  # one byte over the file-name limit, and no version: the latest is looked up
    "x" * 5000,
    "..\\escape",
    "a\\b",
    "C:escape",
    "C:/escape",
    "a\x00b",
    "\x00",
    "../escape",
    "a/b",
    "..",
    ".hidden",
    "",
    "caf\u00e9",
    "a b",
]


@pytest.mark.parametrize("version", ["", "1"])
def test_load_model_refuses_names_that_are_not_portable_folder_names(
    agent: Agent, version: str
) -> None:
    control = agent.control()
    before = control.ListModels(agent_pb2.ListModelsRequest(), metadata=agent.auth, timeout=10)
    for name in BAD_NAMES:
        with pytest.raises(grpc.RpcError) as caught:
            control.LoadModel(
                agent_pb2.LoadModelRequest(name=name, version=version),
                metadata=agent.auth,
                timeout=10,
            )
        error: Any = caught.value
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (name[:20], error.details())
        assert error.details().startswith("model name: expected 1-255 characters"), error.details()
    after = control.ListModels(agent_pb2.ListModelsRequest(), metadata=agent.auth, timeout=10)
    assert after == before


def test_load_model_accepts_the_longest_portable_name(agent: Agent) -> None:
    # 255 characters pass the name check; no such folder exists, so the answer is NOT_FOUND.
    with pytest.raises(grpc.RpcError) as caught:
        agent.control().LoadModel(
            agent_pb2.LoadModelRequest(name="x" * 255), metadata=agent.auth, timeout=10
        )
    error: Any = caught.value
    assert error.code() == grpc.StatusCode.NOT_FOUND, error.details()
