"""The permission matrix's cases: each hub RPC's expected access and a harmless request for it.

The expected access is written out here independently of the table under test
(`modelfleet.agent.hub.access.permissions`), so a change to either shows up as a failure.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import Message

from modelfleet.proto.v1 import (
    alerts_pb2,
    artifacts_pb2,
    audit_pb2,
    auth_pb2,
    deployments_pb2,
    fleet_pb2,
    monitoring_pb2,
    registry_pb2,
    tracking_pb2,
    workspaces_pb2,
)
from tests.hub.conftest import ADMIN, DEVELOPER, VIEWER

PUBLIC, SIGNED_IN, SYSADMIN, WORKSPACE, AGENT = "public", "signed-in", "sysadmin", "ws", "agent"

# Caller kinds: none, people by workspace role, a system admin, API keys by role, an agent.
CALLERS = [
    "none",
    "viewer",
    "developer",
    "admin",
    "sysadmin",
    "key:viewer",
    "key:developer",
    "key:admin",
    "agent",
]
RANKS = {"viewer": VIEWER, "developer": DEVELOPER, "admin": ADMIN}


@dataclass(frozen=True)
class Case:
    kind: str
    # A client-streaming method takes a list of messages (possibly empty).
    request: Message | list[Message]
    role: int = 0
    api_keys: bool = True
    agents: bool = False
    # Without a workspace header the call is hub-wide (system administrators only).
    hub_wide: bool = False


def public(request: Message) -> Case:
    return Case(PUBLIC, request)


def signed_in(request: Message, *, api_keys: bool = True) -> Case:
    return Case(SIGNED_IN, request, api_keys=api_keys)


def sysadmin(request: Message) -> Case:
    return Case(SYSADMIN, request, api_keys=False)


def ws(
    role: int,
    request: Message | list[Message],
    *,
    api_keys: bool = True,
    agents: bool = False,
    hub_wide: bool = False,
) -> Case:
    return Case(WORKSPACE, request, role, api_keys, agents, hub_wide)


def agent_only(request: Message | list[Message]) -> Case:
    return Case(AGENT, request, api_keys=False, agents=True)


def allowed(case: Case, caller: str, scope: str) -> bool:
    """Whether `caller` gets past the permission check.

    `scope` is where the call names: "own" (the caller's workspace), "foreign" (another
    one) or "hub" (no workspace header; walked for hub-wide cases only).
    """
    if caller == "agent":
        # A certificate makes the caller an agent and nothing else (not even for public
        # methods); it acts in its own workspace whatever the header names.
        return case.agents
    if case.kind == PUBLIC:
        return True
    if case.kind == AGENT or caller == "none":
        return False
    is_key = caller.startswith("key:")
    if is_key and not case.api_keys:
        return False
    if case.kind == SIGNED_IN:
        return True
    if case.kind == SYSADMIN or scope == "hub":
        return caller == "sysadmin"
    if caller == "sysadmin":
        return True
    return scope == "own" and RANKS[caller.removeprefix("key:")] >= case.role


NO_ID = "0" * 32
NO_SHA = "0" * 64

# Each request passes whatever a servicer checks after admission without changing anything,
# answering OK, INVALID_ARGUMENT or NOT_FOUND (ArchiveWorkspace is the exception; the test
# undoes it).
CASES: dict[str, Case] = {
    "Auth/GetHubInfo": public(auth_pb2.GetHubInfoRequest()),
    "Auth/Login": public(auth_pb2.LoginRequest()),
    "Auth/Refresh": public(auth_pb2.RefreshRequest()),
    "Auth/Logout": public(auth_pb2.LogoutRequest()),
    "Auth/ChangePassword": signed_in(auth_pb2.ChangePasswordRequest(), api_keys=False),
    "Auth/WhoAmI": signed_in(auth_pb2.WhoAmIRequest()),
    "ApiKeys/CreateApiKey": ws(VIEWER, auth_pb2.CreateApiKeyRequest(), api_keys=False),
    "ApiKeys/ListApiKeys": ws(VIEWER, auth_pb2.ListApiKeysRequest()),
    "ApiKeys/RevokeApiKey": ws(VIEWER, auth_pb2.RevokeApiKeyRequest()),
    "Users/CreateUser": sysadmin(workspaces_pb2.CreateUserRequest()),
    "Users/ListUsers": sysadmin(workspaces_pb2.ListUsersRequest()),
    "Users/GetUser": sysadmin(workspaces_pb2.GetUserRequest(user="nobody")),
    "Users/SetUserDisabled": sysadmin(workspaces_pb2.SetUserDisabledRequest(user="nobody")),
    "Users/SetSystemAdmin": sysadmin(workspaces_pb2.SetSystemAdminRequest(user="nobody")),
    "Users/ResetPassword": sysadmin(workspaces_pb2.ResetPasswordRequest(user="nobody")),
    "Workspaces/CreateWorkspace": signed_in(
        workspaces_pb2.CreateWorkspaceRequest(), api_keys=False
    ),
    "Workspaces/ListWorkspaces": signed_in(workspaces_pb2.ListWorkspacesRequest()),
    "Workspaces/GetWorkspace": ws(VIEWER, workspaces_pb2.GetWorkspaceRequest()),
    "Workspaces/RenameWorkspace": ws(ADMIN, workspaces_pb2.RenameWorkspaceRequest()),
    "Workspaces/ArchiveWorkspace": ws(ADMIN, workspaces_pb2.ArchiveWorkspaceRequest()),
    "Workspaces/ListMembers": ws(VIEWER, workspaces_pb2.ListMembersRequest()),
    "Workspaces/SetMember": ws(
        ADMIN,
        workspaces_pb2.SetMemberRequest(user="nobody", role=VIEWER),
        api_keys=False,
    ),
    "Workspaces/RemoveMember": ws(
        ADMIN, workspaces_pb2.RemoveMemberRequest(user="nobody"), api_keys=False
    ),
    "Audit/QueryAudit": ws(ADMIN, audit_pb2.QueryAuditRequest(), hub_wide=True),
    "Audit/ExportAudit": ws(ADMIN, audit_pb2.ExportAuditRequest(format="xml"), hub_wide=True),
    "Audit/VerifyAudit": sysadmin(audit_pb2.VerifyAuditRequest()),
    "Artifacts/StartUpload": ws(DEVELOPER, artifacts_pb2.StartUploadRequest()),
    "Artifacts/Upload": ws(DEVELOPER, [artifacts_pb2.UploadChunk(upload_id=NO_ID)]),
    "Artifacts/Download": ws(VIEWER, artifacts_pb2.DownloadRequest(sha256=NO_SHA), agents=True),
    "Artifacts/StatArtifact": ws(
        VIEWER, artifacts_pb2.StatArtifactRequest(sha256=NO_SHA), agents=True
    ),
    "Registry/CreateModel": ws(DEVELOPER, registry_pb2.CreateModelRequest()),
    "Registry/GetModel": ws(VIEWER, registry_pb2.GetModelRequest(name="nothing")),
    "Registry/ListModels": ws(VIEWER, registry_pb2.ListRegisteredModelsRequest()),
    "Registry/UpdateModel": ws(DEVELOPER, registry_pb2.UpdateModelRequest(name="nothing")),
    "Registry/ArchiveModel": ws(ADMIN, registry_pb2.ArchiveModelRequest(name="nothing")),
    "Registry/CreateVersion": ws(
        DEVELOPER, registry_pb2.CreateVersionRequest(model_name="nothing")
    ),
    "Registry/GetVersion": ws(
        VIEWER, registry_pb2.GetVersionRequest(model_name="nothing", version=1)
    ),
    "Registry/ListVersions": ws(VIEWER, registry_pb2.ListVersionsRequest(model_name="nothing")),
    "Registry/UpdateVersion": ws(
        DEVELOPER, registry_pb2.UpdateVersionRequest(model_name="nothing")
    ),
    "Registry/ArchiveVersion": ws(ADMIN, registry_pb2.ArchiveVersionRequest(model_name="nothing")),
    "Registry/SetAlias": ws(
        DEVELOPER, registry_pb2.SetAliasRequest(model_name="nothing", alias="staging")
    ),
    "Registry/DeleteAlias": ws(
        DEVELOPER, registry_pb2.DeleteAliasRequest(model_name="nothing", alias="x")
    ),
    "Registry/AddComment": ws(
        VIEWER, registry_pb2.AddCommentRequest(model_name="nothing", body="hi")
    ),
    "Registry/ListComments": ws(VIEWER, registry_pb2.ListCommentsRequest(model_name="nothing")),
    "Tracking/CreateExperiment": ws(DEVELOPER, tracking_pb2.CreateExperimentRequest()),
    "Tracking/GetExperiment": ws(VIEWER, tracking_pb2.GetExperimentRequest(experiment="nothing")),
    "Tracking/ListExperiments": ws(VIEWER, tracking_pb2.ListExperimentsRequest()),
    "Tracking/CreateRun": ws(DEVELOPER, tracking_pb2.CreateRunRequest()),
    "Tracking/GetRun": ws(VIEWER, tracking_pb2.GetRunRequest(run_id=NO_ID)),
    "Tracking/UpdateRun": ws(DEVELOPER, tracking_pb2.UpdateRunRequest(run_id=NO_ID)),
    "Tracking/LogBatch": ws(
        DEVELOPER, tracking_pb2.LogBatchRequest(run_id=NO_ID, idempotency_key="k")
    ),
    "Tracking/LogArtifact": ws(DEVELOPER, tracking_pb2.LogArtifactRequest(run_id=NO_ID)),
    "Tracking/SearchRuns": ws(VIEWER, tracking_pb2.SearchRunsRequest()),
    "Tracking/GetMetricHistory": ws(
        VIEWER, tracking_pb2.GetMetricHistoryRequest(run_id=NO_ID, key="x")
    ),
    "Tracking/CompareRuns": ws(VIEWER, tracking_pb2.CompareRunsRequest()),
    "Tracking/AddRunComment": ws(
        VIEWER, tracking_pb2.AddRunCommentRequest(run_id=NO_ID, body="hi")
    ),
    "Tracking/ListRunComments": ws(VIEWER, tracking_pb2.ListRunCommentsRequest(run_id=NO_ID)),
    "Fleet/CreateJoinToken": ws(ADMIN, fleet_pb2.CreateJoinTokenRequest()),
    "Fleet/ListAgents": ws(VIEWER, fleet_pb2.ListAgentsRequest()),
    "Fleet/GetAgent": ws(VIEWER, fleet_pb2.GetAgentRequest(id=NO_ID)),
    "Fleet/RevokeAgent": ws(ADMIN, fleet_pb2.RevokeAgentRequest(id=NO_ID)),
    # The join token in the request is the credential; an empty CSR fails before it is used.
    "Enrollment/Join": public(fleet_pb2.JoinRequest()),
    "Enrollment/RenewCertificate": agent_only(fleet_pb2.RenewCertificateRequest()),
    # An empty stream: the session ends for want of a Hello, before it changes anything.
    "AgentSession/Connect": agent_only([]),
    "Deployments/Deploy": ws(
        DEVELOPER,
        deployments_pb2.DeployRequest(
            name="nothing", environment="staging", model_name="nothing", model_version=1
        ),
    ),
    "Deployments/Promote": ws(
        DEVELOPER,
        deployments_pb2.PromoteRequest(
            name="nothing", from_environment="staging", to_environment="canary"
        ),
    ),
    "Deployments/Rollback": ws(
        DEVELOPER, deployments_pb2.RollbackRequest(name="nothing", environment="staging")
    ),
    "Deployments/SetTraffic": ws(
        DEVELOPER,
        deployments_pb2.SetTrafficRequest(
            name="nothing",
            environment="staging",
            split=[deployments_pb2.TrafficSplit(model_version=1, percent=100)],
        ),
    ),
    "Deployments/Undeploy": ws(
        DEVELOPER, deployments_pb2.UndeployRequest(name="nothing", environment="staging")
    ),
    "Deployments/ListDeployments": ws(VIEWER, deployments_pb2.ListDeploymentsRequest()),
    "Deployments/GetDeployment": ws(
        VIEWER, deployments_pb2.GetDeploymentRequest(name="nothing", environment="staging")
    ),
    "Deployments/ListDeploymentEvents": ws(
        VIEWER, deployments_pb2.ListDeploymentEventsRequest(name="nothing", environment="staging")
    ),
    "Deployments/CreateInferenceKey": ws(
        DEVELOPER,
        deployments_pb2.CreateInferenceKeyRequest(
            deployment="nothing", environment="staging", name="caller"
        ),
    ),
    "Deployments/ListInferenceKeys": ws(
        VIEWER,
        deployments_pb2.ListInferenceKeysRequest(deployment="nothing", environment="staging"),
    ),
    "Deployments/SetMonitoring": ws(
        DEVELOPER, deployments_pb2.SetMonitoringRequest(name="nothing", environment="staging")
    ),
    "Deployments/RevokeInferenceKey": ws(
        DEVELOPER,
        deployments_pb2.RevokeInferenceKeyRequest(
            deployment="nothing", environment="staging", id="nothing"
        ),
    ),
    "Monitoring/QueryMetrics": ws(
        VIEWER, monitoring_pb2.QueryMetricsRequest(deployment="nothing", environment="staging")
    ),
    "Monitoring/QueryDrift": ws(
        VIEWER, monitoring_pb2.QueryDriftRequest(deployment="nothing", environment="staging")
    ),
    "Alerts/CreateRule": ws(DEVELOPER, alerts_pb2.CreateRuleRequest()),
    "Alerts/UpdateRule": ws(DEVELOPER, alerts_pb2.UpdateRuleRequest(rule="nothing")),
    "Alerts/DeleteRule": ws(DEVELOPER, alerts_pb2.DeleteRuleRequest(rule="nothing")),
    "Alerts/ListRules": ws(VIEWER, alerts_pb2.ListRulesRequest()),
    "Alerts/ListAlerts": ws(VIEWER, alerts_pb2.ListAlertsRequest()),
    "Alerts/AcknowledgeAlert": ws(DEVELOPER, alerts_pb2.AcknowledgeAlertRequest(alert_id=NO_ID)),
    "Alerts/SilenceAlert": ws(DEVELOPER, alerts_pb2.SilenceAlertRequest(alert_id=NO_ID)),
    "Channels/CreateChannel": ws(ADMIN, alerts_pb2.CreateChannelRequest()),
    "Channels/ListChannels": ws(VIEWER, alerts_pb2.ListChannelsRequest()),
    "Channels/DeleteChannel": ws(ADMIN, alerts_pb2.DeleteChannelRequest(channel="nothing")),
    "Channels/TestChannel": ws(DEVELOPER, alerts_pb2.TestChannelRequest(channel="nothing")),
    "Channels/ListDeliveries": ws(VIEWER, alerts_pb2.ListDeliveriesRequest()),
    "Sso/CreateSsoProvider": sysadmin(auth_pb2.CreateSsoProviderRequest()),
    "Sso/UpdateSsoProvider": sysadmin(auth_pb2.UpdateSsoProviderRequest(provider="nothing")),
    "Sso/DeleteSsoProvider": sysadmin(auth_pb2.DeleteSsoProviderRequest(provider="nothing")),
    "Sso/GetSsoProvider": sysadmin(auth_pb2.GetSsoProviderRequest(provider="nothing")),
    # Signing in is public like Login; these requests fail validation before any provider
    # is contacted.
    "Sso/ListSsoProviders": public(auth_pb2.ListSsoProvidersRequest()),
    "Sso/StartSsoLogin": public(auth_pb2.StartSsoLoginRequest()),
    "Sso/CompleteSsoLogin": public(auth_pb2.CompleteSsoLoginRequest()),
    "Sso/StartDeviceLogin": public(auth_pb2.StartDeviceLoginRequest(provider="nothing")),
    "Sso/PollDeviceLogin": public(auth_pb2.PollDeviceLoginRequest()),
    # A person's own second factor: never an API key's business.
    "Mfa/GetMfaStatus": signed_in(auth_pb2.GetMfaStatusRequest(), api_keys=False),
    # The one case that writes: a pending enrolment of the caller, inactive until confirmed.
    "Mfa/EnrollTotp": signed_in(auth_pb2.EnrollTotpRequest(), api_keys=False),
    "Mfa/ConfirmTotp": signed_in(auth_pb2.ConfirmTotpRequest(), api_keys=False),
    "Mfa/DisableTotp": signed_in(auth_pb2.DisableTotpRequest(), api_keys=False),
    "Mfa/RegenerateRecoveryCodes": signed_in(
        auth_pb2.RegenerateRecoveryCodesRequest(), api_keys=False
    ),
    # Setting "not required" where nothing is required changes nothing.
    "Mfa/SetWorkspaceMfaPolicy": ws(
        ADMIN, auth_pb2.SetWorkspaceMfaPolicyRequest(mfa_required=False), api_keys=False
    ),
    "Mfa/GetWorkspaceMfaPolicy": ws(VIEWER, auth_pb2.GetWorkspaceMfaPolicyRequest()),
    # Without a workspace these are the agents' hub-wide list.
    "NetworkPolicy/AddAllowedNetwork": ws(
        ADMIN, auth_pb2.AddAllowedNetworkRequest(), api_keys=False, hub_wide=True
    ),
    "NetworkPolicy/ListAllowedNetworks": ws(
        ADMIN, auth_pb2.ListAllowedNetworksRequest(), api_keys=False, hub_wide=True
    ),
    "NetworkPolicy/RemoveAllowedNetwork": ws(
        ADMIN, auth_pb2.RemoveAllowedNetworkRequest(id=NO_ID), api_keys=False, hub_wide=True
    ),
}
