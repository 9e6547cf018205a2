"""The metric buffer and its background sender: the training loop appends, a thread ships.

`MetricSender.add` is the hot path: one lock and four appends to typed arrays (C, no
Python objects kept per point). The sender thread swaps the arrays out and sends their
bytes as one columnar LogBatch with an idempotency key, so turning points into a message
costs no per-point Python work either. It retries with jittered back-off while the hub is
unavailable or slow, reusing the key, so a batch the hub stored before the connection
dropped is not stored twice. Refusals (bad input, no permission) are not retried.

When the buffer holds `max_buffered` points, `add` blocks until the sender has taken
points out: nothing is dropped while delivery can still succeed. Once delivery has failed
for good, further points are counted as lost instead of blocking the training loop, and
`close` raises DeliveryError.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from modelfleet.client import DeadlineExceeded, ModelfleetError, Unavailable
from modelfleet.proto.v1 import tracking_pb2

log = logging.getLogger(__name__)


class DeliveryError(ModelfleetError):
    """Some logged data did not reach the hub; `lost` points were not stored."""

    def __init__(self, message: str, *, lost: int) -> None:
        super().__init__(message)
        self.lost = lost


@dataclass(frozen=True, slots=True)
class SenderPolicy:
    # Points buffered at most (plus the batch in flight); `log_metric` waits beyond it.
    max_buffered: int = 1_000_000
    # Points per LogBatch.
    batch_size: int = 50_000
    # How often a partly filled buffer is shipped, seconds.
    flush_interval: float = 1.0
    # How long one batch keeps being retried while the hub is unreachable, seconds.
    retry_for: float = 300.0
    backoff_base: float = 0.2
    backoff_cap: float = 5.0

    def __post_init__(self) -> None:
        if self.max_buffered < self.batch_size or self.batch_size < 1:
            raise ValueError("need 1 <= batch_size <= max_buffered")
        if self.retry_for <= 0 or self.flush_interval <= 0:
            raise ValueError("retry_for and flush_interval must be > 0 seconds")


Send = Callable[[tracking_pb2.LogBatchRequest], tracking_pb2.LogBatchResponse]


def send_with_retry(send: Send, request: tracking_pb2.LogBatchRequest, policy: SenderPolicy) -> int:
    """Send one batch until it is stored, refused, or `policy.retry_for` has passed."""
    give_up = time.monotonic() + policy.retry_for
    attempt = 0
    while True:
        try:
            return send(request).metrics_stored
        except (Unavailable, DeadlineExceeded) as exc:
            delay = random.uniform(0, min(policy.backoff_cap, policy.backoff_base * 2**attempt))  # noqa: S311
            if time.monotonic() + delay > give_up:
                raise DeliveryError(
                    f"the hub stayed unreachable for {policy.retry_for:.0f} s: {exc}", lost=0
                ) from exc
            attempt += 1
            log.debug("[Tracking.LogBatch] %s; retry %d in %.2f s", exc, attempt, delay)
            time.sleep(delay)


@dataclass(slots=True)
class Columns:
    """Buffered points as typed arrays; `codes` index the sender's key list."""

    codes: array[int]
    values: array[float]
    steps: array[int]
    stamps: array[int]

    @classmethod
    def empty(cls) -> Columns:
        return cls(array("I"), array("d"), array("q"), array("q"))

    def __len__(self) -> int:
        return len(self.values)

    def split(self, at: int) -> tuple[Columns, Columns]:
        def part(sl: slice) -> Columns:
            return Columns(self.codes[sl], self.values[sl], self.steps[sl], self.stamps[sl])

        return part(slice(None, at)), part(slice(at, None))

    def message(self, keys: Sequence[str]) -> tracking_pb2.MetricColumns:
        # array's native byte order is little-endian on every platform this ships for.
        return tracking_pb2.MetricColumns(
            keys=list(keys),
            key_index=self.codes.tobytes(),
            values=self.values.tobytes(),
            steps=self.steps.tobytes(),
            timestamps_ms=self.stamps.tobytes(),
        )


class MetricSender:
    """One run's buffer and sender thread. `keys` grows as the run meets new metric keys."""

    def __init__(self, run_id: str, keys: list[str], send: Send, policy: SenderPolicy) -> None:
        self._run_id = run_id
        self._keys = keys
        self._send = send
        self._policy = policy
        self._buffer = Columns.empty()
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._closing = False
        self._prefix = uuid.uuid4().hex
        self._sequence = 0
        self.delivered = 0
        self.lost = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"modelfleet-{run_id}", daemon=True)
        self._thread.start()

    def add(self, code: int, value: float, step: int, stamp: int) -> None:
        with self._lock:
            buffer = self._buffer
            n = len(buffer.values)
            if n >= self._policy.max_buffered:
                self._wait_for_room()
                buffer = self._buffer
            if self.error is not None:
                self.lost += 1
                return
            buffer.codes.append(code)
            buffer.values.append(value)
            buffer.steps.append(step)
            buffer.stamps.append(stamp)
        if n + 1 == self._policy.batch_size:
            self._wake.set()

    def _wait_for_room(self) -> None:
        self._wake.set()
        while len(self._buffer) >= self._policy.max_buffered and self.error is None:
            self._room.wait(0.5)

    def _take(self) -> Columns:
        """At most one batch from the front of the buffer."""
        with self._lock:
            if len(self._buffer) <= self._policy.batch_size:
                taken, self._buffer = self._buffer, Columns.empty()
            else:
                taken, self._buffer = self._buffer.split(self._policy.batch_size)
            self._room.notify_all()
        return taken

    def _run(self) -> None:
        while True:
            self._wake.wait(self._policy.flush_interval)
            self._wake.clear()
            while len(batch := self._take()):
                if not self._ship(batch):
                    return
            if self._closing:
                return

    def _ship(self, batch: Columns) -> bool:
        self._sequence += 1
        request = tracking_pb2.LogBatchRequest(
            run_id=self._run_id,
            idempotency_key=f"{self._prefix}-{self._sequence}",
            columns=batch.message(self._keys),
        )
        try:
            self.delivered += send_with_retry(self._send, request, self._policy)
            return True
        except BaseException as exc:
            with self._lock:
                self.error = exc
                self.lost += len(batch) + len(self._buffer)
                self._buffer = Columns.empty()
                self._room.notify_all()
            log.warning("[Tracking.LogBatch] run=%s delivery failed: %s", self._run_id, exc)
            return False

    def close(self, timeout: float | None = None) -> None:
        """Ship everything buffered and stop; DeliveryError when anything was not stored."""
        self._closing = True
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            with self._lock:
                pending = len(self._buffer)
            raise DeliveryError(
                f"metrics still unsent after waiting {timeout} s ({pending} points buffered)",
                lost=pending,
            )
        if self.error is not None or self.lost:
            raise DeliveryError(
                f"{self.lost} metric points were not stored (delivered {self.delivered}): "
                f"{self.error}",
                lost=self.lost,
            ) from self.error
