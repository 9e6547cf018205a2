"""Search totals where people read them: the client's page and `modelfleet runs list`.

Past ~1,000 matches a PostgreSQL hub returns the planner's estimate instead of counting,
and says so; SQLite always counts. 1,500 runs are written straight into the tables (the
API would take minutes), then the statistics are refreshed as autovacuum would.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import func, insert, select, text

import modelfleet
from modelfleet.agent.hub.db import make_engine
from modelfleet.agent.hub.db.tracking_models import Run, RunParam
from modelfleet.cli import main
from tests.sdk.conftest import WORKSPACE, SdkHub

RUNS = 1_500
RARE = 3


def _seed(db_url: str, workspace_id: str, experiment_id: str) -> None:
    """RUNS runs of the experiment; the first RARE have the param rare = 'yes'."""
    engine = make_engine(db_url)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            first = int(conn.execute(select(func.coalesce(func.max(Run.seq), 0))).scalar_one()) + 1
            ids = [uuid.uuid4().hex for _ in range(RUNS)]
            conn.execute(
                insert(Run),
                [
                    {"id": run_id, "seq": first + i, "workspace_id": workspace_id,
                     "experiment_id": experiment_id, "name": f"bulk-{i:04d}", "status": 2,
                     "start_time": base + timedelta(seconds=i), "created_by": "test"}
                    for i, run_id in enumerate(ids)
                ],
            )  # fmt: skip
            conn.execute(
                insert(RunParam),
                [
                    {"run_id": run_id, "run_seq": first + i, "key": "rare", "value": "yes"}
                    for i, run_id in enumerate(ids[:RARE])
                ],
            )
            if conn.dialect.name == "postgresql":
                conn.execute(
                    text("SELECT setval(pg_get_serial_sequence('runs', 'seq'), max(seq)) FROM runs")
                )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    finally:
        engine.dispose()


def test_estimated_totals_are_flagged_in_the_client_and_the_cli(
    sdk_hub: SdkHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = sdk_hub.admin
    experiment = admin.create_experiment("bulk", workspace=WORKSPACE)
    _seed(sdk_hub.hub.db_url, admin.get_workspace(workspace=WORKSPACE).id, experiment.id)
    postgres = sdk_hub.hub.db_url.startswith("postgresql")

    client = modelfleet.connect(**sdk_hub.connect_args())
    page = client.search_runs(["bulk"], order_by=["name"], page_size=20)
    assert [r.name for r in page.runs] == [f"bulk-{i:04d}" for i in range(20)]
    if postgres:
        # The planner's figure (statistics are fresh, so near the truth), flagged.
        assert page.total_is_estimate and 1_000 < page.total_count < 3_000
        assert page.describe_total() == f"about {page.total_count:,}"
    else:
        assert not page.total_is_estimate and page.total_count == RUNS
        assert page.describe_total() == "1,500"
    # Few matches are always counted, on either database.
    rare = client.search_runs(["bulk"], "params.rare = 'yes'", page_size=20)
    assert (len(rare.runs), rare.total_count, rare.total_is_estimate) == (RARE, RARE, False)

    for name, value in sdk_hub.connect_args().items():
        monkeypatch.setenv(f"MODELFLEET_{name.upper()}", value)
    capsys.readouterr()
    assert main(["runs", "list", "-e", "bulk", "--limit", "5"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == (f"5 of about {page.total_count:,} runs" if postgres else "5 of 1,500 runs")
    assert main(["runs", "list", "-e", "bulk", "--limit", "5", "--json"]) == 0
    listed = orjson.loads(capsys.readouterr().out)
    assert listed["total_is_estimate"] is postgres and len(listed["runs"]) == 5
    assert main(["runs", "list", "-e", "bulk", "-f", "params.rare = 'yes'"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "3 of 3 runs"
