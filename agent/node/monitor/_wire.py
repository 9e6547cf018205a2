"""Monitoring state as modelfleet.v1 messages (drift reports, drift and accuracy status)."""

from __future__ import annotations

import math

from google.protobuf.timestamp_pb2 import Timestamp

from modelfleet.drift import DriftReport, FeatureDrift, Histogram
from modelfleet.proto.v1 import agent_pb2, drift_pb2


def drift_report_pb(
    report: DriftReport,
    deployment: str,
    model_name: str,
    version: int,
    histograms: bool = True,
) -> drift_pb2.DriftReport:
    return drift_pb2.DriftReport(
        deployment=deployment,
        model_name=model_name,
        model_version=version,
        window_start=_timestamp(report.started_at),
        window_end=_timestamp(report.ended_at),
        n_rows=report.n_rows,
        judged=report.judged,
        drift_share=report.drift_share,
        n_judged=report.n_judged,
        n_drifted=report.n_drifted,
        share_drifted=report.share_drifted,
        dataset_drifted=report.dataset_drifted,
        features=[_feature_pb(f, histograms) for f in report.features],
    )


def _feature_pb(f: FeatureDrift, histograms: bool) -> drift_pb2.FeatureDrift:
    message = drift_pb2.FeatureDrift(
        name=f.name,
        kind=f.kind,
        method=f.method,
        threshold=f.threshold,
        drifted=f.drifted,
        judged=f.judged,
        exact=f.exact,
        note=f.note or "",
        n_rows=f.n_rows,
        n_valid=f.n_valid,
        missing_share=f.missing_share,
        inf_share=f.inf_share,
        out_of_range_share=f.out_of_range_share,
    )
    for name in ("statistic", "mean", "std", "reference_mean", "reference_std"):
        value = getattr(f, name)
        if value is not None and math.isfinite(value):
            setattr(message, name, value)
    if histograms and f.histogram is not None:
        message.histogram.CopyFrom(_histogram_pb(f.histogram))
    return message


def _histogram_pb(h: Histogram) -> drift_pb2.DriftHistogram:
    return drift_pb2.DriftHistogram(
        reference=h.reference,
        current=h.current,
        edges=h.edges or (),
        labels=h.labels or (),
        below=h.below,
        above=h.above,
    )


def accuracy_pb(task: str, labelled: int, total: int, metrics: dict[str, float]) -> (
    agent_pb2.AccuracyStatus
):  # fmt: skip
    return agent_pb2.AccuracyStatus(
        task=task, labelled=labelled, labelled_total=total, metrics=metrics
    )


def _timestamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp
