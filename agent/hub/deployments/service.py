"""Deployments servicer: deploy, promote, roll back, split traffic, undeploy, list, timeline."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelfleet.agent.hub import validation
from modelfleet.agent.hub.access.principal import current_call
from modelfleet.agent.hub.access.recording import record
from modelfleet.agent.hub.db.fleet_models import Agent, DeploymentRow
from modelfleet.agent.hub.deployments import convert, keys, monitoring, policy, store, traffic
from modelfleet.agent.hub.deployments.spec import KeyRecord, Spec, settings_of
from modelfleet.agent.hub.errors import Context, FailedPrecondition, InvalidArgument, NotFound
from modelfleet.agent.hub.fleet.runtime import FleetRuntime
from modelfleet.proto.v1 import deployments_pb2, deployments_pb2_grpc

MAX_REASON = 1024
#: Spec fields only their own calls change; every other change keeps the current values.
CARRIED = ("inference_keys", "monitoring")
Change = Callable[[Session, DeploymentRow | None], tuple[Spec, str]]


class DeploymentsServicer(deployments_pb2_grpc.DeploymentsServicer):
    def __init__(
        self, fleet: FleetRuntime, promotion_policy: policy.PromotionPolicy | None = None
    ) -> None:
        self._fleet = fleet
        self._db = fleet.hub.db
        self._policy = promotion_policy or policy.AllowAll()

    async def Deploy(
        self, request: deployments_pb2.DeployRequest, context: Context
    ) -> deployments_pb2.Deployment:
        selector = store.selector("selector", request.selector)
        validation.text("sticky_key", request.sticky_key, 128)
        settings = monitoring.parse("monitoring_json", request.monitoring_json)

        def change(s: Session, row: DeploymentRow | None) -> tuple[Spec, str]:
            target, source = store.resolve(
                s, current_call().ws.id, request.model_name, request.model_version, request.alias
            )
            spec = Spec(
                targets=(target,),
                selector=selector,
                sticky_key=request.sticky_key,
                batching=settings_of(request.batching),
                limits=settings_of(request.limits),
                source=source,
                monitoring=settings,
            )
            # Deploying straight to a guarded environment is a promotion too.
            self._ask_policy("deploy", request.name, request.environment, spec, row, request.reason)
            return spec, "deploy"

        sets = frozenset({"monitoring"}) if request.monitoring_json.strip() else frozenset()
        return await self._change(
            request.name, request.environment, request.reason, change, sets=sets
        )

    async def SetMonitoring(
        self, request: deployments_pb2.SetMonitoringRequest, context: Context
    ) -> deployments_pb2.Deployment:
        settings = monitoring.parse("monitoring_json", request.monitoring_json)

        def change(s: Session, row: DeploymentRow | None) -> tuple[Spec, str]:
            current = Spec.from_json(_require(row, request.name, request.environment).spec_json)
            return dataclasses.replace(current, monitoring=settings), "monitoring"

        return await self._change(
            request.name, request.environment, request.reason, change,
            sets=frozenset({"monitoring"}),
        )  # fmt: skip

    async def Promote(
        self, request: deployments_pb2.PromoteRequest, context: Context
    ) -> deployments_pb2.Deployment:
        source_env = store.environment("from_environment", request.from_environment)
        target_env = store.environment("to_environment", request.to_environment)
        if source_env == target_env:
            raise InvalidArgument("to_environment", "an environment other than from_environment")
        call = current_call()

        def change(s: Session, row: DeploymentRow | None) -> tuple[Spec, str]:
            origin = store.find(s, call.ws.id, source_env, request.name)
            spec = Spec.from_json(origin.spec_json)
            if not spec.active:
                raise FailedPrecondition(
                    f"from_environment: {request.name!r} is undeployed in {source_env!r}"
                )
            spec = dataclasses.replace(spec, source=f"promoted from {source_env}")
            self._ask_policy(
                "promote", request.name, target_env, spec, row, request.reason, source_env
            )
            return spec, "promote"

        return await self._change(
            request.name, request.to_environment, request.reason, change, field="to_environment"
        )

    async def Rollback(
        self, request: deployments_pb2.RollbackRequest, context: Context
    ) -> deployments_pb2.Deployment:
        def change(s: Session, row: DeploymentRow | None) -> tuple[Spec, str]:
            row = _require(row, request.name, request.environment)
            number = request.to_revision or row.revision - 1
            if number < 1:
                raise FailedPrecondition(
                    f"name: {row.name!r} has no revision before {row.revision}"
                )
            if number == row.revision:
                raise InvalidArgument("to_revision", "a revision other than the current one")
            spec = Spec.from_json(store.revision(s, row, number).spec_json)
            # Going back to what was served before is still a change the policy is asked about.
            self._ask_policy(
                "rollback", request.name, request.environment, spec, row, request.reason
            )
            return spec, "rollback"

        return await self._change(request.name, request.environment, request.reason, change)

    async def SetTraffic(
        self, request: deployments_pb2.SetTrafficRequest, context: Context
    ) -> deployments_pb2.Deployment:
        split = [(t.model_version, t.percent) for t in request.split]
        traffic.check_split(split)
        validation.text("sticky_key", request.sticky_key, 128)

        def change(s: Session, row: DeploymentRow | None) -> tuple[Spec, str]:
            current = self._current(s, row, request.name, request.environment)
            model = current.targets[0].model_name
            targets = store.retarget(s, current_call().ws.id, model, split)
            sticky = request.sticky_key or current.sticky_key
            spec = dataclasses.replace(current, targets=targets, sticky_key=sticky)
            self._ask_policy(
                "traffic", request.name, request.environment, spec, row, request.reason
            )
            return spec, "traffic"

        return await self._change(request.name, request.environment, request.reason, change)

    async def Undeploy(
        self, request: deployments_pb2.UndeployRequest, context: Context
    ) -> deployments_pb2.Deployment:
        def change(s: Session, row: DeploymentRow | None) -> tuple[Spec, str]:
            current = self._current(s, row, request.name, request.environment)
            spec = dataclasses.replace(current, state="undeployed")
            self._ask_policy(
                "undeploy", request.name, request.environment, spec, row, request.reason
            )
            return spec, "undeploy"

        return await self._change(request.name, request.environment, request.reason, change)

    async def ListDeployments(
        self, request: deployments_pb2.ListDeploymentsRequest, context: Context
    ) -> deployments_pb2.ListDeploymentsResponse:
        call = current_call()
        if request.environment:
            store.environment("environment", request.environment)

        def list_all(s: Session) -> list[deployments_pb2.Deployment]:
            query = select(DeploymentRow).where(DeploymentRow.workspace_id == call.ws.id)
            if request.environment:
                query = query.where(DeploymentRow.environment == request.environment)
            if not request.include_undeployed:
                query = query.where(DeploymentRow.state == "active")
            rows = list(s.scalars(query.order_by(DeploymentRow.environment, DeploymentRow.name)))
            return self._messages(s, rows)

        return deployments_pb2.ListDeploymentsResponse(deployments=await self._db.read(list_all))

    async def GetDeployment(
        self, request: deployments_pb2.GetDeploymentRequest, context: Context
    ) -> deployments_pb2.Deployment:
        call = current_call()
        env = store.environment("environment", request.environment)

        def get(s: Session) -> deployments_pb2.Deployment:
            return self._messages(s, [store.find(s, call.ws.id, env, request.name)])[0]

        return await self._db.read(get)

    async def ListDeploymentEvents(
        self, request: deployments_pb2.ListDeploymentEventsRequest, context: Context
    ) -> deployments_pb2.ListDeploymentEventsResponse:
        call = current_call()
        env = store.environment("environment", request.environment)

        def events(s: Session) -> list[deployments_pb2.DeploymentEvent]:
            row = store.find(s, call.ws.id, env, request.name)
            return [convert.event(r) for r in store.revisions(s, row)]

        return deployments_pb2.ListDeploymentEventsResponse(events=await self._db.read(events))

    # -- inference keys: a revision of kind "keys" each ------------------------------------

    async def CreateInferenceKey(
        self, request: deployments_pb2.CreateInferenceKeyRequest, context: Context
    ) -> deployments_pb2.CreateInferenceKeyResponse:
        keys.check_limits(request.rate_per_s, request.burst)
        secrets: list[str] = []

        def issue(current: Spec) -> tuple[Spec, KeyRecord]:
            actor = current_call().user.username
            spec, secret = keys.issue(
                current, request.name, request.rate_per_s, request.burst, actor
            )
            secrets.append(secret)
            return spec, spec.inference_keys[-1]

        record = await self._change_keys(request, issue)
        return deployments_pb2.CreateInferenceKeyResponse(key=keys.info(record), secret=secrets[0])

    async def ListInferenceKeys(
        self, request: deployments_pb2.ListInferenceKeysRequest, context: Context
    ) -> deployments_pb2.ListInferenceKeysResponse:
        call = current_call()
        validation.name("deployment", request.deployment)
        env = store.environment("environment", request.environment)

        def list_keys(s: Session) -> list[deployments_pb2.InferenceKeyInfo]:
            row = store.find(s, call.ws.id, env, request.deployment)
            return [keys.info(k) for k in Spec.from_json(row.spec_json).inference_keys]

        return deployments_pb2.ListInferenceKeysResponse(keys=await self._db.read(list_keys))

    async def RevokeInferenceKey(
        self, request: deployments_pb2.RevokeInferenceKeyRequest, context: Context
    ) -> deployments_pb2.InferenceKeyInfo:
        record = await self._change_keys(request, lambda spec: keys.revoke(spec, request.id))
        return keys.info(record)

    async def _change_keys(
        self,
        request: deployments_pb2.CreateInferenceKeyRequest
        | deployments_pb2.RevokeInferenceKeyRequest,
        edit: Callable[[Spec], tuple[Spec, KeyRecord]],
    ) -> KeyRecord:
        """A "keys" revision of an existing deployment; the key it added or removed."""
        changed: list[KeyRecord] = []

        def change(s: Session, row: DeploymentRow | None) -> tuple[Spec, str]:
            found = _require(row, request.deployment, request.environment, "deployment")
            spec, record = edit(Spec.from_json(found.spec_json))
            changed.append(record)
            current_call().details.update(key_id=record.id, key_name=record.name)
            return spec, "keys"

        await self._change(
            request.deployment, request.environment, request.reason, change,
            name_field="deployment", sets=frozenset({"inference_keys"}),
        )  # fmt: skip
        return changed[0]

    # -- one change = one revision, one audit row, one push ------------------------------

    async def _change(
        self,
        name: str,
        env: str,
        reason: str,
        change: Change,
        *,
        field: str = "environment",
        name_field: str = "name",
        sets: frozenset[str] = frozenset(),
    ) -> deployments_pb2.Deployment:
        """One change: `change` makes the new spec; what it does not `set` of the carried
        fields (inference keys, monitoring settings) comes from the current revision, so no
        rollback, promotion or redeploy brings back a revoked key or old settings."""
        call = current_call()
        validation.name(name_field, name)
        store.environment(field, env)
        validation.text("reason", reason, MAX_REASON)
        call.target = f"deployment:{env}/{name}"

        def write(s: Session) -> deployments_pb2.Deployment:
            row = store.find_optional(s, call.ws.id, env, name)
            spec, kind = change(s, row)
            current = Spec.from_json(row.spec_json) if row is not None else Spec(targets=())
            carried = {f: getattr(current, f) for f in CARRIED if f not in sets}
            spec = dataclasses.replace(spec, **carried)
            row = store.write_revision(
                s,
                call.ws.id,
                env,
                name,
                spec,
                kind=kind,
                actor=call.user.username,
                reason=reason,
                row=row,
            )
            details = {"kind": kind, "revision": row.revision, "reason": reason}
            # call.details carries the policy decision for guarded environments.
            record(s, call, details={**call.details, **details, **store.describe(spec)})
            return self._messages(s, [row])[0]

        message = await self._db.write(write)
        await self._fleet.deployments_changed(call.ws.id, env)
        return message

    def _ask_policy(
        self,
        kind: str,
        name: str,
        env: str,
        spec: Spec,
        row: DeploymentRow | None,
        reason: str,
        from_env: str = "",
    ) -> None:
        """Ask the promotion policy about a change in a guarded environment (others pass)."""
        if not policy.applies(env):
            return
        call = current_call()
        served = policy.served_versions(Spec.from_json(row.spec_json) if row is not None else None)
        promotion = policy.Promotion(
            call.ws.id, name, from_env, env, spec, call.user.username, reason, kind, served
        )
        # The audit row says the decision: a refusal's row is written from call.details.
        call.details["policy"] = "denied"
        self._policy.check(promotion)
        call.details["policy"] = "allowed"

    @staticmethod
    def _current(s: Session, row: DeploymentRow | None, name: str, env: str) -> Spec:
        spec = Spec.from_json(_require(row, name, env).spec_json)
        if not spec.active:
            raise FailedPrecondition(f"name: {name!r} is undeployed in {env!r}; deploy it first")
        return spec

    def _messages(self, s: Session, rows: list[DeploymentRow]) -> list[deployments_pb2.Deployment]:
        book = self._fleet.heartbeats

        def online(agent: Agent) -> bool:
            return book.online(agent.id, agent.last_seen)

        statuses = convert.agent_statuses(s, rows, online)
        return [convert.deployment(r, Spec.from_json(r.spec_json), statuses[r.id]) for r in rows]


def _require(row: DeploymentRow | None, name: str, env: str, field: str = "name") -> DeploymentRow:
    if row is None:
        raise NotFound(f"{field}: no deployment {name[:64]!r} in environment {env!r}")
    return row
