"""Per deployment and version: drift on live traffic, a prediction log and rolling quality.

A standalone model folder carries its reference profile as `reference_profile.json` beside
`model.onnx` (a fleet agent writes the hub's profile there when it stages a version), and
optional settings in `modelfleet.json`:
  "monitoring": {"drift": {...DriftConfig settings...}, "prediction": "<output>",
                 "score": "<output>"}
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from modelfleet.agent.node.batcher import Inputs, Outputs
from modelfleet.agent.node.errors import NotFound
from modelfleet.agent.node.inference import Call, InferenceService
from modelfleet.agent.node.models import ModelVersion
from modelfleet.agent.node.monitor._columns import ColumnError
from modelfleet.agent.node.monitor._drift import DEFAULT_QUEUE, DriftTracker, DriftWorker, HandOff
from modelfleet.agent.node.monitor._predictions import (
    DEFAULT_LOG_SIZE,
    FeedbackResult,
    LoggedPrediction,
    PredictionLog,
    RequestIds,
)
from modelfleet.agent.node.monitor._quality import DEFAULT_WINDOW, RollingQuality, task_of
from modelfleet.agent.node.repository import CONFIG_FILE
from modelfleet.drift import DriftConfig, DriftReport
from modelfleet.oip import DecodedRequest
from modelfleet.profile import ReferenceProfile

log = logging.getLogger(__name__)
PROFILE_FILE = "reference_profile.json"

#: told (on the worker thread) about every closed window: deployment, version, report
ReportSink = Callable[[str, str, DriftReport], None]


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    log_size: int = DEFAULT_LOG_SIZE
    quality_window: int = DEFAULT_WINDOW
    queue_capacity: int = DEFAULT_QUEUE


class VersionMonitor:
    """Monitoring state of one loaded model version."""

    def __init__(
        self,
        mv: ModelVersion,
        sink: Callable[[], ReportSink | None],
        queue_capacity: int = DEFAULT_QUEUE,
    ) -> None:
        assert mv.model is not None  # only serving versions are observed
        self.mv = mv
        self.batches_dropped = 0
        self.quality: RollingQuality | None = None
        self.drift: DriftTracker | None = None
        self.drift_reason = "waiting for the first request"
        self._drift_started = False
        #: read by the event loop for every request: hand it to the drift worker? False
        #: once drift turned out to be off for this version, and while a closed window
        #: waits for the evaluation budget (the worker would not accumulate it anyway)
        self.wants_drift = True
        self._sink = sink
        outputs = [s.name for s in mv.model.signature.outputs]
        self.output_names = outputs
        #: answered batches waiting for the drift worker (filled by the event loop)
        self.handoff = HandOff(len(outputs), queue_capacity)
        settings = _monitoring_settings(mv.path)
        self.prediction = _pick(settings.get("prediction"), outputs, 0) or 0
        self.score = _pick(settings.get("score"), outputs, 1 if len(outputs) > 1 else None)
        self._drift_settings = settings.get("drift")

    def drain(self) -> bool:
        """Worker thread: take what the event loop queued; start drift on first use (reading
        the profile), then accumulate the batches' inputs and outputs (concatenated once per
        tensor) and evaluate due windows. False when nothing was queued."""
        inputs, outputs = self.handoff.take()
        if not inputs:
            self.tick()
            return False
        if not self._drift_started:
            self.drift, self.drift_reason = _start_drift(self.mv, self._drift_settings)
            # Only now: the loop keeps handing requests over until drift is known to be off.
            self._drift_started = True
        if self.drift is None:
            self.wants_drift = False
            return True
        try:
            reports = self.drift.update(inputs, outputs, self.output_names)
        except ColumnError as exc:
            self.drift, self.drift_reason = None, f"drift is off: {exc}"
            self.wants_drift = False
            log.warning("[Monitor] model=%s version=%s %s", self.mv.name, self.mv.version,
                        self.drift_reason)  # fmt: skip
            return True
        self.wants_drift = not self.drift.waiting
        self._report(reports)
        return True

    def tick(self) -> None:
        """Worker thread: evaluate windows that waited for the evaluation budget."""
        if self.drift is not None:
            reports = self.drift.evaluate_due()
            self.wants_drift = not self.drift.waiting
            self._report(reports)

    def _report(self, reports: list[DriftReport]) -> None:
        sink = self._sink()
        if sink is not None:
            for report in reports:
                sink(self.mv.name, self.mv.version, report)


class Monitors:
    """Every version's monitor, fed by the inference path: an id per request, then the
    model's answers once per batch (the batch's own input and output arrays).

    Nothing per request outlives the request except the prediction log's entries (id ->
    an int, its rows are copied into per-version arrays), and the drift hand-off keeps
    whole-batch arrays only, so monitoring adds no work to the cyclic garbage collector and
    keeps no small per-request objects alive (which would make every request's allocations
    land in cold memory).
    """

    def __init__(self, settings: MonitorSettings | None = None) -> None:
        self.settings = settings or MonitorSettings()
        self.sink: ReportSink | None = None
        self._versions: dict[tuple[str, str], VersionMonitor] = {}
        self._logs: dict[str, PredictionLog] = {}
        self._ids = RequestIds()
        self._worker = DriftWorker(self._drain)

    def attach(self, service: InferenceService) -> None:
        service.observer = self.observe
        service.manager.on_batch = self.batch

    def close(self) -> None:
        self._worker.close()

    # -- event loop: per request ---------------------------------------------------------
    def observe(self, call: Call) -> None:
        """Give the request an id (returned in the response) unless the client sent one."""
        request = call.request
        if not request.id:
            request.id = self._ids.next()

    # -- event loop: per batch -----------------------------------------------------------
    def batch(
        self,
        mv: ModelVersion,
        requests: list[DecodedRequest],
        inputs: Inputs,
        outputs: Outputs,
        rows: list[int | None],
    ) -> None:
        """Log the batch's predictions by request id and hand its arrays (references) to the
        drift worker; runs before the requests are answered. Every request the model
        answered is logged, also one whose deadline passed during the run."""
        monitor = self._versions.get((mv.name, mv.version))
        if monitor is None or monitor.mv is not mv:
            monitor = self.version(mv)
            if monitor is None:
                return
        log_ = self._logs.get(mv.name)
        if log_ is None:
            log_ = self._logs[mv.name] = PredictionLog(self.settings.log_size)
        score = monitor.score
        log_.record(
            [request.id for request in requests],
            rows,
            mv.version,
            outputs[monitor.prediction],
            outputs[score] if score is not None else None,
        )
        if monitor.wants_drift:
            queued = monitor.handoff.put(inputs, outputs)
            if queued:
                self._worker.wake()
            elif queued is False:
                monitor.batches_dropped += 1

    def _drain(self) -> bool:
        """Worker thread: one drift update per model version for everything that queued."""
        found = False
        for monitor in list(self._versions.values()):
            found = monitor.drain() or found
        return found

    def version(self, mv: ModelVersion) -> VersionMonitor | None:
        key = (mv.name, mv.version)
        monitor = self._versions.get(key)
        if monitor is None or monitor.mv is not mv:
            if mv.model is None:
                return None
            monitor = self._versions[key] = VersionMonitor(
                mv, lambda: self.sink, self.settings.queue_capacity
            )
        return monitor

    # -- feedback ------------------------------------------------------------------------
    def feedback(self, deployment: str, items: Any) -> FeedbackResult:
        """Join labels to logged predictions; InvalidInput for a malformed item."""
        log_ = self._logs.get(deployment)
        if log_ is None:
            log_ = self._logs[deployment] = PredictionLog(self.settings.log_size)
        return log_.join(items, partial(self._quality, deployment))

    def require_deployment(self, deployment: str, known: bool) -> None:
        if not known and deployment not in self._logs:
            raise NotFound(f"unknown model '{deployment}'")

    def _quality(self, deployment: str, entry: LoggedPrediction) -> RollingQuality:
        monitor = self._versions.get((deployment, entry.version))
        if monitor is None:  # the version is gone; keep scoring its labels anyway
            return RollingQuality(task_of(entry.predicted), self.settings.quality_window)
        if monitor.quality is None:
            monitor.quality = RollingQuality(task_of(entry.predicted), self.settings.quality_window)
        return monitor.quality

    # -- readers -------------------------------------------------------------------------
    def get(self, name: str, version: str) -> VersionMonitor | None:
        return self._versions.get((name, version))

    def log_of(self, deployment: str) -> PredictionLog | None:
        return self._logs.get(deployment)

    def rollup_extra(self, name: str, version: str) -> dict[str, float]:
        """Series for the MetricRollup `extra` map: the last window's drift, rolling quality."""
        monitor = self._versions.get((name, version))
        if monitor is None:
            return {}
        extra: dict[str, float] = {}
        last = monitor.drift.last if monitor.drift is not None else None
        if last is not None and last.judged:
            extra["drift_share"] = last.share_drifted
            extra["drift_detected"] = float(last.dataset_drifted)
            for feature in last.features:
                if feature.statistic is not None and feature.judged:
                    extra[f"feature:{feature.name}:{feature.method}"] = feature.statistic
        if monitor.quality is not None and monitor.quality.labelled:
            extra.update(monitor.quality.metrics())
            extra["labelled"] = float(monitor.quality.labelled)
        return extra


