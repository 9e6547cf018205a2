"""Tracking servicer: experiments, runs, LogBatch, artifacts and comments; reads come from
`tracking_reads`."""

from __future__ import annotations

import logging
import re

import orjson
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelfleet.agent.hub import validation
from modelfleet.agent.hub.access.principal import Call, current_call
from modelfleet.agent.hub.access.recording import record
from modelfleet.agent.hub.db import new_id, utcnow
from modelfleet.agent.hub.db.tracking_models import (
    Experiment,
    LoggedBatch,
    Run,
    RunArtifactLink,
    RunComment,
)
from modelfleet.agent.hub.errors import Context, InvalidArgument, NotFound
from modelfleet.agent.hub.registry.artifacts import digest, require_visible
from modelfleet.agent.hub.services.convert import from_timestamp
from modelfleet.agent.hub.services.tracking_reads import TrackingReads
from modelfleet.agent.hub.tracking import convert, ingest
from modelfleet.agent.hub.tracking.queries import (
    assign_seq,
    check_values,
    find_experiment,
    find_run,
    run_counts,
    run_views,
)
from modelfleet.proto.v1 import registry_pb2, tracking_pb2

log = logging.getLogger(__name__)

MAX_COMMENT = 10_000
_EXPERIMENT_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,128}")
EXPERIMENT_RULE = "1-128 printable characters"
_TERMINAL = (tracking_pb2.FINISHED, tracking_pb2.FAILED, tracking_pb2.KILLED)


def _experiment_name(field: str, value: str) -> str:
    if not _EXPERIMENT_NAME.fullmatch(value) or value != value.strip():
        raise InvalidArgument(field, EXPERIMENT_RULE + " without surrounding spaces", repr(value))
    return value


_ARTIFACT_PATH_RULE = "a portable relative POSIX path like 'plots/roc.png'"
# Readers may write run artifacts to `dest / path` on any OS, so the path must mean the same
# relative file on POSIX and on Windows.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _artifact_path(value: str) -> str:
    problem = _artifact_path_problem(value)
    if problem:
        shown = repr(value) if len(value) <= 80 else f"{len(value)} characters"
        raise InvalidArgument("path", _ARTIFACT_PATH_RULE, f"{shown}, which {problem}")
    return value


def _artifact_path_problem(value: str) -> str:
    if not value:
        return "is empty"
    if len(value) > 1024:
        return "is longer than 1024 characters"
    if _CONTROL.search(value):
        return "has NUL or another control character"
    if "\\" in value:
        return "has a backslash ('/' is the only separator)"
    if ":" in value:
        return "has a ':' (a drive letter or stream on Windows)"
    if value.startswith("/"):
        return "is absolute (leading '/')"
    parts = value.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "has an empty, '.' or '..' segment"
    if any(len(p.encode()) > 255 for p in parts):
        return "has a segment over 255 bytes"
    return ""


def _ensure_experiment(s: Session, call: Call, name: str, description: str = "",
                       tags: dict[str, str] | None = None) -> Experiment:  # fmt: skip
    """The experiment `name`, created when missing; safe against a concurrent creation."""
    insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
    s.execute(
        insert(Experiment)
        .values(
            id=new_id(),
            workspace_id=call.ws.id,
            name=name,
            description=description,
            tags_json=orjson.dumps(tags or {}).decode(),
            created_by=call.user.username,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=[Experiment.workspace_id, Experiment.name])
    )
    return find_experiment(s, call.ws.id, name)


