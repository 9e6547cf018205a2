"""The transport-neutral inference path: admission, validation, batching, accounting."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from modelfleet.agent.node.errors import (
    DeadlineExceeded,
    InvalidInput,
    Overloaded,
    ServingError,
    TooLarge,
    Unavailable,
    as_serving_error,
)
from modelfleet.agent.node.limits import Limits
from modelfleet.agent.node.metrics import MetricsRegistry
from modelfleet.agent.node.models import ModelManager, ModelVersion
from modelfleet.agent.node.routing import KeyLookup
from modelfleet.oip import DecodedRequest, TensorSpec

log = logging.getLogger(__name__)

Outputs = dict[str, np.ndarray]


class Call:
    """An admitted request: its decoded form and the future of the model's outputs."""

    __slots__ = ("future", "mv", "names", "request")

    def __init__(
        self,
        mv: ModelVersion,
        request: DecodedRequest,
        future: asyncio.Future[list[np.ndarray]],
        names: list[str],
    ) -> None:
        self.mv = mv
        self.request = request
        self.future = future
        self.names = names

    def outputs(self) -> Outputs:
        """The requested outputs by name once `future` is done; raises a ServingError."""
        try:
            results = self.future.result()
        except ServingError:
            raise
        except Exception as exc:
            raise as_serving_error(exc) from exc
        by_name = dict(zip(self.names, results, strict=True))
        wanted = self.request.outputs
        return by_name if wanted is None else {n: by_name[n] for n in wanted}


class InferenceService:
    """Runs decoded requests against the model versions of a ModelManager."""

    def __init__(self, manager: ModelManager, limits: Limits, metrics: MetricsRegistry) -> None:
        self.manager = manager
        self.limits = limits
        self.metrics = metrics
        self.draining = False
        #: told about every queued request (monitoring: request ids); what the model answered
        #: goes to `manager.on_batch`, once per batch
        self.observer: Callable[[Call], None] | None = None
        self._per_model: dict[str, int] = {}
        self._loop = asyncio.get_running_loop()
        self._deadlines = Deadlines(self._loop)

    def admit(
        self, name: str, version: str | None, key_of: KeyLookup | None = None
    ) -> ModelVersion:
        """Pick the serving version and count the request in, or raise (counted)."""
        try:
            if self.draining:
                raise Unavailable("the agent is shutting down")
            mv = self.manager.resolve(name, version, key_of)
            if self._per_model.get(name, 0) >= self.limits.max_in_flight:
                mv.stats.finish(Overloaded.status, 0.0)
                raise Overloaded(
                    f"model '{name}' has {self.limits.max_in_flight} requests in flight; "
                    "retry later"
                )
        except ServingError as exc:
            if not isinstance(exc, Overloaded):
                self.metrics.reject(exc.status)
            raise
        mv.acquire()
        self._per_model[name] = self._per_model.get(name, 0) + 1
        return mv

    def submit(
        self,
        name: str,
        version: str | None,
        decode: Callable[[ModelVersion], DecodedRequest],
        started: float,
        budget_s: float | None = None,
        key_of: KeyLookup | None = None,
    ) -> Call:
        """Admit, decode, validate and queue one request; every outcome is counted.

        Errors found before queueing are raised here (as ServingError); later ones arrive
        through `Call.future`. Callbacks instead of a task per request keep the loop's
        per-request cost low.
        """
        mv = self.admit(name, version, key_of)
        try:
            request = decode(mv)
            future, names = self._enqueue(mv, request)
        except Exception as exc:
            error = as_serving_error(exc)
            self._account(mv, started, error)
            if error is exc:
                raise
            raise error from exc
        limit = self.limits.request_timeout_s if budget_s is None else budget_s
        due = self._deadlines.add(future, limit)
        call = Call(mv, request, future, names)
        # One done callback per request does the accounting.
        future.add_done_callback(partial(self._finished, call, started, due))
        if self.observer is not None:
            self.observer(call)
        return call

    def _finished(
        self,
        call: Call,
        started: float,
        due: dict[asyncio.Future[Any], float],
        future: asyncio.Future[list[np.ndarray]],
    ) -> None:
        due.pop(future, None)
        error = asyncio.CancelledError() if future.cancelled() else future.exception()
        self._account(call.mv, started, error)

    def _account(self, mv: ModelVersion, started: float, error: BaseException | None) -> None:
        if error is None:
            status = "ok"
        elif isinstance(error, asyncio.CancelledError):
            status = "cancelled"
        else:
            mapped = as_serving_error(error)
            status = mapped.status
            if type(mapped) is ServingError:
                log.error(
                    "[Infer] model=%s version=%s unexpected error",
                    mv.name,
                    mv.version,
                    exc_info=error,
                )
        mv.stats.finish(status, time.perf_counter() - started)
        self._per_model[mv.name] -= 1
        mv.release()

    def _enqueue(
        self, mv: ModelVersion, request: DecodedRequest
    ) -> tuple[asyncio.Future[list[np.ndarray]], list[str]]:
        model, batcher = mv.model, mv.batcher
        if model is None or batcher is None:
            raise Unavailable(f"model '{mv.name}' version {mv.version} is unloading")
        signature = model.signature
        inputs = request.inputs
        if len(inputs) != len(signature.inputs) or any(
            spec.name not in inputs for spec in signature.inputs
        ):
            raise InvalidInput(_input_names_error(signature.inputs, inputs))
        rows: int | None = None
        for spec in signature.inputs:
            array = inputs[spec.name]
            spec.check(array)
            first = array.shape[0] if array.ndim else 1
            if first > self.limits.max_batch_rows:
                raise TooLarge(
                    f"input '{spec.name}' has {first} rows; "
                    f"the limit is {self.limits.max_batch_rows}"
                )
            rows = first if rows is None or rows == first else -1
        names = [spec.name for spec in signature.outputs]
        wanted = request.outputs
        if wanted is not None:
            unknown = [n for n in wanted if n not in names]
            if unknown:
                raise InvalidInput(
                    f"unknown output {unknown[0]!r}; model outputs are {', '.join(names)}"
                )
        feed = model.prepare(inputs)
        future = batcher.submit(feed, rows if rows is not None and rows >= 0 else None, request)
        return future, names

    def in_flight(self) -> int:
        return sum(self._per_model.values())


