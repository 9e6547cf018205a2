"""The tracking half of `HubClient`: experiments, runs, batches, search, history, comments."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from modelfleet.client import _convert as cv
from modelfleet.client._calls import Caller, Scope
from modelfleet.client._registry import Comment, comment_from_pb
from modelfleet.client._tracking import (
    Experiment,
    MetricHistory,
    Run,
    RunArtifact,
    RunComparison,
    RunSearchPage,
    RunStatus,
    comparison_from_pb,
    experiment_from_pb,
    history_from_pb,
    run_from_pb,
    search_page_from_pb,
    status_to_pb,
)
from modelfleet.client._types import Page
from modelfleet.proto.v1 import tracking_pb2, tracking_pb2_grpc


class TrackingCalls:
    """Mixed into `HubClient` (uses its `_caller`); every call acts in the client's (or the
    given) workspace."""

    _caller: Caller

    @property
    def _tracking(self) -> tracking_pb2_grpc.TrackingStub:
        return tracking_pb2_grpc.TrackingStub(self._caller.channel)

    def _track(self, rpc: str, request: object, *, idempotent: bool, workspace: str | None) -> Any:
        return self._caller.unary(
            f"Tracking.{rpc}", getattr(self._tracking, rpc), request, idempotent=idempotent,
            scope=Scope.REQUIRED, workspace=workspace,
        )  # fmt: skip

    # --- experiments ----------------------------------------------------------------------

    def create_experiment(
        self,
        name: str,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        *,
        workspace: str | None = None,
    ) -> Experiment:
        """The experiment called `name`, created when missing (so safe to retry)."""
        request = tracking_pb2.CreateExperimentRequest(
            name=name, description=description, tags=dict(tags or {})
        )
        msg = self._track("CreateExperiment", request, idempotent=True, workspace=workspace)
        return experiment_from_pb(msg)

    def get_experiment(self, experiment: str, *, workspace: str | None = None) -> Experiment:
        request = tracking_pb2.GetExperimentRequest(experiment=experiment)
        return experiment_from_pb(
            self._track("GetExperiment", request, idempotent=True, workspace=workspace)
        )

    def list_experiments(
        self,
        query: str = "",
        *,
        page_size: int = 0,
        page_token: str | None = None,
        workspace: str | None = None,
    ) -> Page[Experiment]:
        request = tracking_pb2.ListExperimentsRequest(
            query=query, page=cv.page_request(page_size, page_token)
        )
        msg = self._track("ListExperiments", request, idempotent=True, workspace=workspace)
        items = tuple(experiment_from_pb(e) for e in msg.experiments)
        return Page(items, msg.next_page_token or None)

    # --- runs -------------------------------------------------------------------------------

    def create_run(
        self,
        experiment: str,
        *,
        name: str = "",
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        parent_run_id: str | None = None,
        start_time: datetime | None = None,
        workspace: str | None = None,
    ) -> Run:
        """A new RUNNING run in `experiment` (id or name; created when missing)."""
        request = tracking_pb2.CreateRunRequest(
            experiment=experiment, name=name, params=dict(params or {}), tags=dict(tags or {}),
            parent_run_id=parent_run_id or "", start_time=cv.time_to_pb(start_time),
        )  # fmt: skip
        return run_from_pb(self._track("CreateRun", request, idempotent=False, workspace=workspace))

    def get_run(self, run_id: str, *, workspace: str | None = None) -> Run:
        request = tracking_pb2.GetRunRequest(run_id=run_id)
        return run_from_pb(self._track("GetRun", request, idempotent=True, workspace=workspace))

    def update_run(
        self,
        run_id: str,
        *,
        status: RunStatus | None = None,
        end_time: datetime | None = None,
        name: str = "",
        workspace: str | None = None,
    ) -> Run:
        request = tracking_pb2.UpdateRunRequest(
            run_id=run_id, status=status_to_pb(status), end_time=cv.time_to_pb(end_time), name=name
        )
        # Setting the same status and end time twice leaves the same run: safe to retry.
        return run_from_pb(self._track("UpdateRun", request, idempotent=True, workspace=workspace))

    def log_batch(
        self, request: tracking_pb2.LogBatchRequest, *, workspace: str | None = None
    ) -> tracking_pb2.LogBatchResponse:
        """One attempt (the SDK's sender retries with the same idempotency key itself)."""
        response: tracking_pb2.LogBatchResponse = self._track(
            "LogBatch", request, idempotent=False, workspace=workspace
        )
        return response

    def log_artifact(
        self, run_id: str, path: str, sha256: str, *, workspace: str | None = None
    ) -> RunArtifact:
        """Place an uploaded artifact (by digest) at `path` in the run's artifact tree."""
        request = tracking_pb2.LogArtifactRequest(run_id=run_id, path=path, sha256=sha256)
        msg = self._track("LogArtifact", request, idempotent=True, workspace=workspace)
        return RunArtifact(msg.path, msg.sha256, msg.size)

    # --- search and analysis ------------------------------------------------------------

    def search_runs(
        self,
        experiments: Sequence[str] = (),
        filter: str = "",
        order_by: Sequence[str] = (),
        *,
        page_size: int = 0,
        page_token: str | None = None,
        workspace: str | None = None,
    ) -> RunSearchPage:
        """e.g. `filter="metrics.auc > 0.9 and params.lr = '0.01'"`,
        `order_by=["metrics.auc DESC"]`."""
        request = tracking_pb2.SearchRunsRequest(
            experiments=list(experiments), filter=filter, order_by=list(order_by),
            page=cv.page_request(page_size, page_token),
        )  # fmt: skip
        msg = self._track("SearchRuns", request, idempotent=True, workspace=workspace)
        return search_page_from_pb(msg)

    def iter_runs(
        self,
        experiments: Sequence[str] = (),
        filter: str = "",
        order_by: Sequence[str] = (),
        *,
        workspace: str | None = None,
    ) -> Iterator[Run]:
        token: str | None = None
        while True:
            page = self.search_runs(
                experiments, filter, order_by, page_token=token, workspace=workspace
            )
            yield from page.runs
            if not (token := page.next_page_token):
                return

    def get_metric_history(
        self,
        run_id: str,
        key: str,
        *,
        max_points: int = 1000,
        start_step: int = 0,
        end_step: int = 0,
        workspace: str | None = None,
    ) -> MetricHistory:
        """At most `max_points` buckets, each with its min/max envelope (0 = every point)."""
        request = tracking_pb2.GetMetricHistoryRequest(
            run_id=run_id, key=key, max_points=max_points, start_step=start_step,
            end_step=end_step,
        )  # fmt: skip
        msg = self._track("GetMetricHistory", request, idempotent=True, workspace=workspace)
        return history_from_pb(msg)

    def compare_runs(
        self, run_ids: Sequence[str], *, workspace: str | None = None
    ) -> RunComparison:
        request = tracking_pb2.CompareRunsRequest(run_ids=list(run_ids))
        msg = self._track("CompareRuns", request, idempotent=True, workspace=workspace)
        return comparison_from_pb(msg)

    # --- comments ---------------------------------------------------------------------------

    def add_run_comment(self, run_id: str, body: str, *, workspace: str | None = None) -> Comment:
        request = tracking_pb2.AddRunCommentRequest(run_id=run_id, body=body)
        msg = self._track("AddRunComment", request, idempotent=False, workspace=workspace)
        return comment_from_pb(msg)

    def list_run_comments(self, run_id: str, *, workspace: str | None = None) -> list[Comment]:
        request = tracking_pb2.ListRunCommentsRequest(run_id=run_id)
        msg = self._track("ListRunComments", request, idempotent=True, workspace=workspace)
        return [comment_from_pb(c) for c in msg.comments]
