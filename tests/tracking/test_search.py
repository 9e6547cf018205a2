"""SearchRuns semantics: operators, typing of params and metrics, ordering with missing
values, stable cursor pagination, precise parse errors, whole runs on a page, and totals
(counted, or flagged as estimates)."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest
from sqlalchemy import insert

from modelfleet.agent.hub.db.tracking_models import RunArtifactLink
from modelfleet.agent.hub.tracking import search
from modelfleet.agent.hub.tracking import total as total_module
from modelfleet.agent.hub.tracking.queries import MetricColumns
from modelfleet.proto.v1 import common_pb2, tracking_pb2
from tests.tracking.conftest import Tracking, last_value, new_run, summaries


def _search(t: Tracking, flt: str = "", order: list[str] | None = None, **kw: object) -> list[str]:
    response = t.stub.SearchRuns(
        tracking_pb2.SearchRunsRequest(filter=flt, order_by=order or [], **kw),  # type: ignore[arg-type]
        metadata=t.viewer,
    )
    return [r.name for r in response.runs]


def _refusal(t: Tracking, flt: str = "", order: list[str] | None = None) -> str:
    with pytest.raises(grpc.RpcError) as info:
        t.stub.SearchRuns(
            tracking_pb2.SearchRunsRequest(filter=flt, order_by=order or []), metadata=t.viewer
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return str(info.value.details())


@pytest.fixture
def runs(tracking: Tracking) -> Tracking:
    t = tracking
    new_run(t, name="a", params={"lr": "0.1", "opt": "adam"}, tags={"team": "risk"},
            metrics={"auc": 0.91, "loss": 0.3})  # fmt: skip
    new_run(t, name="b", params={"lr": "0.01", "opt": "sgd"}, tags={"team": "growth"},
            metrics={"auc": 0.85})  # fmt: skip
    new_run(t, name="c", params={"lr": "1e-3", "opt": "adamw"}, metrics={"auc": 0.95, "loss": 0.1})
    new_run(t, name="d", params={"lr": "auto"}, tags={"team": "risk"})
    new_run(t, "other", name="e", params={"lr": "0.5"}, metrics={"auc": 0.99})
    return t


def test_each_operator_on_metrics(runs: Tracking) -> None:
    t = runs
    assert sorted(_search(t, "metrics.auc = 0.91")) == ["a"]
    assert sorted(_search(t, "metrics.auc != 0.91")) == ["b", "c", "e"]
    assert sorted(_search(t, "metrics.auc < 0.91")) == ["b"]
    assert sorted(_search(t, "metrics.auc <= 0.91")) == ["a", "b"]
    assert sorted(_search(t, "metrics.auc > 0.91")) == ["c", "e"]
    assert sorted(_search(t, "metrics.auc >= 0.91")) == ["a", "c", "e"]
    # A run without the metric never matches, whatever the operator.
    assert sorted(_search(t, "metrics.loss != 0.3")) == ["c"]
    assert sorted(_search(t, "metrics.auc > 0.9 AND metrics.loss < 0.2")) == ["c"]


def test_params_compare_as_numbers_or_text_by_the_literal(runs: Tracking) -> None:
    t = runs
    # Numbers compare numerically: "1e-3" < "0.01" < "0.1"; "auto" is not a number.
    assert sorted(_search(t, "params.lr < 0.05")) == ["b", "c"]
    assert sorted(_search(t, "params.lr = 0.001")) == ["c"]
    # Quoted literals compare the text exactly.
    assert sorted(_search(t, "params.lr = '0.01'")) == ["b"]
    assert sorted(_search(t, "params.lr = '0.010'")) == []
    assert sorted(_search(t, "params.opt LIKE 'adam%'")) == ["a", "c"]
    assert sorted(_search(t, "params.opt != 'adam'")) == ["b", "c"]


def test_tags_attributes_and_experiment_scope(runs: Tracking) -> None:
    t = runs
    assert sorted(_search(t, "tags.team = 'risk'")) == ["a", "d"]
    assert sorted(_search(t, "name LIKE 'a%' and status = 'RUNNING'")) == ["a"]
    assert _search(t, "status = 'FINISHED'") == []
    assert sorted(_search(t, "start_time >= '2000-01-01T00:00:00Z'")) == list("abcde")
    assert _search(t, "start_time < '2000-01-01'") == []
    assert sorted(_search(t, "", experiments=["other"])) == ["e"]
    assert sorted(_search(t, "metrics.auc > 0", experiments=["exp"])) == ["a", "b", "c"]


def test_ordering_puts_missing_values_last_both_ways(runs: Tracking) -> None:
    t = runs
    assert _search(t, "", ["metrics.loss ASC", "name"]) == ["c", "a", "b", "d", "e"]
    assert _search(t, "", ["metrics.loss DESC", "name"]) == ["a", "c", "b", "d", "e"]
    # Numeric params in numeric order, then text values, then runs without the param.
    assert _search(t, "", ["params.lr"]) == ["c", "b", "a", "e", "d"]
    assert _search(t, "", ["params.lr DESC"]) == ["e", "a", "b", "c", "d"]
    assert _search(t, "", ["tags.team", "name DESC"]) == ["b", "d", "a", "e", "c"]


def test_pagination_is_stable_while_runs_are_added(tracking: Tracking) -> None:
    t = tracking
    for i in range(12):
        new_run(t, name=f"r{i:02d}", metrics={"auc": (i % 4) / 4} if i % 3 else None)
    seen: list[tuple[str, str, float | None]] = []
    token = ""
    while True:
        response = t.stub.SearchRuns(
            tracking_pb2.SearchRunsRequest(
                order_by=["metrics.auc DESC"],
                page=common_pb2.PageRequest(page_size=5, page_token=token),
            ),
            metadata=t.viewer,
        )
        assert response.total_count >= 12
        for r in response.runs:
            seen.append((r.name, r.id, last_value(r, "auc")))
        # A run added between pages lands somewhere; it must not shift what follows.
        new_run(t, name=f"late{len(seen)}", metrics={"auc": 0.6})
        token = response.next_page_token
        if not token:
            break
    originals = [(auc, run_id, name) for name, run_id, auc in seen if name.startswith("r")]
    assert len({name for *_, name in originals}) == len(originals) == 12
    # Descending auc, ties by run id, runs without the metric last (by id).
    present = [o for o in originals if o[0] is not None]
    missing = [o for o in originals if o[0] is None]
    assert originals == present + missing
    assert present == sorted(present, key=lambda o: (-o[0], o[1]))  # type: ignore[operator]
    assert missing == sorted(missing, key=lambda o: o[1]) and len(missing) == 4
    with pytest.raises(grpc.RpcError) as info:
        t.stub.SearchRuns(
            tracking_pb2.SearchRunsRequest(
                order_by=["name"], page=common_pb2.PageRequest(page_size=5, page_token=token or "x")
            ),
            metadata=t.viewer,
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page.page_token" in str(info.value.details())


def test_parse_errors_name_the_position(runs: Tracking) -> None:
    t = runs
    assert "position 13" in _refusal(t, "metrics.auc ~ 0.9")
    assert "position 1" in _refusal(t, "metric.auc > 0.9")
    assert "AND between conditions at position 19" in _refusal(t, "metrics.auc > 0.9 OR name = 'x'")
    assert "end of filter" in _refusal(t, "metrics.auc >")
    assert "a number to compare metrics.auc" in _refusal(t, "metrics.auc > 'high'")
    assert "quoted string for tags.team" in _refusal(t, "tags.team = 3")
    assert "status = or !=" in _refusal(t, "status = 'DONE'")
    assert "ISO 8601" in _refusal(t, "start_time > 'yesterday'")
    assert "order_by[1]" in _refusal(t, "", ["name", "metrics.auc SIDEWAYS"])
    # Quotes inside strings are data, never SQL.
    assert _search(t, "name = 'x'' OR 1=1 --'") == []


def test_a_page_holds_whole_runs_exactly_as_get_run(tracking: Tracking) -> None:
    t = tracking
    # Values that only survive the page's loading with all their digits.
    values = {"third": 1 / 3, "sum": 0.1 + 0.2, "tiny": 1e-300, "big": -2.5e17, "whole": 3.0}
    full = new_run(t, name="full", params={"lr": "0.1", "opt": "adam"},
                   tags={"team": "risk", "note": "x"}, metrics=values)  # fmt: skip
    new_run(t, name="bare")
    new_run(t, name="params-only", params={"only": "yes"})
    with t.hub.engine.begin() as conn:
        for path in ("z/model.onnx", "a.txt"):
            conn.execute(
                insert(RunArtifactLink).values(
                    run_id=full, path=path, sha256="c" * 64, size=7, created_at=datetime.now(UTC)
                )
            )
    response = t.stub.SearchRuns(tracking_pb2.SearchRunsRequest(), metadata=t.viewer)
    assert sorted(r.name for r in response.runs) == ["bare", "full", "params-only"]
    for run in response.runs:
        assert run == t.stub.GetRun(tracking_pb2.GetRunRequest(run_id=run.id), metadata=t.viewer)
    found = next(r for r in response.runs if r.name == "full")
    # Summaries by key, artifacts by path, every value bit for bit.
    assert list(found.metrics.keys) == sorted(values)
    assert {k: m.last for k, m in summaries(found).items()} == values
    assert [(a.path, a.size) for a in found.artifacts] == [("a.txt", 7), ("z/model.onnx", 7)]
    assert dict(found.params) == {"lr": "0.1", "opt": "adam"}
    assert dict(found.tags) == {"team": "risk", "note": "x"}
    bare = next(r for r in response.runs if r.name == "bare")
    assert not bare.metrics.keys and not bare.params and not bare.artifacts


def test_totals_past_the_exact_limit_are_flagged_estimates_on_postgresql(
    tracking: Tracking, hub_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = tracking
    for i in range(6):
        new_run(t, name=f"r{i}", metrics={"auc": i / 10})
    # As if far more runs matched than the hub counts exactly.
    monkeypatch.setattr(total_module, "EXACT_UP_TO", 0)

    def first_page(flt: str, size: int) -> tracking_pb2.SearchRunsResponse:
        page = common_pb2.PageRequest(page_size=size)
        request = tracking_pb2.SearchRunsRequest(filter=flt, order_by=["name"], page=page)
        return t.stub.SearchRuns(request, metadata=t.viewer)  # type: ignore[no-any-return]

    response = first_page("metrics.auc >= 0", 2)
    if hub_db_url.startswith("postgresql"):
        # The planner's figure, never below what the page proved (a page and one more).
        assert response.total_is_estimate and response.total_count >= 3
    else:
        # SQLite keeps no statistics: always counted.
        assert not response.total_is_estimate and response.total_count == 6
    # The next page carries the first page's total and flag in its token.
    token = response.next_page_token
    page = common_pb2.PageRequest(page_size=2, page_token=token)
    second = t.stub.SearchRuns(
        tracking_pb2.SearchRunsRequest(filter="metrics.auc >= 0", order_by=["name"], page=page),
        metadata=t.viewer,
    )
    assert (second.total_count, second.total_is_estimate) == (
        response.total_count,
        response.total_is_estimate,
    )
    # Another filter of the same shape is estimated from the cached EXPLAIN statement.
    again = first_page("metrics.auc >= 0.1", 2)
    if hub_db_url.startswith("postgresql"):
        assert again.total_is_estimate and again.total_count >= 3
    # A page that holds every match is its own exact total, on either database.
    whole = first_page("metrics.auc >= 0.3", 10)
    assert (whole.total_count, whole.total_is_estimate) == (3, False)


@pytest.mark.parametrize("window", [4096, 2])
def test_filtered_pages_in_metric_order_match_the_filter_and_order(
    tracking: Tracking, window: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Filters on metrics, params and tags while the order metric's index is read in
    windows (tiny windows: every page widens them and crosses into runs without it)."""
    t = tracking
    monkeypatch.setattr(search, "FIRST_WINDOW", window)
    monkeypatch.setattr(search, "WINDOW_GROWTH", 2)
    expected = []
    for i in range(16):
        auc = None if i % 5 == 4 else (i % 6) / 6
        team = "risk" if i % 3 else "growth"
        new_run(t, name=f"r{i:02d}", params={"lr": str(i / 100)}, tags={"team": team},
                metrics={"loss": i / 16, **({"auc": auc} if auc is not None else {})})  # fmt: skip
        if i / 16 > 0.1 and i / 100 < 0.13 and team == "risk":
            expected.append((auc, f"r{i:02d}"))
    seen, token = [], ""
    while True:
        response = t.stub.SearchRuns(
            tracking_pb2.SearchRunsRequest(
                filter="metrics.loss > 0.1 and params.lr < 0.13 and tags.team = 'risk'",
                order_by=["metrics.auc DESC"],
                page=common_pb2.PageRequest(page_size=3, page_token=token),
            ),
            metadata=t.viewer,
        )
        for r in response.runs:
            seen.append((last_value(r, "auc"), r.id, r.name))
        token = response.next_page_token
        if not token:
            break
    assert sorted(name for *_, name in seen) == sorted(name for _, name in expected)
    present = [s for s in seen if s[0] is not None]
    missing = [s for s in seen if s[0] is None]
    assert seen == present + missing and missing
    assert present == sorted(present, key=lambda s: (-s[0], s[1]))  # type: ignore[operator]
    assert missing == sorted(missing, key=lambda s: s[1])