class Deadlines:
    """Fails requests still unanswered at their deadline with DeadlineExceeded.

    Deadlines are grouped into 5 ms slices with one timer per slice, not one per request:
    at thousands of requests a second a timer each (armed, then cancelled) costs more than
    the whole of some models' runs. A request expires up to one slice late.
    """

    SLICE_S = 0.005

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._slices: dict[int, dict[asyncio.Future[Any], float]] = {}

    def add(self, future: asyncio.Future[Any], limit: float) -> dict[asyncio.Future[Any], float]:
        """Watch `future`; the returned group is where to drop it once it is done."""
        key = math.ceil((self._loop.time() + limit) / self.SLICE_S)
        group = self._slices.get(key)
        if group is None:
            group = self._slices[key] = {}
            self._loop.call_at(key * self.SLICE_S, self._expire, key)
        group[future] = limit
        return group

    def _expire(self, key: int) -> None:
        for future, limit in self._slices.pop(key, {}).items():
            if not future.done():
                future.set_exception(DeadlineExceeded(f"no result within the {limit:g} s deadline"))


def _input_names_error(specs: tuple[TensorSpec, ...], inputs: dict[str, np.ndarray]) -> str:
    expected = [s.name for s in specs]
    missing = [n for n in expected if n not in inputs]
    extra = [n for n in inputs if n not in expected]
    parts = []
    if missing:
        parts.append("missing input " + ", ".join(repr(n) for n in missing))
    if extra:
        parts.append("unexpected input " + ", ".join(repr(n) for n in extra))
    return "; ".join(parts) + f" (model inputs: {', '.join(expected)})"
