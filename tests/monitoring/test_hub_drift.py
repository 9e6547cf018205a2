"""Drift windows travel through the agent's outbox into the hub, once, and QueryDrift shows
them: a real hub process and an enrolled agent (the fleet test fixtures)."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from tests.fleet.conftest import EnrolAgent, admin, enrol_agent, hub, sample_models  # noqa: F401
from tests.fleet.fleethelp import Admin
from tests.monitoring.monitored import profile_document, reference_rows
from tests.monitoring.traffic import hub_windows, infer
from tests.serving.agentproc import Rest

pytestmark = pytest.mark.parametrize("hub_db_url", ["sqlite"], indirect=True)


def test_drift_reports_reach_the_hub_once(
    admin: Admin,  # noqa: F811
    enrol_agent: EnrolAgent,  # noqa: F811
    sample_models: dict[int, Path],  # noqa: F811
) -> None:
    document = profile_document(sample_models[1], reference_rows(3000, seed=7), predictions=False)
    names = [f"f{i:02d}" for i in range(20)]
    admin.client.push_model(
        sample_models[1], "watched-model", feature_names=names,
        reference_profile_json=orjson.dumps(document).decode(),
    )  # fmt: skip
    agent = enrol_agent("a1", "staging").start()
    admin.deploy("watched", "staging", "watched-model", 1)
    rest = Rest(agent.http_port)
    deadline = time.monotonic() + 60
    while rest.get("/v2/models/watched/ready").status != 200:
        assert time.monotonic() < deadline, agent.log()[-2000:]
        time.sleep(0.2)
    calm = reference_rows(1000, seed=1)
    shifted = reference_rows(1000, seed=2, shift=1.0, shifted=14)
    for rows in (calm, shifted):
        for start in range(0, 1000, 100):
            infer(rest, rows[start : start + 100], model="watched")

    windows = hub_windows(admin.client, "watched", 2)
    assert len(windows) == 2, agent.log()[-2000:]
    newest, oldest = windows  # newest first
    assert (newest.deployment, newest.model_name, newest.model_version) == (
        "watched", "watched-model", 1,
    )  # fmt: skip
    assert newest.agent_id == agent.agent_id and newest.environment == "staging"
    assert newest.report.dataset_drifted and not oldest.report.dataset_drifted
    moved = {f.name for f in newest.report.features if f.drifted}
    assert set(names[:14]) <= moved and not moved & set(names[14:])
    f00 = newest.report.feature("f00")
    assert f00.histogram is not None and len(f00.histogram.reference) == len(f00.histogram.current)
    assert abs(sum(f00.histogram.reference) - 1.0) < 1e-9
    only = admin.client.query_drift("watched", "staging", drifted_only=True)
    assert [w.report.ended_at for w in only] == [newest.report.ended_at]

    # Roll-ups of versions that serve carry the last window's drift series.
    wanted = {"drift_share", "drift_detected", "feature:f00:wasserstein"}
    deadline = time.monotonic() + 30
    while True:
        infer(rest, calm[:10], model="watched")
        points = admin.client.query_metrics("watched", "staging", step_seconds=3600)
        if wanted <= {k for p in points for k in p.extra} or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert wanted <= {k for p in points for k in p.extra}

    # A restarted agent resends whatever the hub had not acknowledged; nothing is doubled.
    agent.stop()
    agent.start()
    time.sleep(3)
    assert len(admin.client.query_drift("watched", "staging")) == 2
