"""The bounded prediction log of a deployment, and joining ground-truth feedback to it."""

from __future__ import annotations

import itertools
import math
import secrets
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from modelfleet.agent.node.errors import InvalidInput
from modelfleet.agent.node.monitor._quality import REGRESSION, RollingQuality, task_of

DEFAULT_LOG_SIZE = 100_000
MAX_FEEDBACK_ITEMS = 10_000
MAX_ID_LENGTH = 256


class RequestIds:
    """Ids for requests that came without one: a random per-process prefix and a counter
    (unique, and far cheaper than a UUID per request)."""

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(6)
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}-{next(self._counter)}"


class LoggedPrediction(NamedTuple):
    """One request's predictions (rows of the model's prediction and score outputs)."""

    version: str
    predicted: np.ndarray
    scores: np.ndarray | None
    labelled: bool = False


@dataclass(frozen=True, slots=True)
class Label:
    """A validated feedback item: the entry it joins, its labels (one per row) and its place
    in the log."""

    id: str
    entry: LoggedPrediction
    truth: list[Any]
    key: int


@dataclass(slots=True)
class FeedbackResult:
    accepted: int = 0
    unknown_ids: list[str] = field(default_factory=list)
    duplicate_ids: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)


# A request's place in the log is one int: its first row's position in the deployment's row
# sequence, its number of rows, the ring holding them and whether it was labelled.
_LABELLED = 1
_RING_SHIFT = 1
_RING_BITS = 16
_ROWS_SHIFT = _RING_SHIFT + _RING_BITS
_ROWS_BITS = 32
_START_SHIFT = _ROWS_SHIFT + _ROWS_BITS
_MAX_RINGS = 1 << _RING_BITS
_FIRST_SIZE = 1024


