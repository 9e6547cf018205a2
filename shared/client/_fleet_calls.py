"""The fleet half of `HubClient`: agents and join tokens, deployments, metric history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from google.protobuf.timestamp_pb2 import Timestamp

from modelfleet.client._calls import Caller, Scope
from modelfleet.client._convert import time_from_pb
from modelfleet.client._drift import DriftWindowRecord, drift_window_from_pb
from modelfleet.client._fleet import (
    Agent,
    Deployment,
    DeploymentEvent,
    InferenceKeyInfo,
    JoinToken,
    MetricsPoint,
    agent_from_pb,
    deployment_from_pb,
    event_from_pb,
    inference_key_from_pb,
    point_from_pb,
)
from modelfleet.proto.v1 import (
    deployments_pb2,
    deployments_pb2_grpc,
    fleet_pb2,
    fleet_pb2_grpc,
    monitoring_pb2,
    monitoring_pb2_grpc,
)


def _settings_json(settings: Mapping[str, Any] | None) -> str:
    return orjson.dumps(dict(settings)).decode() if settings else ""


def _ts(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


class FleetCalls:
    """Mixed into `HubClient`; every call acts in the client's (or the given) workspace."""

    _caller: Caller

    def _fleet_call(
        self, service: str, rpc: str, request: object, *, idempotent: bool, workspace: str | None
    ) -> Any:
        stub_type = {
            "Fleet": fleet_pb2_grpc.FleetStub,
            "Deployments": deployments_pb2_grpc.DeploymentsStub,
            "Monitoring": monitoring_pb2_grpc.MonitoringStub,
        }[service]
        method = getattr(stub_type(self._caller.channel), rpc)
        return self._caller.unary(
            f"{service}.{rpc}", method, request, idempotent=idempotent,
            scope=Scope.REQUIRED, workspace=workspace,
        )  # fmt: skip

    # --- agents ---------------------------------------------------------------------------

    def create_join_token(
        self,
        environment: str,
        labels: Mapping[str, str] | None = None,
        ttl_seconds: int = 0,
        *,
        serving_names: Sequence[str] = (),
        workspace: str | None = None,
    ) -> JoinToken:
        """A single-use join token. `serving_names` (DNS names, IP addresses) are the names the
        hub will put in the agent's TLS serving certificate (`run --tls-from-hub`)."""
        request = fleet_pb2.CreateJoinTokenRequest(
            environment=environment,
            labels=dict(labels or {}),
            ttl_seconds=ttl_seconds,
            serving_names=list(serving_names),
        )
        m = self._fleet_call(
            "Fleet", "CreateJoinToken", request, idempotent=False, workspace=workspace
        )
        return JoinToken(m.token, m.token_id, time_from_pb(m.expires_at))

    def list_agents(
        self,
        environment: str = "",
        selector: str = "",
        include_revoked: bool = False,
        *,
        workspace: str | None = None,
    ) -> list[Agent]:
        request = fleet_pb2.ListAgentsRequest(
            environment=environment, selector=selector, include_revoked=include_revoked
        )
        m = self._fleet_call("Fleet", "ListAgents", request, idempotent=True, workspace=workspace)
        return [agent_from_pb(a) for a in m.agents]

    def get_agent(self, agent_id: str, *, workspace: str | None = None) -> Agent:
        request = fleet_pb2.GetAgentRequest(id=agent_id)
        return agent_from_pb(
            self._fleet_call("Fleet", "GetAgent", request, idempotent=True, workspace=workspace)
        )

    def revoke_agent(self, agent_id: str, *, workspace: str | None = None) -> Agent:
        request = fleet_pb2.RevokeAgentRequest(id=agent_id)
        return agent_from_pb(
            self._fleet_call("Fleet", "RevokeAgent", request, idempotent=True, workspace=workspace)
        )

    # --- deployments ----------------------------------------------------------------------

    def _deployments(self, rpc: str, request: object, workspace: str | None) -> Deployment:
        m = self._fleet_call("Deployments", rpc, request, idempotent=False, workspace=workspace)
        return deployment_from_pb(m)

    def deploy(
        self,
        name: str,
        environment: str,
        model_name: str,
        *,
        version: int = 0,
        alias: str = "",
        selector: str = "",
        sticky_key: str = "",
        reason: str = "",
        monitoring: Mapping[str, Any] | None = None,
        workspace: str | None = None,
    ) -> Deployment:
        """`monitoring`: drift/prediction/score settings (None keeps the current ones)."""
        request = deployments_pb2.DeployRequest(
            name=name, environment=environment, selector=selector, model_name=model_name,
            model_version=version, alias=alias, sticky_key=sticky_key, reason=reason,
            monitoring_json=_settings_json(monitoring),
        )  # fmt: skip
        return self._deployments("Deploy", request, workspace)

    def set_monitoring(
        self,
        name: str,
        environment: str,
        monitoring: Mapping[str, Any],
        reason: str = "",
        *,
        workspace: str | None = None,
    ) -> Deployment:
        """Replace the deployment's monitoring settings ({} = the defaults) as a new revision:
        {"drift": {DriftConfig fields, "features": {...}}, "prediction": ..., "score": ...}."""
        request = deployments_pb2.SetMonitoringRequest(
            name=name, environment=environment, reason=reason,
            monitoring_json=_settings_json(monitoring) or "{}",
        )  # fmt: skip
        return self._deployments("SetMonitoring", request, workspace)

    def promote(
        self,
        name: str,
        from_environment: str,
        to_environment: str,
        reason: str = "",
        *,
        workspace: str | None = None,
    ) -> Deployment:
        request = deployments_pb2.PromoteRequest(
            name=name, from_environment=from_environment, to_environment=to_environment,
            reason=reason,
        )  # fmt: skip
        return self._deployments("Promote", request, workspace)

    def rollback(
        self,
        name: str,
        environment: str,
        to_revision: int = 0,
        reason: str = "",
        *,
        workspace: str | None = None,
    ) -> Deployment:
        request = deployments_pb2.RollbackRequest(
            name=name, environment=environment, to_revision=to_revision, reason=reason
        )
        return self._deployments("Rollback", request, workspace)

    def set_traffic(
        self,
        name: str,
        environment: str,
        split: Sequence[tuple[int, int]],
        sticky_key: str = "",
        reason: str = "",
        *,
        workspace: str | None = None,
    ) -> Deployment:
        request = deployments_pb2.SetTrafficRequest(
            name=name, environment=environment, sticky_key=sticky_key, reason=reason,
            split=[deployments_pb2.TrafficSplit(model_version=v, percent=p) for v, p in split],
        )  # fmt: skip
        return self._deployments("SetTraffic", request, workspace)

    def undeploy(
        self, name: str, environment: str, reason: str = "", *, workspace: str | None = None
    ) -> Deployment:
        request = deployments_pb2.UndeployRequest(name=name, environment=environment, reason=reason)
        return self._deployments("Undeploy", request, workspace)

    def list_deployments(
        self,
        environment: str = "",
        include_undeployed: bool = False,
        *,
        workspace: str | None = None,
    ) -> list[Deployment]:
        request = deployments_pb2.ListDeploymentsRequest(
            environment=environment, include_undeployed=include_undeployed
        )
        m = self._fleet_call(
            "Deployments", "ListDeployments", request, idempotent=True, workspace=workspace
        )
        return [deployment_from_pb(d) for d in m.deployments]

    def get_deployment(
        self, name: str, environment: str, *, workspace: str | None = None
    ) -> Deployment:
        request = deployments_pb2.GetDeploymentRequest(name=name, environment=environment)
        m = self._fleet_call(
            "Deployments", "GetDeployment", request, idempotent=True, workspace=workspace
        )
        return deployment_from_pb(m)

    def deployment_events(
        self, name: str, environment: str, *, workspace: str | None = None
    ) -> list[DeploymentEvent]:
        request = deployments_pb2.ListDeploymentEventsRequest(name=name, environment=environment)
        m = self._fleet_call(
            "Deployments", "ListDeploymentEvents", request, idempotent=True, workspace=workspace
        )
        return [event_from_pb(e) for e in m.events]

    def create_inference_key(
        self,
        deployment: str,
        environment: str,
        name: str,
        *,
        rate_per_s: float = 0.0,
        burst: int = 0,
        reason: str = "",
        workspace: str | None = None,
    ) -> tuple[InferenceKeyInfo, str]:
        """A new key for the deployment and its secret (returned this once only)."""
        request = deployments_pb2.CreateInferenceKeyRequest(
            deployment=deployment, environment=environment, name=name,
            rate_per_s=rate_per_s, burst=burst, reason=reason,
        )  # fmt: skip
        m = self._fleet_call(
            "Deployments", "CreateInferenceKey", request, idempotent=False, workspace=workspace
        )
        return inference_key_from_pb(m.key), m.secret

    def list_inference_keys(
        self, deployment: str, environment: str, *, workspace: str | None = None
    ) -> list[InferenceKeyInfo]:
        request = deployments_pb2.ListInferenceKeysRequest(
            deployment=deployment, environment=environment
        )
        m = self._fleet_call(
            "Deployments", "ListInferenceKeys", request, idempotent=True, workspace=workspace
        )
        return [inference_key_from_pb(k) for k in m.keys]

    def revoke_inference_key(
        self,
        deployment: str,
        environment: str,
        key_id: str,
        *,
        reason: str = "",
        workspace: str | None = None,
    ) -> InferenceKeyInfo:
        request = deployments_pb2.RevokeInferenceKeyRequest(
            deployment=deployment, environment=environment, id=key_id, reason=reason
        )
        m = self._fleet_call(
            "Deployments", "RevokeInferenceKey", request, idempotent=False, workspace=workspace
        )
        return inference_key_from_pb(m)

    # --- monitoring history -------------------------------------------------------------

    def query_metrics(
        self,
        deployment: str,
        environment: str = "",
        since: datetime | None = None,
        until: datetime | None = None,
        step_seconds: int = 0,
        model_version: int = 0,
        *,
        workspace: str | None = None,
    ) -> list[MetricsPoint]:
        request = monitoring_pb2.QueryMetricsRequest(
            deployment=deployment, environment=environment, since=_ts(since), until=_ts(until),
            step_seconds=step_seconds, model_version=model_version,
        )  # fmt: skip
        m = self._fleet_call(
            "Monitoring", "QueryMetrics", request, idempotent=True, workspace=workspace
        )
        return [point_from_pb(p) for p in m.points]

    def query_drift(
        self,
        deployment: str,
        environment: str = "",
        since: datetime | None = None,
        until: datetime | None = None,
        model_version: int = 0,
        limit: int = 0,
        drifted_only: bool = False,
        *,
        workspace: str | None = None,
    ) -> list[DriftWindowRecord]:
        """Closed drift windows (newest first) with per-feature detail and histograms."""
        request = monitoring_pb2.QueryDriftRequest(
            deployment=deployment, environment=environment, since=_ts(since), until=_ts(until),
            model_version=model_version, limit=limit, drifted_only=drifted_only,
        )  # fmt: skip
        m = self._fleet_call(
            "Monitoring", "QueryDrift", request, idempotent=True, workspace=workspace
        )
        return [drift_window_from_pb(w) for w in m.windows]
