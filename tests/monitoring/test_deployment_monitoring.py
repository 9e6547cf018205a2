"""Per-deployment monitoring settings set on the hub reach the agent: window size and a
per-feature threshold from `deploy` shape the windows the agent reports, `SetMonitoring`
changes them on a live deployment (the agent reloads the version), and bad settings are
refused naming the field, with nothing changed. Real hub process and enrolled agent."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from modelfleet.client import InvalidArgument
from tests.fleet.conftest import EnrolAgent, admin, enrol_agent, hub, sample_models  # noqa: F401
from tests.fleet.fleethelp import WORKSPACE, Admin
from tests.monitoring.monitored import profile_document, reference_rows
from tests.monitoring.traffic import hub_windows, infer
from tests.serving.agentproc import Rest

pytestmark = pytest.mark.parametrize("hub_db_url", ["sqlite"], indirect=True)

SETTINGS = {"drift": {"window_rows": 500, "features": {"f00": {"threshold": 1000.0}}}}


def _send(rest: Rest, rows: object) -> None:
    for start in range(0, 1000, 100):
        infer(rest, rows[start : start + 100], model="watched")  # type: ignore[index]


def test_monitoring_settings_from_the_hub_shape_the_agents_windows(
    admin: Admin,  # noqa: F811
    enrol_agent: EnrolAgent,  # noqa: F811
    sample_models: dict[int, Path],  # noqa: F811
) -> None:
    client = admin.client
    # Inputs and predictions: the registry takes output columns named as the agent names them.
    document = profile_document(sample_models[1], reference_rows(3000, seed=7))
    names = [f"f{i:02d}" for i in range(20)]
    wrong = orjson.loads(orjson.dumps(document))
    wrong["features"][-1]["name"] = "probabilities_7"  # the output has two columns
    with pytest.raises(InvalidArgument) as bad:
        client.push_model(
            sample_models[1], "watched-model", feature_names=names,
            reference_profile_json=orjson.dumps(wrong).decode(),
        )  # fmt: skip
    assert bad.value.field == f"reference_profile_json.features[{len(names) + 1}].name"
    assert "probabilities_<j>" in str(bad.value)
    client.push_model(
        sample_models[1], "watched-model", feature_names=names,
        reference_profile_json=orjson.dumps(document).decode(),
    )  # fmt: skip
    agent = enrol_agent("a1", "staging").start()
    deployed = client.deploy(
        "watched", "staging", "watched-model", version=1, monitoring=SETTINGS, workspace=WORKSPACE
    )
    assert deployed.monitoring == SETTINGS
    rest = Rest(agent.http_port)
    deadline = time.monotonic() + 60
    while rest.get("/v2/models/watched/ready").status != 200:
        assert time.monotonic() < deadline, agent.log()[-2000:]
        time.sleep(0.2)

    # 500-row windows: 1,000 calm then 1,000 shifted rows close four of them.
    _send(rest, reference_rows(1000, seed=1))
    _send(rest, reference_rows(1000, seed=2, shift=1.0, shifted=14))
    windows = hub_windows(client, "watched", 4)
    assert [w.report.n_rows for w in windows] == [500] * 4, agent.log()[-2000:]
    newest = windows[0].report
    assert newest.dataset_drifted
    # f00 moved like f01..f13, but its own threshold keeps it from counting as drifted.
    assert newest.feature("f01").drifted and not newest.feature("f00").drifted
    # The predictions are judged too.
    assert {"label", "probabilities_1"} <= {f.name for f in newest.features if f.judged}

    # Back to the defaults on the live deployment: 1,000-row windows again, f00 judged
    # with the default threshold.
    reset = client.set_monitoring("watched", "staging", {}, "defaults", workspace=WORKSPACE)
    assert reset.monitoring == {}
    assert client.deployment_events("watched", "staging", workspace=WORKSPACE)[-1].kind == (
        "monitoring"
    )
    deadline = time.monotonic() + 60
    while True:  # the agent reloads the version with the new settings
        status = rest.get("/v2/models/watched/ready").status
        config = agent.data_dir / "serving" / "watched" / "1" / "modelfleet.json"
        if status == 200 and b"monitoring" not in config.read_bytes():
            break
        assert time.monotonic() < deadline, agent.log()[-2000:]
        time.sleep(0.2)
    _send(rest, reference_rows(1000, seed=3, shift=1.0, shifted=14))
    windows = hub_windows(client, "watched", 5)
    assert windows[0].report.n_rows == 1000, [w.report.n_rows for w in windows]
    assert windows[0].report.feature("f00").drifted

    # Bad settings name the field; the deployment keeps its revision and settings.
    before = client.get_deployment("watched", "staging", workspace=WORKSPACE)
    for settings, field in (
        ({"drift": {"window_rows": 0}}, "monitoring_json.drift"),
        ({"drift": {"method": "astrology"}}, "monitoring_json.drift"),
        ({"alerts": {}}, "monitoring_json.alerts"),
        ({"prediction": 3}, "monitoring_json.prediction"),
    ):
        with pytest.raises(InvalidArgument) as bad:
            client.set_monitoring("watched", "staging", settings, workspace=WORKSPACE)
        assert bad.value.field == field, str(bad.value)
        with pytest.raises(InvalidArgument):
            client.deploy(
                "watched", "staging", "watched-model", version=1, monitoring=settings,
                workspace=WORKSPACE,
            )  # fmt: skip
    after = client.get_deployment("watched", "staging", workspace=WORKSPACE)
    assert (after.revision, after.monitoring) == (before.revision, before.monitoring)