class _Ring:
    """The rows of one version with one output layout (dtype, row shape), in preallocated
    arrays addressed by the deployment's row sequence: row `r` of the deployment lives at
    `r % capacity` once the arrays have grown to `capacity` rows, and at `r - base` before
    (they start small and double, so a deployment with little traffic stays small)."""

    __slots__ = (
        "base",
        "capacity",
        "end",
        "pdtype",
        "predicted",
        "ptrail",
        "scores",
        "sdtype",
        "size",
        "strail",
        "version",
    )

    def __init__(
        self, version: str, base: int, capacity: int, predicted: np.ndarray, scores: Any
    ) -> None:
        self.version = version
        self.base = base
        self.capacity = capacity
        self.end = base  # one past the last row copied in
        self.size = min(capacity, _FIRST_SIZE)
        self.pdtype, self.ptrail = predicted.dtype, predicted.shape[1:]
        self.predicted = _empty(self.size, predicted)
        self.sdtype = None if scores is None else scores.dtype
        self.strail = None if scores is None else scores.shape[1:]
        self.scores = None if scores is None else _empty(self.size, scores)

    def fits(self, version: str, predicted: np.ndarray, scores: np.ndarray | None) -> bool:
        """Same version and layout (identity checks first: this runs for every batch)."""
        if version is not self.version and version != self.version:
            return False
        dtype = predicted.dtype
        if dtype is not self.pdtype and dtype != self.pdtype:
            return False
        ndim = predicted.ndim
        if ndim != len(self.ptrail) + 1 or (ndim > 1 and predicted.shape[1:] != self.ptrail):
            return False
        if scores is None or self.strail is None:
            return scores is None and self.strail is None
        dtype = scores.dtype
        if dtype is not self.sdtype and dtype != self.sdtype:
            return False
        ndim = scores.ndim
        return ndim == len(self.strail) + 1 and (ndim == 1 or scores.shape[1:] == self.strail)

    def write(self, start: int, predicted: np.ndarray, scores: np.ndarray | None) -> None:
        """Copy rows `start` .. `start + n - 1` of the deployment (n <= capacity)."""
        n = predicted.shape[0]
        if self.size < self.capacity:
            at = start - self.base
            if at + n > self.size:
                self._grow(start + n)
                self.write(start, predicted, scores)
                return
            self.end = start + n
            self.predicted[at : at + n] = predicted
            if self.scores is not None:
                self.scores[at : at + n] = scores
            return
        self.end = start + n
        at = start % self.capacity
        first = min(n, self.capacity - at)
        self.predicted[at : at + first] = predicted[:first]
        if scores is not None and self.scores is not None:
            self.scores[at : at + first] = scores[:first]
        if first < n:  # the rows straddle the end of the ring
            self.predicted[: n - first] = predicted[first:]
            if scores is not None and self.scores is not None:
                self.scores[: n - first] = scores[first:]

    def rows(self, start: int, n: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Copies of one request's rows."""
        if self.size < self.capacity:
            at = start - self.base
            where: Any = slice(at, at + n)
        else:
            where = np.arange(start, start + n) % self.capacity
        predicted = self.predicted[where].copy()
        return predicted, None if self.scores is None else self.scores[where].copy()

    def _grow(self, end: int) -> None:
        written = slice(0, self.end - self.base)  # the rows written so far
        wanted = max(2 * self.size, end - self.base)
        if wanted < self.capacity:
            self.predicted = _resized(self.predicted, wanted, written)
            if self.scores is not None:
                self.scores = _resized(self.scores, wanted, written)
            self.size = wanted
            return
        # From now on addressed by position in the deployment's sequence, modulo capacity;
        # rows older than `end - capacity` are not kept (they would be overwritten anyway).
        first = max(self.base, end - self.capacity)
        target = np.arange(first, max(first, self.end)) % self.capacity
        source = slice(first - self.base, first - self.base + target.shape[0])
        self.predicted = _resized(self.predicted, self.capacity, source, target)
        if self.scores is not None:
            self.scores = _resized(self.scores, self.capacity, source, target)
        self.size = self.capacity


def _empty(rows: int, like: np.ndarray) -> np.ndarray:
    return np.empty((rows, *like.shape[1:]), dtype=like.dtype)


def _resized(old: np.ndarray, rows: int, source: slice, target: Any = None) -> np.ndarray:
    new = _empty(rows, old)
    new[source if target is None else target] = old[source]
    return new


class PredictionLog:
    """Predictions by request id, bounded by rows: the newest `capacity` rows of the
    deployment (a request whose rows were partly overwritten is evicted as a whole).

    Predictions arrive a batch at a time, its rows copied into preallocated arrays per
    version and layout (one slice assignment per array and batch), so the log keeps no
    array of its own per request and no reference to the batch. Per request the log holds a
    slot in an ordered dict (id -> one int: first row, row count, ring, labelled), which the
    cyclic garbage collector never tracks.
    """

    def __init__(self, capacity: int = DEFAULT_LOG_SIZE) -> None:
        if not 0 < capacity < 1 << _ROWS_BITS:
            raise ValueError(f"prediction log capacity: expected 1-{(1 << _ROWS_BITS) - 1} rows")
        self.capacity = capacity
        self.evicted = 0
        self._entries: OrderedDict[str, int] = OrderedDict()
        self._rings: list[_Ring | None] = []
        self._ring: _Ring | None = None  # the last one written
        self._ring_no = 0
        self._head = 0  # rows ever logged; the live rows are head - capacity .. head - 1
        self._front = 0  # first row of the oldest entry (or lower)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, request_id: str) -> bool:
        return self._live(request_id) is not None

    def add(self, request_id: str, entry: LoggedPrediction) -> None:
        self.record([request_id], [None], entry.version, entry.predicted, entry.scores)

    def record(
        self,
        request_ids: Sequence[str],
        rows: Sequence[int | None],
        version: str,
        predicted: np.ndarray,
        scores: np.ndarray | None,
    ) -> None:
        """Event loop, per batch: log unlabelled predictions of requests whose rows follow
        each other in `predicted` and `scores` (request i has `rows[i]` rows; None: all of
        them, for a batch of one). The rows are copied into a ring."""
        if predicted.ndim == 0:
            predicted = predicted.reshape(1)
        n = predicted.shape[0]
        if len(request_ids) == 1:
            rows = [n]
        elif sum(r or 0 for r in rows) != n:  # the outputs are not one row per input row
            return
        if scores is not None and (scores.ndim == 0 or scores.shape[0] != n):
            scores = scores.reshape(n, -1) if n and scores.size % n == 0 else None
        if n > self.capacity:
            if len(request_ids) == 1:  # cannot be held: as if evicted at once
                self._entries.pop(request_ids[0], None)
                self.evicted += 1
                return
            offset = 0  # each request on its own, so that only the too large ones are lost
            for request_id, count in zip(request_ids, rows, strict=True):
                end = offset + (count or 0)
                part = None if scores is None else scores[offset:end]
                self.record([request_id], [None], version, predicted[offset:end], part)
                offset = end
            return
        entries = self._entries
        start = self._head
        if n:
            ring = self._ring
            if ring is None or not ring.fits(version, predicted, scores):
                ring = self._ring_for(version, predicted, scores)
            ring.write(start, predicted, scores)
        self._head = head = start + n
        if not entries:
            self._front = start
        ring_bits = self._ring_no << _RING_SHIFT
        for request_id, count in zip(request_ids, rows, strict=True):
            if request_id in entries:  # a client reusing an id: the newest prediction wins
                del entries[request_id]
            if count:
                entries[request_id] = start << _START_SHIFT | count << _ROWS_SHIFT | ring_bits
                start += count
        if head - self.capacity > self._front:
            self._evict()

    def get(self, request_id: str) -> LoggedPrediction | None:
        key = self._live(request_id)
        return None if key is None else self._entry(key)

    def join(
        self, items: Any, quality_of: Callable[[LoggedPrediction], RollingQuality]
    ) -> FeedbackResult:
        """Validate every item first (a bad one refuses the whole batch, nothing is stored),
        then label the known ids; unknown and already labelled ids are reported."""
        labels, result = self._validate(items)
        touched: dict[str, None] = {}
        for label in labels:
            if label.entry.labelled:
                result.duplicate_ids.append(label.id)
                continue
            # Same position in the log: assigning an existing key keeps its order.
            self._entries[label.id] = label.key | _LABELLED
            quality_of(label.entry).add(label.truth, label.entry.predicted, label.entry.scores)
            touched[label.entry.version] = None
            result.accepted += 1
        result.versions = sorted(touched, key=int)
        return result

    def _live(self, request_id: str) -> int | None:
        key = self._entries.get(request_id)
        if key is None or key >> _START_SHIFT < self._head - self.capacity:
            return None
        return key

    def _entry(self, key: int) -> LoggedPrediction:
        ring = self._rings[key >> _RING_SHIFT & (_MAX_RINGS - 1)]
        assert ring is not None  # a live entry's ring is never freed
        n = key >> _ROWS_SHIFT & ((1 << _ROWS_BITS) - 1)
        predicted, scores = ring.rows(key >> _START_SHIFT, n)
        return LoggedPrediction(ring.version, predicted, scores, bool(key & _LABELLED))

    def _evict(self) -> None:
        """Drop the entries whose first row was overwritten (they are in row order)."""
        entries = self._entries
        oldest = self._head - self.capacity
        while entries:
            request_id = next(iter(entries))
            start = entries[request_id] >> _START_SHIFT
            if start >= oldest:
                self._front = start
                return
            entries.popitem(last=False)
            self.evicted += 1

    def _ring_for(self, version: str, predicted: np.ndarray, scores: np.ndarray | None) -> _Ring:
        """The ring of this version and layout, made on first use; rings without a live row
        are freed (their slot reused)."""
        oldest = self._head - self.capacity
        free = None
        for no, ring in enumerate(self._rings):
            if ring is not None and ring.end <= oldest and ring.end > ring.base:
                self._rings[no] = ring = None
            if ring is None:
                free = no if free is None else free
            elif ring.fits(version, predicted, scores):
                self._ring, self._ring_no = ring, no
                return ring
        ring = _Ring(version, self._head, self.capacity, predicted, scores)
        if free is None:
            if len(self._rings) >= _MAX_RINGS:
                raise RuntimeError("prediction log: too many output layouts at once")
            free = len(self._rings)
            self._rings.append(ring)
        else:
            self._rings[free] = ring
        self._ring, self._ring_no = ring, free
        return ring

    def _validate(self, items: Any) -> tuple[list[Label], FeedbackResult]:
        if not isinstance(items, list) or not items:
            raise InvalidInput("feedback: expected a non-empty list of {id, label} objects")
        if len(items) > MAX_FEEDBACK_ITEMS:
            raise InvalidInput(f"feedback: at most {MAX_FEEDBACK_ITEMS} items per call")
        labels: list[Label] = []
        result = FeedbackResult()
        seen: set[str] = set()
        for index, item in enumerate(items):
            where = f"feedback[{index}]"
            if not isinstance(item, dict):
                raise InvalidInput(f"{where}: expected an object with 'id' and 'label'")
            unknown_keys = sorted(set(item) - {"id", "label"})
            if unknown_keys:
                raise InvalidInput(f"{where}: unexpected field {unknown_keys[0]!r}")
            request_id = item.get("id")
            if not isinstance(request_id, str) or not 0 < len(request_id) <= MAX_ID_LENGTH:
                raise InvalidInput(
                    f"{where}.id: expected the request id (1-{MAX_ID_LENGTH} characters), "
                    f"got {_show(request_id)}"
                )
            if "label" not in item:
                raise InvalidInput(f"{where}.label: missing")
            if request_id in seen:
                raise InvalidInput(f"{where}.id: {request_id!r} appears twice in this batch")
            seen.add(request_id)
            key = self._live(request_id)
            if key is None:
                result.unknown_ids.append(request_id)
                continue
            entry = self._entry(key)
            truth = _truth(f"{where}.label", item["label"], entry)
            labels.append(Label(request_id, entry, truth, key))
        return labels, result


def _truth(where: str, label: Any, entry: LoggedPrediction) -> list[Any]:
    rows = entry.predicted.shape[0]
    values = label if isinstance(label, list) else [label]
    if len(values) != rows:
        shape = "a single label" if rows == 1 else f"a list of {rows} labels (one per row)"
        raise InvalidInput(f"{where}: the request had {rows} row(s); expected {shape}")
    regression = task_of(entry.predicted) == REGRESSION
    text_classes = entry.predicted.dtype.kind in "OSU"
    checked = []
    for i, value in enumerate(values):
        at = where if rows == 1 and not isinstance(label, list) else f"{where}[{i}]"
        checked.append(_check_value(at, value, regression, text_classes))
    return checked


def _check_value(where: str, value: Any, regression: bool, text_classes: bool) -> Any:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if regression:
        if not number or not math.isfinite(value):
            raise InvalidInput(f"{where}: expected a finite number (regression model), got "
                               f"{_show(value)}")  # fmt: skip
        return float(value)
    if text_classes:
        if not isinstance(value, str):
            raise InvalidInput(f"{where}: expected a class label string, got {_show(value)}")
        return value
    if isinstance(value, bool):
        return int(value)
    if number and math.isfinite(value) and float(value).is_integer():
        return int(value)
    raise InvalidInput(f"{where}: expected an integer class label, got {_show(value)}")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
