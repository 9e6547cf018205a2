"""Runs from a notebook or script: `start_run`, the `ActiveRun` handle, and flush at exit."""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from modelfleet.client import HubClient, Run, RunArtifact, RunStatus
from modelfleet.proto.v1 import tracking_pb2
from modelfleet.sdk._connect import current_client
from modelfleet.sdk._sender import MetricSender, SenderPolicy, send_with_retry

_now_ns = time.time_ns
_KEY = re.compile(r"[A-Za-z0-9_\-./ ]{1,250}")
_active: list[ActiveRun] = []
_active_lock = threading.Lock()


class ActiveRun:
    """A run being logged to. `log_metric` only buffers; `end` ships and waits."""

    def __init__(
        self, client: HubClient, run: Run, policy: SenderPolicy, flush_timeout: float | None
    ) -> None:
        self.client = client
        self.info = run
        self.id = run.id
        self._policy = policy
        self._flush_timeout = flush_timeout
        self._workspace = client.workspace
        self._keys: list[str] = []
        self._codes: dict[str, int] = {}
        self._steps: list[int] = []
        self._sender = MetricSender(run.id, self._keys, self._send, policy)
        self._add = self._sender.add
        self._ended = False

    def _send(self, request: tracking_pb2.LogBatchRequest) -> tracking_pb2.LogBatchResponse:
        return self.client.log_batch(request, workspace=self._workspace)

    # --- the training loop's calls ----------------------------------------------------

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        """Buffer one point; `step` defaults to the number of points logged for `key`."""
        code = self._codes.get(key)
        if code is None:
            code = self._new_key(key)
        value = float(value)
        if value - value != 0.0:  # NaN or infinite, in one comparison
            raise ValueError(f"log_metric({key!r}): value must be finite, got {value}")
        if step is None:
            step = self._steps[code]
            self._steps[code] = step + 1
        self._add(code, value, step, _now_ns() // 1_000_000)

    def _new_key(self, key: str) -> int:
        _check_key(key)
        self._keys.append(key)
        self._steps.append(0)
        self._codes[key] = len(self._keys) - 1
        return self._codes[key]

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        for key, value in metrics.items():
            self.log_metric(key, value, step)

    # --- params, tags, artifacts: sent at once, refused where they are called -----------

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Params are write-once on the hub: logging a different value raises InvalidArgument."""
        self._send_now(params={k: str(v) for k, v in params.items()})

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self._send_now(tags={k: str(v) for k, v in tags.items()})

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def _send_now(
        self, params: dict[str, str] | None = None, tags: dict[str, str] | None = None
    ) -> None:
        request = tracking_pb2.LogBatchRequest(
            run_id=self.id, idempotency_key=os.urandom(16).hex(), params=params, tags=tags
        )
        send_with_retry(self._send, request, self._policy)

    def log_artifact(self, path: str | os.PathLike[str], artifact_path: str = "") -> RunArtifact:
        """Upload a file (resumable, deduplicated) and place it in the run's artifact tree."""
        source = Path(path)
        info = self.client.upload_artifact(source, workspace=self._workspace)
        where = artifact_path or source.name
        return self.client.log_artifact(self.id, where, info.sha256, workspace=self._workspace)

    # --- the end ----------------------------------------------------------------------------

    def flush(self) -> None:
        """Wait until everything logged so far is stored (raises DeliveryError if it cannot)."""
        self._sender.close(self._flush_timeout)
        self._sender = MetricSender(self.id, self._keys, self._send, self._policy)
        self._add = self._sender.add

    def end(self, status: RunStatus = RunStatus.FINISHED) -> Run:
        """Ship the buffered metrics, then close the run with `status`.

        Raises DeliveryError when metrics could not be delivered; the run is then marked
        FAILED if the hub can still be reached.
        """
        if self._ended:
            return self.info
        self._ended = True
        _forget(self)
        try:
            self._sender.close(self._flush_timeout)
        except BaseException:
            # The delivery error is the one to report; marking the run is best effort.
            with contextlib.suppress(Exception):
                self.client.update_run(
                    self.id, status=RunStatus.FAILED, end_time=datetime.now(UTC),
                    workspace=self._workspace,
                )  # fmt: skip
            raise
        self.info = self.client.update_run(
            self.id, status=status, end_time=datetime.now(UTC), workspace=self._workspace
        )
        return self.info

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.end(RunStatus.FINISHED)
        else:
            killed = issubclass(exc_type, KeyboardInterrupt)
            self.end(RunStatus.KILLED if killed else RunStatus.FAILED)


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError(
            f"metric key must be 1-250 letters, digits, spaces, '_', '-', '.' or '/', got {key!r}"
        )


def start_run(
    experiment: str = "default",
    *,
    name: str = "",
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    parent_run_id: str | None = None,
    client: HubClient | None = None,
    policy: SenderPolicy | None = None,
    flush_timeout: float | None = None,
) -> ActiveRun:
    """Create a run in `experiment` (created when missing) and start its sender.

    Use it as a context manager: the run ends FINISHED, or FAILED when the block raises.
    Runs still open at interpreter exit are ended there.
    """
    hub = client or current_client()
    run = hub.create_run(
        experiment,
        name=name,
        params={k: str(v) for k, v in (params or {}).items()},
        tags={k: str(v) for k, v in (tags or {}).items()},
        parent_run_id=parent_run_id,
    )
    active = ActiveRun(hub, run, policy or SenderPolicy(), flush_timeout)
    with _active_lock:
        _active.append(active)
    return active


def active_run() -> ActiveRun | None:
    """The most recently started run that has not ended."""
    with _active_lock:
        return _active[-1] if _active else None


def _forget(run: ActiveRun) -> None:
    with _active_lock:
        if run in _active:
            _active.remove(run)


@atexit.register
def _end_open_runs() -> None:
    # An exception here is printed by the interpreter, so undelivered data is not silent.
    errors = []
    while (run := active_run()) is not None:
        try:
            run.end(RunStatus.FINISHED)
        except Exception as exc:
            errors.append(exc)
    if errors:
        raise errors[0]