class TrackingServicer(TrackingReads):
    async def CreateExperiment(
        self, request: tracking_pb2.CreateExperimentRequest, context: Context
    ) -> tracking_pb2.Experiment:
        call = current_call()
        call.target = f"experiment:{request.name[:128]}"
        name = _experiment_name("name", request.name)
        validation.text("description", request.description, 4096)
        tags = check_values("tags", request.tags)

        def create(s: Session) -> tracking_pb2.Experiment:
            row = _ensure_experiment(s, call, name, request.description, tags)
            record(s, call, details={"experiment_id": row.id})
            return convert.experiment(row, run_counts(s, [row.id]).get(row.id, 0))

        created = await self._hub.db.write(create)
        # The name now resolves to this experiment, even where it read as another's id.
        self._experiment_ids.forget((call.ws.id, name))
        return created

    async def CreateRun(
        self, request: tracking_pb2.CreateRunRequest, context: Context
    ) -> tracking_pb2.Run:
        call = current_call()
        call.target = f"experiment:{request.experiment[:128]}"
        validation.required("experiment", request.experiment, "an experiment id or name")
        validation.text("name", request.name, 256)
        params = check_values("params", request.params)
        tags = check_values("tags", request.tags)
        start = from_timestamp(request.start_time) if request.HasField("start_time") else utcnow()

        def create(s: Session) -> tracking_pb2.Run:
            try:
                experiment = find_experiment(s, call.ws.id, request.experiment)
            except NotFound:
                experiment = _ensure_experiment(
                    s, call, _experiment_name("experiment", request.experiment)
                )
            parent = None
            if request.parent_run_id:
                parent = find_run(s, call.ws.id, request.parent_run_id, "parent_run_id").id
            run = Run(
                workspace_id=call.ws.id,
                experiment_id=experiment.id,
                name=request.name,
                status=tracking_pb2.RUNNING,
                start_time=start,
                parent_run_id=parent,
                created_by=call.user.username,
            )
            assign_seq(s, run)
            s.add(run)
            s.flush()
            ingest.store_params(s, run, params)
            ingest.store_tags(s, run, tags)
            call.target = f"run:{run.id}"
            record(s, call, details={"experiment_id": experiment.id, "run_id": run.id})
            return convert.run(run_views(s, [run])[0])

        created = await self._hub.db.write(create)
        self._experiment_ids.forget((call.ws.id, request.experiment))  # as in CreateExperiment
        return created

    async def UpdateRun(
        self, request: tracking_pb2.UpdateRunRequest, context: Context
    ) -> tracking_pb2.Run:
        call = current_call()
        call.target = f"run:{request.run_id[:64]}"
        if request.status not in tracking_pb2.RunStatus.values():
            raise InvalidArgument("status", "a RunStatus value", got=str(request.status))
        validation.text("name", request.name, 256)

        def update(s: Session) -> tracking_pb2.Run:
            run = find_run(s, call.ws.id, request.run_id)
            if request.status != tracking_pb2.RUN_STATUS_UNSPECIFIED:
                run.status = request.status
            if request.HasField("end_time"):
                end = from_timestamp(request.end_time)
                if end < run.start_time:
                    raise InvalidArgument("end_time", "a time after the run's start_time")
                run.end_time = end
            elif request.status in _TERMINAL and run.end_time is None:
                run.end_time = utcnow()
            if request.name:
                run.name = request.name
            record(s, call, details={"status": run.status})
            return convert.run(run_views(s, [run])[0])

        return await self._hub.db.write(update)

    async def LogBatch(
        self, request: tracking_pb2.LogBatchRequest, context: Context
    ) -> tracking_pb2.LogBatchResponse:
        call = current_call()
        call.target = f"run:{request.run_id[:64]}"
        points = ingest.read_points(request)
        params = check_values("params", request.params)
        tags = check_values("tags", request.tags)
        n = len(points.values)

        def log_batch(s: Session) -> tuple[int, bool]:
            run = find_run(s, call.ws.id, request.run_id)
            prior = ingest.claim(s, run.id, request.idempotency_key, n)
            if prior is not None:
                return prior, True
            ingest.store_params(s, run, params)
            ingest.store_tags(s, run, tags)
            stored = ingest.store_points(s, run, points)
            record(s, call, details={"metrics": stored, "params": len(params), "tags": len(tags)})
            return stored, False

        try:
            stored, duplicate = await self._hub.db.write(log_batch)
        except IntegrityError:
            # Lost a race: either the same key committed concurrently (a duplicate), or
            # another batch added the same new param or series first (write again).
            prior = await self._hub.db.read(
                lambda s: s.get(LoggedBatch, (request.run_id, request.idempotency_key))
            )
            if prior is not None:
                stored, duplicate = prior.metrics_stored, True
            else:
                stored, duplicate = await self._hub.db.write(log_batch)
        if duplicate:
            log.info("[Tracking.LogBatch] run=%s key already stored", request.run_id)
        return ingest.batch_response(stored, duplicate)

    async def LogArtifact(
        self, request: tracking_pb2.LogArtifactRequest, context: Context
    ) -> tracking_pb2.RunArtifact:
        call = current_call()
        call.target = f"run:{request.run_id[:64]}"
        path = _artifact_path(request.path)
        sha256 = digest("sha256", request.sha256)

        def link(s: Session) -> tracking_pb2.RunArtifact:
            run = find_run(s, call.ws.id, request.run_id)
            artifact = require_visible(s, call.ws.id, sha256)
            row = s.get(RunArtifactLink, (run.id, path))
            if row is None:
                row = RunArtifactLink(run_id=run.id, path=path, sha256=sha256, size=artifact.size)
                s.add(row)
            else:
                row.sha256, row.size = sha256, artifact.size
            record(s, call, details={"path": path, "sha256": sha256})
            return tracking_pb2.RunArtifact(path=path, sha256=sha256, size=artifact.size)

        return await self._hub.db.write(link)

    async def AddRunComment(
        self, request: tracking_pb2.AddRunCommentRequest, context: Context
    ) -> registry_pb2.Comment:
        call = current_call()
        call.target = f"run:{request.run_id[:64]}"
        if not request.body.strip():
            raise InvalidArgument("body", "a non-empty comment", got="empty")
        validation.text("body", request.body, MAX_COMMENT)

        def add(s: Session) -> registry_pb2.Comment:
            run = find_run(s, call.ws.id, request.run_id)
            row = RunComment(run_id=run.id, author=call.user.username, body=request.body)
            s.add(row)
            s.flush()
            record(s, call, details={"comment_id": row.id})
            return convert.comment(row)

        return await self._hub.db.write(add)

    async def ListRunComments(
        self, request: tracking_pb2.ListRunCommentsRequest, context: Context
    ) -> registry_pb2.ListCommentsResponse:
        call = current_call()

        def list_comments(s: Session) -> registry_pb2.ListCommentsResponse:
            run = find_run(s, call.ws.id, request.run_id)
            rows = s.scalars(
                select(RunComment)
                .where(RunComment.run_id == run.id)
                .order_by(RunComment.created_at, RunComment.id)
            )
            return registry_pb2.ListCommentsResponse(comments=[convert.comment(r) for r in rows])

        return await self._hub.db.read(list_comments)
