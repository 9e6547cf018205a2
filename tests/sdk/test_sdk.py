"""The notebook SDK against a real hub process: a whole run, delivery across a hub restart
(nothing lost, nothing duplicated), failure reported at end_run, refusals not retried."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest
from sqlalchemy import func, select

import modelfleet
from modelfleet.agent.hub.db import make_engine
from modelfleet.agent.hub.db.tracking_models import MetricSeries, metric_points
from modelfleet.cli import main
from modelfleet.client import AuthenticationError, InvalidArgument, PermissionDenied, Role
from tests.sdk.conftest import WORKSPACE, SdkHub

FAST = modelfleet.SenderPolicy(batch_size=5_000, flush_interval=0.1, retry_for=60.0)


def _stored(db_url: str, run_id: str) -> tuple[int, int, int]:
    """(points, distinct steps, summary count) of the run's "loss" series, read from the DB."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            series = conn.execute(
                select(MetricSeries.id, MetricSeries.count).where(
                    MetricSeries.run_id == run_id, MetricSeries.key == "loss"
                )
            ).one()
            points = metric_points.c
            where = points.series_id == series.id
            total = conn.execute(select(func.count()).where(where)).scalar_one()
            steps = conn.execute(select(func.count(points.step.distinct())).where(where))
            return int(total), int(steps.scalar_one()), int(series.count)
    finally:
        engine.dispose()


