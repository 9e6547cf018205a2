"""The Quick Start's traffic: paced OIP requests to the deployment, a drifting phase after a
while, and ground-truth feedback for the requests a moment later."""

from __future__ import annotations

import http.client
import threading
import time
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np
import orjson

from modelfleet.local._fraud import FEATURES, transactions

FEEDBACK_EVERY_S = 1.0
HTTP_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class TrafficStats:
    """What the generator did so far (client side); `drift` is the current shift, 0..1."""

    requests: int
    errors: int
    rows: int
    drift: float
    labels_sent: int
    labels_accepted: int
    last_error: str


@dataclass(frozen=True, slots=True)
class TrafficPlan:
    """Pace and shape: `rate_rps` requests of `rows` rows each; after `drift_after_s` the
    inputs shift, reaching full drift `drift_ramp_s` later."""

    rate_rps: float = 20.0
    rows: int = 8
    drift_after_s: float = 30.0
    drift_ramp_s: float = 10.0
    seed: int = 1


class TrafficGenerator:
    """Sends requests on its own thread until `stop()`; `stats()` may be read any time."""

    def __init__(self, rest_url: str, deployment: str, plan: TrafficPlan | None = None) -> None:
        url = urlsplit(rest_url)
        self._host, self._port = url.hostname or "127.0.0.1", url.port or 80
        self.deployment = deployment
        self.plan = plan or TrafficPlan()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pending: deque[dict[str, object]] = deque()
        self._requests = self._errors = self._rows = 0
        self._labels_sent = self._labels_accepted = 0
        self._drift = 0.0
        self._last_error = ""
        self._t0 = 0.0

    def start(self) -> None:
        if self._thread is not None:
            return
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="quickstart-traffic", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stats(self) -> TrafficStats:
        with self._lock:
            return TrafficStats(
                self._requests, self._errors, self._rows, self._drift,
                self._labels_sent, self._labels_accepted, self._last_error,
            )  # fmt: skip

    def drift_level(self, elapsed_s: float) -> float:
        plan = self.plan
        if elapsed_s < plan.drift_after_s:
            return 0.0
        return min(1.0, (elapsed_s - plan.drift_after_s) / max(plan.drift_ramp_s, 1e-9))

    def _run(self) -> None:
        rng = np.random.default_rng(self.plan.seed)
        connection = self._connect()
        period = 1.0 / self.plan.rate_rps
        next_send = next_feedback = time.monotonic()
        n = 0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_feedback:
                connection = self._send_feedback(connection)
                next_feedback = now + FEEDBACK_EVERY_S
            drift = self.drift_level(now - self._t0)
            x, y = transactions(self.plan.rows, rng, drift)
            n += 1
            request_id = f"qs-{self._t0:.0f}-{n}"
            body = {
                "id": request_id,
                "inputs": [{"name": "input", "datatype": "FP32", "shape": list(x.shape),
                            "data": x.ravel().tolist()}],
            }  # fmt: skip
            status, error, connection = self._post(connection, "infer", body)
            with self._lock:
                self._requests += 1
                self._rows += len(y)
                self._drift = drift
                if status != 200:
                    self._errors += 1
                    self._last_error = error
            if status == 200:
                self._pending.append({"id": request_id, "label": y.tolist()})
            next_send += period
            self._stop.wait(max(0.0, next_send - time.monotonic()))
        connection.close()

    def _send_feedback(self, connection: http.client.HTTPConnection) -> http.client.HTTPConnection:
        # Labels of the last second, sent together: ground truth usually arrives in batches.
        items = [self._pending.popleft() for _ in range(len(self._pending))]
        if not items:
            return connection
        status, _error, connection = self._post(connection, "feedback", {"feedback": items})
        with self._lock:
            self._labels_sent += len(items)
            if status == 200:
                self._labels_accepted += len(items)
        return connection

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self._host, self._port, timeout=HTTP_TIMEOUT_S)

    def _post(
        self, connection: http.client.HTTPConnection, action: str, body: object
    ) -> tuple[int, str, http.client.HTTPConnection]:
        path = (
            f"/v2/models/{self.deployment}/infer"
            if action == "infer"
            else f"/v1/models/{self.deployment}/feedback"
        )
        try:
            connection.request(
                "POST", path, orjson.dumps(body), {"Content-Type": "application/json"}
            )
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            return 0, f"{action}: {exc}", self._connect()
        error = "" if response.status == 200 else f"{action}: HTTP {response.status} {data[:200]!r}"
        return response.status, error, connection


def example_row() -> dict[str, float]:
    """One undrifted transaction by feature name, for the ready-to-paste curl."""
    x, _ = transactions(1, np.random.default_rng(7))
    return {name: round(float(v), 3) for name, v in zip(FEATURES, x[0], strict=True)}
