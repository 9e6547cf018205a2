"""Drift history from the hub: its DriftReport messages as `modelfleet.drift` dataclasses."""

from __future__ import annotations

from dataclasses import dataclass

from modelfleet.drift import DriftReport, FeatureDrift, Histogram
from modelfleet.proto.v1 import drift_pb2, monitoring_pb2


@dataclass(frozen=True, slots=True)
class DriftWindowRecord:
    """One closed drift window of one deployment version on one agent."""

    agent_id: str
    environment: str
    deployment: str
    model_name: str
    model_version: int
    report: DriftReport


def drift_window_from_pb(m: monitoring_pb2.DriftWindow) -> DriftWindowRecord:
    r = m.report
    return DriftWindowRecord(
        m.agent_id, m.environment, r.deployment, r.model_name, r.model_version, report_from_pb(r)
    )


def report_from_pb(r: drift_pb2.DriftReport) -> DriftReport:
    return DriftReport(
        started_at=r.window_start.ToNanoseconds() / 1e9,
        ended_at=r.window_end.ToNanoseconds() / 1e9,
        n_rows=r.n_rows,
        judged=r.judged,
        drift_share=r.drift_share,
        n_judged=r.n_judged,
        n_drifted=r.n_drifted,
        share_drifted=r.share_drifted,
        dataset_drifted=r.dataset_drifted,
        features=tuple(_feature(f) for f in r.features),
    )


def _feature(f: drift_pb2.FeatureDrift) -> FeatureDrift:
    h = f.histogram
    histogram = None
    if f.HasField("histogram"):
        histogram = Histogram(
            reference=tuple(h.reference),
            current=tuple(h.current),
            edges=tuple(h.edges) if h.edges else None,
            labels=tuple(h.labels) if h.labels else None,
            below=h.below,
            above=h.above,
        )
    return FeatureDrift(
        name=f.name, kind=f.kind, method=f.method, threshold=f.threshold,
        statistic=f.statistic if f.HasField("statistic") else None,
        drifted=f.drifted, judged=f.judged, exact=f.exact, note=f.note or None,
        n_rows=f.n_rows, n_valid=f.n_valid, missing_share=f.missing_share,
        inf_share=f.inf_share, out_of_range_share=f.out_of_range_share,
        reference_missing_share=0.0, reference_inf_share=0.0,
        mean=f.mean if f.HasField("mean") else None,
        std=f.std if f.HasField("std") else None,
        minimum=None, maximum=None,
        reference_mean=f.reference_mean if f.HasField("reference_mean") else None,
        reference_std=f.reference_std if f.HasField("reference_std") else None,
        histogram=histogram,
    )  # fmt: skip
