"""Send customer traffic to a deployed model on an agent: reference-like rows, then shifted ones.

    python examples/traffic.py --agent http://127.0.0.1:8081 --deployment churn \
        --calm-rows 3000 --shifted-seconds 60 --csv-dir traffic

The customers come from the same generator as the training data of
examples/notebook_quickstart.py; the shifted ones pay more and call support more often.
With --csv-dir, the training-like reference and the shifted rows are also written as
reference.csv and shifted.csv for `modelfleet drift report`.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from notebook_quickstart import FEATURES, customers


class Agent:
    """One keep-alive HTTP connection to an agent's friendly predict endpoint."""

    def __init__(self, url: str, deployment: str, token: str = "") -> None:
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port)
        self.path = f"/v1/models/{deployment}/predict"
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.versions: dict[str, int] = {}

    def predict(self, rows: np.ndarray) -> None:
        body = {"instances": [dict(zip(FEATURES, map(float, row), strict=True)) for row in rows]}
        self.connection.request("POST", self.path, json.dumps(body), self.headers)
        response = self.connection.getresponse()
        answer = json.loads(response.read())
        if response.status != 200:
            raise SystemExit(f"{self.path}: HTTP {response.status}: {answer.get('error')}")
        version = str(answer["model_version"])
        self.versions[version] = self.versions.get(version, 0) + len(rows)


def send(agent: Agent, rows: np.ndarray, per_request: int) -> None:
    for start in range(0, len(rows), per_request):
        agent.predict(rows[start : start + per_request])


def write_csv(path: Path, rows: np.ndarray) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(FEATURES)
        writer.writerows(rows.tolist())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", default="http://127.0.0.1:8081", help="agent's REST address")
    parser.add_argument("--deployment", default="churn")
    parser.add_argument("--token", default="", help="bearer token, when the agent wants one")
    parser.add_argument("--calm-rows", type=int, default=3000, help="reference-like rows first")
    parser.add_argument("--shifted-seconds", type=float, default=60.0, help="then shift this long")
    parser.add_argument("--shift", type=float, default=1.0, help="in standard deviations")
    parser.add_argument("--rows-per-request", type=int, default=50)
    parser.add_argument("--rate", type=float, default=1000.0, help="rows per second, at most")
    parser.add_argument("--csv-dir", type=Path, help="write reference.csv and shifted.csv here")
    args = parser.parse_args()

    agent = Agent(args.agent, args.deployment, args.token)
    send(agent, customers(args.calm_rows, seed=10), args.rows_per_request)
    print(f"sent {args.calm_rows} reference-like rows", flush=True)

    shifted: list[np.ndarray] = []
    started = time.monotonic()
    seed = 11
    while time.monotonic() - started < args.shifted_seconds:
        rows = customers(args.rows_per_request, seed=seed, shift=args.shift)
        agent.predict(rows)
        shifted.append(rows)
        seed += 1
        # Pace the stream so it spans the whole duration (alert rules look at time windows).
        ahead = len(shifted) * args.rows_per_request / args.rate - (time.monotonic() - started)
        time.sleep(max(0.0, ahead))
    sent = sum(len(rows) for rows in shifted)
    print(f"sent {sent} shifted rows over {args.shifted_seconds:g} s", flush=True)
    print("rows per model version:", json.dumps(agent.versions), flush=True)

    if args.csv_dir is not None:
        args.csv_dir.mkdir(parents=True, exist_ok=True)
        write_csv(args.csv_dir / "reference.csv", customers(5000, seed=0))
        write_csv(args.csv_dir / "shifted.csv", np.concatenate(shifted))
        print(f"wrote {args.csv_dir / 'reference.csv'} and {args.csv_dir / 'shifted.csv'}")


if __name__ == "__main__":
    main()
