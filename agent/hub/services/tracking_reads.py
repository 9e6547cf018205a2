"""The read half of the Tracking servicer: experiments, runs, search, history, comparison."""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelfleet.agent.hub import validation
from modelfleet.agent.hub.access.principal import current_call
from modelfleet.agent.hub.db.tracking_models import Experiment, MetricSeries
from modelfleet.agent.hub.errors import Context, InvalidArgument, NotFound
from modelfleet.agent.hub.services.users import decode_cursor, encode_cursor, page_size
from modelfleet.agent.hub.state import HubState
from modelfleet.agent.hub.tracking import convert, search
from modelfleet.agent.hub.tracking.filters import parse_filter, parse_order_by
from modelfleet.agent.hub.tracking.history import history
from modelfleet.agent.hub.tracking.queries import (
    PAGE_COLUMNS,
    check_key,
    find_experiment,
    find_run,
    page_view,
    page_views,
    run_counts,
    run_views,
    runs_by_id,
)
from modelfleet.agent.hub.tracking.recent import Recent
from modelfleet.agent.hub.tracking.total import total
from modelfleet.proto.v1 import tracking_pb2, tracking_pb2_grpc

log = logging.getLogger(__name__)

MAX_COMPARE = 100


class TrackingReads(tracking_pb2_grpc.TrackingServicer):
    def __init__(self, hub: HubState) -> None:
        self._hub = hub
        # Experiments are never renamed or deleted, so a ref keeps its id; the exception,
        # an id-like ref that a later experiment takes as its name (names win), is
        # forgotten when this replica creates that experiment, after the TTL elsewhere.
        self._experiment_ids: Recent[tuple[str, str], str] = Recent(ttl=300.0)
        # The planner's estimates of totals (they move as statistics are refreshed and
        # tables grow) and the window edges of first pages (any edge is correct; a recent
        # one is close): a search repeated within seconds skips both round trips.
        self._estimates: Recent[str, int] = Recent(ttl=30.0)
        self._first_edges: Recent[search.EdgeKey, float | None] = Recent(ttl=30.0)

    def _experiment_id(self, s: Session, workspace_id: str, ref: str, field: str) -> str:
        return self._experiment_ids.get(
            (workspace_id, ref), lambda: find_experiment(s, workspace_id, ref, field).id
        )

    async def GetExperiment(
        self, request: tracking_pb2.GetExperimentRequest, context: Context
    ) -> tracking_pb2.Experiment:
        call = current_call()

        def get(s: Session) -> tracking_pb2.Experiment:
            row = find_experiment(s, call.ws.id, request.experiment)
            return convert.experiment(row, run_counts(s, [row.id]).get(row.id, 0))

        return await self._hub.db.read(get)

    async def ListExperiments(
        self, request: tracking_pb2.ListExperimentsRequest, context: Context
    ) -> tracking_pb2.ListExperimentsResponse:
        call = current_call()
        limit = page_size(request.page.page_size)
        after = decode_cursor(request.page.page_token) if request.page.page_token else ""
        query = select(Experiment).where(Experiment.workspace_id == call.ws.id)
        if request.query:
            needle = validation.text("query", request.query, 128)
            escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(Experiment.name.like(f"%{escaped}%", escape="\\"))
        query = query.where(Experiment.name > after).order_by(Experiment.name).limit(limit + 1)

        def list_experiments(s: Session) -> tracking_pb2.ListExperimentsResponse:
            rows = list(s.scalars(query))
            more = len(rows) > limit
            rows = rows[:limit]
            counts = run_counts(s, [r.id for r in rows])
            return tracking_pb2.ListExperimentsResponse(
                experiments=[convert.experiment(r, counts.get(r.id, 0)) for r in rows],
                next_page_token=encode_cursor(rows[-1].name) if more else "",
            )

        return await self._hub.db.read(list_experiments)

    async def GetRun(
        self, request: tracking_pb2.GetRunRequest, context: Context
    ) -> tracking_pb2.Run:
        call = current_call()

        def get(s: Session) -> tracking_pb2.Run:
            return convert.run(run_views(s, [find_run(s, call.ws.id, request.run_id)])[0])

        return await self._hub.db.read(get)

    async def SearchRuns(
        self, request: tracking_pb2.SearchRunsRequest, context: Context
    ) -> tracking_pb2.SearchRunsResponse:
        call = current_call()
        started = time.perf_counter()
        clauses = parse_filter(request.filter)
        order = parse_order_by(list(request.order_by))
        limit = page_size(request.page.page_size)
        refs = list(request.experiments)
        query_id = search.fingerprint(call.ws.id, refs, request.filter, list(request.order_by))

        def run_search(s: Session) -> tracking_pb2.SearchRunsResponse:
            experiments = None
            if refs:
                experiments = [
                    self._experiment_id(s, call.ws.id, ref, f"experiments[{i}]")
                    for i, ref in enumerate(refs)
                ]

            # PostgreSQL returns each run whole with the page; SQLite loads them after it.
            postgres = s.get_bind().dialect.name == "postgresql"
            columns = PAGE_COLUMNS if postgres else ()

            def make(
                after: tuple[list[Any], str] | None,
                n: int,
                present: bool | None,
                window: float | None,
            ) -> search.SearchQuery:
                return search.build(
                    call.ws.id, experiments, clauses, order, after, n, present=present,
                    window=window, columns=columns,
                )  # fmt: skip

            # Built first: it checks every clause (bad input is named before the token).
            matching = search.matching(call.ws.id, experiments, clauses)
            sorts = search.sorts(order)
            cursor, found = None, None
            if request.page.page_token:
                cursor, found = search.decode_cursor(request.page.page_token, query_id, sorts)
            rows = search.page_rows(s, make, order, cursor, limit + 1, self._first_edges)
            more = len(rows) > limit
            rows = rows[:limit]
            if postgres:
                views = [page_view(row[1 + len(sorts) :]) for row in rows]
            else:
                views = page_views(s, [row[0] for row in rows])
            if found is None:
                key = search.fingerprint(call.ws.id, experiments, request.filter)
                found = total(s, matching, len(rows), more, self._estimates, key)
            token = search.encode_cursor(query_id, sorts, rows[-1], found) if more else ""
            return tracking_pb2.SearchRunsResponse(
                runs=[convert.run(v) for v in views],
                next_page_token=token,
                total_count=found.count,
                total_is_estimate=found.estimate,
            )

        response = await self._hub.db.read(run_search)
        log.debug(
            "[Tracking.SearchRuns] runs=%d total=%d in %.1f ms",
            len(response.runs), response.total_count, (time.perf_counter() - started) * 1e3,
        )  # fmt: skip
        return response

    async def GetMetricHistory(
        self, request: tracking_pb2.GetMetricHistoryRequest, context: Context
    ) -> tracking_pb2.GetMetricHistoryResponse:
        call = current_call()
        key = check_key("key", request.key)

        def get(s: Session) -> tracking_pb2.GetMetricHistoryResponse:
            run = find_run(s, call.ws.id, request.run_id)
            series = s.scalars(
                select(MetricSeries).where(MetricSeries.run_id == run.id, MetricSeries.key == key)
            ).first()
            if series is None:
                raise NotFound(f"key: run {run.id} has no metric {key!r}")
            buckets, total = history(
                s, series, request.max_points, request.start_step, request.end_step
            )
            return tracking_pb2.GetMetricHistoryResponse(
                buckets=[
                    tracking_pb2.MetricBucket(
                        step=b.step,
                        value=b.value,
                        min=b.min,
                        max=b.max,
                        count=b.count,
                        first_step=b.first_step,
                        last_step=b.last_step,
                        timestamp_ms=b.timestamp_ms,
                    )
                    for b in buckets
                ],
                total_points=total,
            )

        return await self._hub.db.read(get)

    async def CompareRuns(
        self, request: tracking_pb2.CompareRunsRequest, context: Context
    ) -> tracking_pb2.CompareRunsResponse:
        call = current_call()
        ids = list(request.run_ids)
        if not 1 <= len(ids) <= MAX_COMPARE:
            raise InvalidArgument("run_ids", f"1-{MAX_COMPARE} run ids", got=str(len(ids)))
        if len(set(ids)) != len(ids):
            raise InvalidArgument("run_ids", "distinct run ids")

        def compare(s: Session) -> tracking_pb2.CompareRunsResponse:
            views = run_views(s, runs_by_id(s, call.ws.id, ids))
            param_keys = sorted({k for v in views for k in v.params})
            params = []
            for key in param_keys:
                values = [v.params.get(key, "") for v in views]
                present = [key in v.params for v in views]
                differs = len(set(values)) > 1 or not all(present)
                params.append(tracking_pb2.ParamComparison(key=key, values=values, differs=differs))
            rows = [{k: i for i, k in enumerate(v.metrics.keys)} for v in views]
            metric_keys = sorted({k for run in rows for k in run})
            metrics = [
                tracking_pb2.MetricComparison(
                    key=key,
                    per_run=[
                        convert.summary(view.metrics, run[key])
                        if key in run
                        else tracking_pb2.MetricSummary(key=key)  # count 0: not logged
                        for view, run in zip(views, rows, strict=True)
                    ],
                )
                for key in metric_keys
            ]
            return tracking_pb2.CompareRunsResponse(
                runs=[convert.run(v) for v in views], params=params, metrics=metrics
            )

        return await self._hub.db.read(compare)