def test_a_whole_run(
    sdk_hub: SdkHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    modelfleet.connect(**sdk_hub.connect_args())
    report = tmp_path / "report.txt"
    report.write_text("confusion matrix\n")
    with modelfleet.start_run("churn", name="first", params={"lr": 0.01}, policy=FAST) as run:
        assert modelfleet.active_run() is run
        run.set_tag("team", "risk")
        for step in range(1000):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
            run.log_metric("acc", step / 1000)  # step counts up by itself
        artifact = run.log_artifact(report, "reports/report.txt")
        with pytest.raises(InvalidArgument, match="write-once"):
            run.log_param("lr", 0.02)
        with pytest.raises(ValueError, match="finite"):
            run.log_metric("loss", float("nan"))
    assert modelfleet.active_run() is None
    stored = sdk_hub.admin.get_run(run.id, workspace=WORKSPACE)
    assert stored.status is not None and stored.status.value == "FINISHED"
    assert stored.end_time is not None
    assert (stored.metrics["loss"].count, stored.metrics["loss"].last) == (1000, 1.0 / 1000)
    assert (stored.metrics["acc"].count, stored.metrics["acc"].last_step) == (1000, 999)
    assert stored.params == {"lr": "0.01"} and stored.tags == {"team": "risk"}
    assert [a.path for a in stored.artifacts] == ["reports/report.txt"]
    assert artifact.size == len("confusion matrix\n")
    second = modelfleet.start_run("churn", name="second", params={"lr": 0.1}, policy=FAST)
    second.log_metric("loss", 0.5)
    second.end()
    _check_cli(sdk_hub, monkeypatch, capsys, run.id, second.id)
    _check_log_model(sdk_hub, capsys)


def _check_log_model(sdk_hub: SdkHub, capsys: pytest.CaptureFixture[str]) -> None:
    """The README path: a run, one call to register its scikit-learn model, the CLI."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    with modelfleet.start_run("churn", name="with-model", policy=FAST) as run:
        model = LogisticRegression().fit(x, y)
        run.log_metric("auc", 0.93)
        version = modelfleet.log_model(
            model, "churn-model", sample_input=x[:20], reference_data=x,
            feature_names=["age", "tenure", "spend"], alias="staging",
        )  # fmt: skip
    assert version.version == 1 and "staging" in version.aliases
    stored = sdk_hub.admin.get_version("churn-model", 1, workspace=WORKSPACE)
    assert stored.source_run_id == run.id and stored.metrics == {"auc": 0.93}
    assert stored.signature.feature_names == ("age", "tenure", "spend")
    assert orjson.loads(stored.reference_profile_json)["n_rows"] == 200
    assert sdk_hub.admin.get_run(run.id, workspace=WORKSPACE).tags == {
        "modelfleet.model.churn-model": "1"
    }
    capsys.readouterr()
    # The production alias is for workspace admins; the developer key is told so.
    assert main(["models", "alias", "churn-model", "champion", "1"]) == 1
    assert "needs the ADMIN role" in capsys.readouterr().err
    sdk_hub.admin.set_alias("churn-model", "champion", 1, workspace=WORKSPACE)
    assert main(["models", "show", "churn-model"]) == 0
    assert "champion" in capsys.readouterr().out


def _check_cli(
    sdk_hub: SdkHub,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    first: str,
    second: str,
) -> None:
    for name, value in sdk_hub.connect_args().items():
        monkeypatch.setenv(f"MODELFLEET_{name.upper()}", value)

    def cli(*argv: str) -> str:
        capsys.readouterr()
        assert main(list(argv)) == 0
        return capsys.readouterr().out

    out = cli("experiments", "list")
    assert "churn" in out and " 2 " in out
    out = cli("runs", "list", "-f", "metrics.loss < 0.1", "--metric", "loss", "--param", "lr")
    assert "first" in out and "second" not in out and "1 of 1 runs" in out
    listed = orjson.loads(cli("runs", "list", "-o", "metrics.loss DESC", "--json"))
    assert [r["name"] for r in listed["runs"]] == ["second", "first"]
    assert "reports/report.txt" in cli("runs", "show", first)
    out = cli("runs", "compare", first, second)
    assert "params.lr" in out and "*" in out and "metrics.loss" in out
    assert main(["runs", "list", "-f", "metrics.loss >"]) != 0
    assert "end of filter" in capsys.readouterr().err


def test_delivery_survives_a_hub_restart(sdk_hub: SdkHub) -> None:
    modelfleet.connect(**sdk_hub.connect_args(), timeout=2.0)
    run = modelfleet.start_run("churn", policy=FAST)
    for step in range(20_000):
        run.log_metric("loss", float(step), step=step)
    run.flush()
    sdk_hub.stop()
    # The training loop goes on while the hub is down; the sender retries.
    for step in range(20_000, 50_000):
        run.log_metric("loss", float(step), step=step)
    sdk_hub.start_again()
    for step in range(50_000, 60_000):
        run.log_metric("loss", float(step), step=step)
    finished = run.end()
    assert finished.metrics["loss"].count == 60_000
    assert _stored(sdk_hub.hub.db_url, run.id) == (60_000, 60_000, 60_000)


# Client-side behaviour: the database behind the hub plays no part, so SQLite only.
CLIENT_SIDE = pytest.mark.parametrize("hub_db_url", ["sqlite"], indirect=True)


@CLIENT_SIDE
def test_end_run_raises_when_the_hub_never_returns(sdk_hub: SdkHub) -> None:
    modelfleet.connect(**sdk_hub.connect_args(), timeout=1.0)
    policy = modelfleet.SenderPolicy(batch_size=1_000, flush_interval=0.1, retry_for=2.0)
    run = modelfleet.start_run("churn", policy=policy)
    run.log_metric("loss", 1.0)
    run.flush()
    sdk_hub.stop()
    for step in range(5_000):
        run.log_metric("loss", 0.5, step=step + 1)
    with pytest.raises(modelfleet.DeliveryError, match="unreachable") as info:
        run.end()
    assert info.value.lost == 5_000
    assert modelfleet.active_run() is None


@CLIENT_SIDE
def test_refusals_are_not_retried(sdk_hub: SdkHub) -> None:
    viewer = sdk_hub.admin.create_api_key("viewer", Role.VIEWER, workspace=WORKSPACE)
    modelfleet.connect(**{**sdk_hub.connect_args(), "api_key": viewer.secret})
    with pytest.raises(PermissionDenied, match="DEVELOPER"):
        modelfleet.start_run("churn")
    key = sdk_hub.admin.create_api_key("short-lived", Role.DEVELOPER, workspace=WORKSPACE)
    modelfleet.connect(**{**sdk_hub.connect_args(), "api_key": key.secret})
    # Retrying for an hour would hang this test: a refusal must end delivery at once.
    policy = modelfleet.SenderPolicy(batch_size=100, flush_interval=0.1, retry_for=3600.0)
    run = modelfleet.start_run("churn", policy=policy)
    sdk_hub.admin.revoke_api_key(key.key.id, workspace=WORKSPACE)
    for step in range(500):
        run.log_metric("loss", 1.0, step=step)
    with pytest.raises(modelfleet.DeliveryError) as info:
        run.end()
    assert isinstance(info.value.__cause__, AuthenticationError)
    assert info.value.lost == 500