def test_first_pages_are_right_whatever_window_edge_the_hub_recalls(
    tracking: Tracking, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first page's window edge may be a recent one rather than the current one: runs
    logged since, above or below it, and a filter it does not suit change nothing."""
    t = tracking
    monkeypatch.setattr(search, "FIRST_WINDOW", 2)
    monkeypatch.setattr(search, "WINDOW_GROWTH", 2)

    def first_page(flt: str = "") -> list[str]:
        return _search(t, flt, ["metrics.auc DESC"], page=common_pb2.PageRequest(page_size=2))

    new_run(t, name="only", metrics={"auc": 0.35})
    assert first_page() == ["only"]  # fewer runs than the window: no edge
    for i in range(1, 5):
        new_run(t, name=f"low{i}", metrics={"auc": i / 10})
    assert first_page() == ["low4", "only"]
    for i in range(7, 10):
        new_run(t, name=f"high{i}", metrics={"auc": i / 10})
    assert first_page() == ["high9", "high8"]
    assert first_page("metrics.auc < 0.25") == ["low2", "low1"]


def test_metric_columns_come_out_in_key_order_whatever_order_they_came_in() -> None:
    columns = MetricColumns(["b", "a", "c"], [2.0, 1.0, 3.0], [0.2, 0.1, 0.3], [2.5, 1.5, 3.5],
                            [2, 1, 3], [20, 10, 30])  # fmt: skip
    ordered = columns.by_key()
    assert ordered == MetricColumns(["a", "b", "c"], [1.0, 2.0, 3.0], [0.1, 0.2, 0.3],
                                    [1.5, 2.5, 3.5], [1, 2, 3], [10, 20, 30])  # fmt: skip
    assert ordered.by_key() is ordered
