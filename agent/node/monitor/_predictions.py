"""The bounded prediction log of a deployment, and joining ground-truth feedback to it."""

from __future__ import annotations

import itertools
import math
import secrets
from collections import OrderedDict
from collections.abc import Callable
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
    """A validated feedback item: the entry it joins and its labels, one per row."""

    id: str
    entry: LoggedPrediction
    truth: list[Any]


@dataclass(slots=True)
class FeedbackResult:
    accepted: int = 0
    unknown_ids: list[str] = field(default_factory=list)
    duplicate_ids: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)


class PredictionLog:
    """Predictions by request id, oldest evicted first once `capacity` requests are held.

    Entries are stored as plain tuples of strings and arrays, which the cyclic garbage
    collector stops tracking at its first pass: a full log (100,000 requests) then adds
    nothing to the collector's work, where one object per request made every full
    collection walk the whole log and made full collections frequent under load.
    """

    def __init__(self, capacity: int = DEFAULT_LOG_SIZE) -> None:
        self.capacity = capacity
        self.evicted = 0
        self._entries: OrderedDict[str, tuple[str, np.ndarray, np.ndarray | None, bool]] = (
            OrderedDict()
        )

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, request_id: str) -> bool:
        return request_id in self._entries

    def add(self, request_id: str, entry: LoggedPrediction) -> None:
        self.record(request_id, entry.version, entry.predicted, entry.scores)

    def record(
        self, request_id: str, version: str, predicted: np.ndarray, scores: np.ndarray | None
    ) -> None:
        """Event loop, per request: log one unlabelled prediction (no object per entry)."""
        entries = self._entries
        if request_id in entries:  # a client reusing an id: the newest prediction wins
            del entries[request_id]
        entries[request_id] = (version, predicted, scores, False)
        if len(entries) > self.capacity:
            entries.popitem(last=False)
            self.evicted += 1

    def get(self, request_id: str) -> LoggedPrediction | None:
        raw = self._entries.get(request_id)
        return None if raw is None else LoggedPrediction._make(raw)

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
            self._entries[label.id] = (*label.entry[:3], True)
            quality_of(label.entry).add(label.truth, label.entry.predicted, label.entry.scores)
            touched[label.entry.version] = None
            result.accepted += 1
        result.versions = sorted(touched, key=int)
        return result

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
            entry = self.get(request_id)
            if entry is None:
                result.unknown_ids.append(request_id)
                continue
            truth = _truth(f"{where}.label", item["label"], entry)
            labels.append(Label(request_id, entry, truth))
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
