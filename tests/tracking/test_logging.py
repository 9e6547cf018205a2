"""LogBatch (idempotency, summaries, refusals that store nothing), metric history
downsampling, run updates, comparison, comments, artifacts and workspace scoping."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from sqlalchemy import func, select

from modelfleet.agent.hub.db.tracking_models import MetricSeries, RunParam, metric_points
from modelfleet.proto.v1 import tracking_pb2 as pb
from tests.tracking.conftest import Tracking, columns, new_run, summaries


def _code(call: object) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()  # type: ignore[operator]
    return info.value.code(), str(info.value.details())


def _points(t: Tracking, run_id: str) -> int:
    with t.hub.engine.connect() as conn:
        query = (
            select(func.count())
            .select_from(metric_points)
            .join(MetricSeries, MetricSeries.id == metric_points.c.series_id)
            .where(MetricSeries.run_id == run_id)
        )
        return int(conn.execute(query).scalar_one())


def test_log_batch_is_idempotent_and_keeps_summaries(tracking: Tracking) -> None:
    t = tracking
    run_id = new_run(t)
    batch = pb.LogBatchRequest(
        run_id=run_id,
        idempotency_key="batch-1",
        metrics=[pb.MetricPoint(key="loss", value=v, step=s) for s, v in ((0, 3.0), (2, 1.0))],
        columns=columns(["loss", "acc"], [0, 1, 1], [2.0, 0.5, 0.7], [1, 0, 1]),
        params={"lr": "0.1"},
    )
    first = t.stub.LogBatch(batch, metadata=t.dev)
    again = t.stub.LogBatch(batch, metadata=t.dev)
    assert (first.metrics_stored, first.duplicate) == (5, False)
    assert (again.metrics_stored, again.duplicate) == (5, True)
    assert _points(t, run_id) == 5
    run = t.stub.GetRun(pb.GetRunRequest(run_id=run_id), metadata=t.viewer)
    loss = summaries(run)["loss"]
    # "last" is the point with the greatest step, not the last one sent.
    assert (loss.last, loss.min, loss.max, loss.count, loss.last_step) == (1.0, 1.0, 3.0, 3, 2)
    # An older step logged later does not replace the last value.
    t.stub.LogBatch(
        pb.LogBatchRequest(run_id=run_id, idempotency_key="batch-2",
                           metrics=[pb.MetricPoint(key="loss", value=9.0, step=1)]),
        metadata=t.dev,
    )  # fmt: skip
    run = t.stub.GetRun(pb.GetRunRequest(run_id=run_id), metadata=t.viewer)
    loss = summaries(run)["loss"]
    assert (loss.last, loss.max, loss.count) == (1.0, 9.0, 4)
    assert dict(run.params) == {"lr": "0.1"}


def test_refused_batches_store_nothing(tracking: Tracking) -> None:
    t = tracking
    run_id = new_run(t, params={"lr": "0.1"})

    def send(**kw: object) -> tuple[grpc.StatusCode, str]:
        request = pb.LogBatchRequest(run_id=run_id, idempotency_key="k", **kw)  # type: ignore[arg-type]
        return _code(lambda: t.stub.LogBatch(request, metadata=t.dev))

    good = [pb.MetricPoint(key="loss", value=1.0)]
    code, details = send(metrics=good, params={"lr": "0.2"})
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "params['lr']" in details
    assert "write-once" in details
    code, details = send(metrics=[*good, pb.MetricPoint(key="loss", value=float("nan"))])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "metrics[1].value" in details
    code, details = send(metrics=[pb.MetricPoint(key="bad\nkey", value=1.0)])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and ".key" in details
    broken = columns(["a"], [0, 0], [1.0, 2.0], [0, 1])
    broken.values = broken.values[:8]
    code, details = send(columns=broken)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "columns.values" in details
    code, details = send(columns=columns(["a"], [0, 3], [1.0, 2.0], [0, 1]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "columns.key_index" in details
    code, details = _code(
        lambda: t.stub.LogBatch(pb.LogBatchRequest(run_id=run_id, metrics=good), metadata=t.dev)
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "idempotency_key" in details
    code, _ = _code(
        lambda: t.stub.LogBatch(
            pb.LogBatchRequest(run_id=run_id, idempotency_key="v", metrics=good),
            metadata=t.viewer,
        )
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert _points(t, run_id) == 0
    with t.hub.engine.connect() as conn:
        assert conn.execute(select(RunParam.value).where(RunParam.run_id == run_id)).all() == [
            ("0.1",)
        ]
    # The key of a refused batch was not used up.
    ok = t.stub.LogBatch(pb.LogBatchRequest(run_id=run_id, idempotency_key="k", metrics=good),
                         metadata=t.dev)  # fmt: skip
    assert not ok.duplicate and _points(t, run_id) == 1


def test_history_downsampling_keeps_a_spike_in_a_million_points(tracking: Tracking) -> None:
    t = tracking
    run_id = new_run(t)
    n, spike = 1_000_000, 777_777
    steps = np.arange(n, dtype=np.int64)
    values = np.sin(steps / 5000.0)
    values[spike] = 50.0
    values[spike + 1] = -50.0
    for start in range(0, n, 100_000):
        part = slice(start, start + 100_000)
        t.stub.LogBatch(
            pb.LogBatchRequest(
                run_id=run_id, idempotency_key=f"c{start}",
                columns=columns(["curve"], np.zeros(100_000), values[part], steps[part]),
            ),
            metadata=t.dev,
        )  # fmt: skip
    history = t.stub.GetMetricHistory(
        pb.GetMetricHistoryRequest(run_id=run_id, key="curve", max_points=1000), metadata=t.viewer
    )
    assert history.total_points == n
    assert 0 < len(history.buckets) <= 1000
    assert sum(b.count for b in history.buckets) == n
    assert max(b.max for b in history.buckets) == 50.0
    assert min(b.min for b in history.buckets) == -50.0
    holder = next(b for b in history.buckets if b.first_step <= spike <= b.last_step)
    assert (holder.max, holder.min) == (50.0, -50.0)
    # Each bucket's representative is its last point.
    assert all(b.step == b.last_step and b.value == values[b.step] for b in history.buckets)
    assert history.buckets[-1].last_step == n - 1
    zoom = t.stub.GetMetricHistory(
        pb.GetMetricHistoryRequest(run_id=run_id, key="curve", max_points=100,
                                   start_step=spike - 10, end_step=spike + 10),
        metadata=t.viewer,
    )  # fmt: skip
    # 21 points fit in 100 buckets: they come back as they are.
    assert zoom.total_points == 21 and [b.value for b in zoom.buckets] == list(
        values[spike - 10 : spike + 11]
    )
    code, details = _code(
        lambda: t.stub.GetMetricHistory(
            pb.GetMetricHistoryRequest(run_id=run_id, key="nope"), metadata=t.viewer
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND and "nope" in details


def test_update_compare_comment_and_scope(tracking: Tracking) -> None:
    t = tracking
    a = new_run(t, params={"lr": "0.1", "opt": "adam"}, metrics={"auc": 0.9})
    b = new_run(t, params={"lr": "0.2", "opt": "adam"}, metrics={"loss": 0.5})
    done = t.stub.UpdateRun(pb.UpdateRunRequest(run_id=a, status=pb.FINISHED), metadata=t.dev)
    assert done.status == pb.FINISHED and done.HasField("end_time")
    compared = t.stub.CompareRuns(pb.CompareRunsRequest(run_ids=[a, b]), metadata=t.viewer)
    params = {p.key: (list(p.values), p.differs) for p in compared.params}
    assert params == {"lr": (["0.1", "0.2"], True), "opt": (["adam", "adam"], False)}
    metrics = {m.key: [s.count for s in m.per_run] for m in compared.metrics}
    assert metrics == {"auc": [1, 0], "loss": [0, 1]}
    code, details = _code(
        lambda: t.stub.CompareRuns(pb.CompareRunsRequest(run_ids=[a, "f" * 32]), metadata=t.viewer)
    )
    assert code == grpc.StatusCode.NOT_FOUND and "run_ids[1]" in details
    # Viewers take part in the discussion.
    t.stub.AddRunComment(pb.AddRunCommentRequest(run_id=a, body="good run"), metadata=t.viewer)
    listed = t.stub.ListRunComments(pb.ListRunCommentsRequest(run_id=a), metadata=t.viewer)
    assert [(c.author, c.body, c.target_kind) for c in listed.comments] == [
        ("viewer", "good run", "run")
    ]
    # Another workspace sees nothing of this one.
    t.hub.add_workspace("elsewhere")
    other = t.hub.admin_md("elsewhere")
    code, _ = _code(lambda: t.stub.GetRun(pb.GetRunRequest(run_id=a), metadata=other))
    assert code == grpc.StatusCode.NOT_FOUND
    assert t.stub.SearchRuns(pb.SearchRunsRequest(), metadata=other).total_count == 0
    code, details = _code(
        lambda: t.stub.LogArtifact(
            pb.LogArtifactRequest(run_id=a, path="model.onnx", sha256="a" * 64), metadata=t.dev
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND and "sha256" in details
    code, details = _code(
        lambda: t.stub.LogArtifact(
            pb.LogArtifactRequest(run_id=a, path="../x", sha256="a" * 64), metadata=t.dev
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "path" in details
    code, details = _code(
        lambda: t.stub.CreateRun(
            pb.CreateRunRequest(experiment="exp", parent_run_id="0" * 32), metadata=t.dev
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND and "parent_run_id" in details
    # Get-or-create: the same experiment comes back, with its runs counted.
    again = t.stub.CreateExperiment(pb.CreateExperimentRequest(name="exp"), metadata=t.dev)
    assert again.run_count == 2
