"""`make run`: serve the bundled sample model locally and print requests to paste.

Writes the sample model into <user data dir>/quickstart/models on first run, starts the
agent on 127.0.0.1 (ports 8000/8001, or OS-chosen ones when those are taken) and serves
until Ctrl-C.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys

from modelfleet.agent.node.config import AgentConfig, default_token_file, user_data_dir
from modelfleet.agent.node.repository import MODEL_FILE
from modelfleet.agent.node.run import run_agent
from modelfleet.agent.node.server import Agent

HOST = "127.0.0.1"
MODEL = "credit-risk"


def free_or_any(port: int) -> int:
    """`port` if it can be bound on HOST now, else 0 (let the OS choose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return 0
    return port


def print_examples(agent: Agent) -> None:
    base = f"http://{HOST}:{agent.http_port}"
    row = ", ".join(f'"f{i:02d}": {((i * 7) % 10 - 5) / 10}' for i in range(20))
    values = ", ".join(str(((i * 7) % 10 - 5) / 10) for i in range(20))
    print(
        "\nmodelfleet agent ready: "
        f"REST {base}  gRPC {HOST}:{agent.grpc_port}  (Ctrl-C to stop)\n\n"
        "Friendly API:\n"
        f"  curl -s {base}/v1/models/{MODEL}/predict -H 'Content-Type: application/json' "
        f"-d '{{\"instances\": [{{{row}}}]}}'\n\n"
        "Open Inference Protocol:\n"
        f"  curl -s {base}/v2/models/{MODEL}/infer -H 'Content-Type: application/json' "
        f'-d \'{{"inputs": [{{"name": "input", "datatype": "FP32", "shape": [1, 20], '
        f'"data": [{values}]}}]}}\'\n\n'
        f"OpenAPI document: {base}/v1/models/{MODEL}/openapi.json   Metrics: {base}/metrics\n",
        flush=True,
    )


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    models = user_data_dir() / "quickstart" / "models"
    if not (models / MODEL / "1" / MODEL_FILE).is_file():
        print(f"training the sample model into {models} ...", flush=True)
        # A child process trains it, so the serving process never holds scikit-learn.
        script = (
            "import sys, pathlib; from modelfleet.agent.node.sample import write_sample_model; "
        )
        script += "write_sample_model(pathlib.Path(sys.argv[1]), name=sys.argv[2])"
        subprocess.run([sys.executable, "-c", script, str(models), MODEL], check=True)
    config = AgentConfig(
        models_dir=models,
        host=HOST,
        http_port=free_or_any(8000),
        grpc_port=free_or_any(8001),
        control_token_file=default_token_file(),
    )
    return run_agent(config, on_ready=print_examples)


if __name__ == "__main__":
    sys.exit(main())