def _monitoring_settings(folder: Path) -> dict[str, Any]:
    """The `monitoring` block of modelfleet.json ({} when absent or unreadable)."""
    path = folder / CONFIG_FILE
    try:
        raw = orjson.loads(path.read_bytes()) if path.is_file() else {}
    except (OSError, orjson.JSONDecodeError):
        return {}
    block = raw.get("monitoring") if isinstance(raw, dict) else None
    return block if isinstance(block, dict) else {}


def _pick(wanted: Any, outputs: list[str], default: int | None) -> int | None:
    if isinstance(wanted, str) and wanted in outputs:
        return outputs.index(wanted)
    if wanted is not None:
        log.warning("monitoring output %r is not a model output (%s)", wanted, outputs)
    return default


def _start_drift(mv: ModelVersion, settings: Any) -> tuple[DriftTracker | None, str]:
    path = mv.path / PROFILE_FILE
    if not path.is_file():
        return None, f"no {PROFILE_FILE} for this version"
    try:
        profile = ReferenceProfile.from_dict(orjson.loads(path.read_bytes()))
        config = DriftConfig.from_dict(settings) if isinstance(settings, dict) else DriftConfig()
        tracker = DriftTracker(profile, config, mv.config.feature_names)
    except (ValueError, OSError) as exc:  # ProfileError, DriftError and JSON errors
        reason = f"drift is off: {exc}"
        log.warning("[Monitor] model=%s version=%s %s", mv.name, mv.version, reason)
        return None, reason
    log.info("[Monitor] model=%s version=%s drift on (%d features)", mv.name, mv.version,
             len(profile.features))  # fmt: skip
    return tracker, ""
