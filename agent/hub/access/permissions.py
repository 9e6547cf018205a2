"""The permission table: every hub RPC's minimum access, and nothing else gets through."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.IntEnum):
    """Workspace roles, weakest first; the numbers are those of `modelfleet.v1.Role`."""

    VIEWER = 1
    DEVELOPER = 2
    ADMIN = 3


class Access(enum.Enum):
    PUBLIC = "public"
    AUTHENTICATED = "authenticated"
    SYSTEM_ADMIN = "system_admin"
    WORKSPACE = "workspace"
    # Enrolled agents only (mutual TLS on the agent port), in their own workspace.
    AGENT = "agent"


class WorkspaceHeader(enum.Enum):
    NONE = "none"
    REQUIRED = "required"
    # Absent: the call is hub-wide and needs a system admin.
    OPTIONAL = "optional"


@dataclass(frozen=True, slots=True)
class Permission:
    access: Access
    role: Role | None = None
    workspace: WorkspaceHeader = WorkspaceHeader.NONE
    # Mutating calls are audited and refused in archived workspaces.
    mutating: bool = False
    audited: bool = False
    # API keys act in one workspace; account and hub administration stay with people.
    api_keys: bool = True
    # Also open to agents (in their own workspace, as viewers); people keep their access.
    agents: bool = False

    @property
    def is_audited(self) -> bool:
        return self.mutating or self.audited


def _public(*, mutating: bool = False) -> Permission:
    return Permission(Access.PUBLIC, mutating=mutating)


def _signed_in(*, mutating: bool = False, api_keys: bool = True) -> Permission:
    return Permission(Access.AUTHENTICATED, mutating=mutating, api_keys=api_keys)


def _system_admin(*, mutating: bool = False) -> Permission:
    return Permission(Access.SYSTEM_ADMIN, mutating=mutating, api_keys=False)


def _in_workspace(
    role: Role,
    *,
    mutating: bool = False,
    header: WorkspaceHeader = WorkspaceHeader.REQUIRED,
    audited: bool = False,
    api_keys: bool = True,
    agents: bool = False,
) -> Permission:
    return Permission(
        Access.WORKSPACE,
        role,
        header,
        mutating=mutating,
        audited=audited,
        api_keys=api_keys,
        agents=agents,
    )


def _agent_only(*, mutating: bool = False) -> Permission:
    return Permission(Access.AGENT, mutating=mutating, api_keys=False, agents=True)


_V1 = "/modelfleet.v1."

# Full gRPC method name -> what it takes. A method missing here is refused.
PERMISSIONS: dict[str, Permission] = {
    f"{_V1}Auth/GetHubInfo": _public(),
    f"{_V1}Auth/Login": _public(mutating=True),
    f"{_V1}Auth/Refresh": _public(mutating=True),
    # The refresh token in the request is the credential, so an expired access token
    # does not stop anyone from signing out.
    f"{_V1}Auth/Logout": _public(mutating=True),
    f"{_V1}Auth/ChangePassword": _signed_in(mutating=True, api_keys=False),
    f"{_V1}Auth/WhoAmI": _signed_in(),
    f"{_V1}ApiKeys/CreateApiKey": _in_workspace(Role.VIEWER, mutating=True, api_keys=False),
    f"{_V1}ApiKeys/ListApiKeys": _in_workspace(Role.VIEWER),
    f"{_V1}ApiKeys/RevokeApiKey": _in_workspace(Role.VIEWER, mutating=True),
    f"{_V1}Users/CreateUser": _system_admin(mutating=True),
    f"{_V1}Users/ListUsers": _system_admin(),
    f"{_V1}Users/GetUser": _system_admin(),
    f"{_V1}Users/SetUserDisabled": _system_admin(mutating=True),
    f"{_V1}Users/SetSystemAdmin": _system_admin(mutating=True),
    f"{_V1}Users/ResetPassword": _system_admin(mutating=True),
    f"{_V1}Workspaces/CreateWorkspace": _signed_in(mutating=True, api_keys=False),
    f"{_V1}Workspaces/ListWorkspaces": _signed_in(),
    f"{_V1}Workspaces/GetWorkspace": _in_workspace(Role.VIEWER),
    f"{_V1}Workspaces/RenameWorkspace": _in_workspace(Role.ADMIN, mutating=True),
    f"{_V1}Workspaces/ArchiveWorkspace": _in_workspace(Role.ADMIN, mutating=True),
    f"{_V1}Workspaces/ListMembers": _in_workspace(Role.VIEWER),
    # Membership is account administration: a leaked CI key must not make anyone an admin.
    f"{_V1}Workspaces/SetMember": _in_workspace(Role.ADMIN, mutating=True, api_keys=False),
    f"{_V1}Workspaces/RemoveMember": _in_workspace(Role.ADMIN, mutating=True, api_keys=False),
    f"{_V1}Audit/QueryAudit": _in_workspace(Role.ADMIN, header=WorkspaceHeader.OPTIONAL),
    # An export takes the log out of the hub, so it leaves a trace of its own.
    f"{_V1}Audit/ExportAudit": _in_workspace(
        Role.ADMIN, header=WorkspaceHeader.OPTIONAL, audited=True
    ),
    f"{_V1}Audit/VerifyAudit": _system_admin(),
    f"{_V1}Artifacts/StartUpload": _in_workspace(Role.DEVELOPER, mutating=True),
    f"{_V1}Artifacts/Upload": _in_workspace(Role.DEVELOPER, mutating=True),
    # Agents pull the artifacts of their deployments from their own workspace.
    f"{_V1}Artifacts/Download": _in_workspace(Role.VIEWER, agents=True),
    f"{_V1}Artifacts/StatArtifact": _in_workspace(Role.VIEWER, agents=True),
    f"{_V1}Registry/CreateModel": _in_workspace(Role.DEVELOPER, mutating=True),
    f"{_V1}Registry/GetModel": _in_workspace(Role.VIEWER),
    f"{_V1}Registry/ListModels": _in_workspace(Role.VIEWER),
    f"{_V1}Registry/UpdateModel": _in_workspace(Role.DEVELOPER, mutating=True),
    # Archiving hides a model or version from deployment choices: workspace admins only.
    f"{_V1}Registry/ArchiveModel": _in_workspace(Role.ADMIN, mutating=True),
    f"{_V1}Registry/CreateVersion": _in_workspace(Role.DEVELOPER, mutating=True),
    f"{_V1}Registry/GetVersion": _in_workspace(Role.VIEWER),
    f"{_V1}Registry/ListVersions": _in_workspace(Role.VIEWER),
    f"{_V1}Registry/UpdateVersion": _in_workspace(Role.DEVELOPER, mutating=True),
    f"{_V1}Registry/ArchiveVersion": _in_workspace(Role.ADMIN, mutating=True),
    # Developers move their own aliases; the servicer asks ADMIN for the production ones
    # (`registry.PROTECTED_ALIASES`), which is what deployments follow.
    f"{_V1}Registry/SetAlias": _in_workspace(Role.DEVELOPER, mutating=True),
    f"{_V1}Registry/DeleteAlias": _in_workspace(Role.DEVELOPER, mutating=True),
    # Reviewers with read access take part in the discussion of a model.
    f"{_V1}Registry/AddComment": _in_workspace(Role.VIEWER, mutating=True),
    f"{_V1}Registry/ListComments": _in_workspace(Role.VIEWER),
    f"{_V1}Tracking/CreateExperiment": _in_workspace(Role.DEVELOPER, mutating=True),
    f"{_V1}Tracking/GetExperiment": _in_workspace(Role.VIEWER),
    f"{_V1}Tracking/ListExperiments": _in_workspace(Role.VIEWER),
    f"{_V1}Tracking/CreateRun": _in_workspace(Role.DEVELOPER, mutating=True),
    f"{_V1}Tracking/GetRun": _in_workspace(Role.VIEWER),
    f"{_V1}Tracking/UpdateRun": _in_workspace(Role.DEVELOPER, mutating=True),
    f"{_V1}Tracking/LogBatch": _in_workspace(Role.DEVELOPER, mutating=True),
    f"{_V1}Tracking/LogArtifact": _in_workspace(Role.DEVELOPER, mutating=True),
    f"{_V1}Tracking/SearchRuns": _in_workspace(Role.VIEWER),
    f"{_V1}Tracking/GetMetricHistory": _in_workspace(Role.VIEWER),
    f"{_V1}Tracking/CompareRuns": _in_workspace(Role.VIEWER),
    # As on models: reviewers with read access take part in the discussion of a run.
    f"{_V1}Tracking/AddRunComment": _in_workspace(Role.VIEWER, mutating=True),
    f"{_V1}Tracking/ListRunComments": _in_workspace(Role.VIEWER),
    # Fleet: workspace admins enrol and revoke agents; the join token is Join's credential.
    f"{_V1}Fleet/CreateJoinToken": _in_workspace(Role.ADMIN, mutating=True),
    f"{_V1}Fleet/ListAgents": _in_workspace(Role.VIEWER),
    f"{_V1}Fleet/GetAgent": _in_workspace(Role.VIEWER),
    f"{_V1}Fleet/RevokeAgent": _in_workspace(Role.ADMIN, mutating=True),
    f"{_V1}Enrollment/Join": _public(mutating=True),
    f"{_V1}Enrollment/RenewCertificate": _agent_only(mutating=True),
    f"{_V1}AgentSession/Connect": _agent_only(),
    # Production promotions also pass the promotion policy (deployments.policy).
    f"{_V1}Deployments/Deploy": _in_workspace(Role.DEVELOPER, mutating=True),
    f"{_V1}Deployments/Promote": _in_workspace(Role.DEVELOPER, mutating=True),
    f"{_V1}Deployments/Rollback": _in_workspace(Role.DEVELOPER, mutating=True),
    f"{_V1}Deployments/SetTraffic": _in_workspace(Role.DEVELOPER, mutating=True),
    f"{_V1}Deployments/Undeploy": _in_workspace(Role.DEVELOPER, mutating=True),
    f"{_V1}Deployments/ListDeployments": _in_workspace(Role.VIEWER),
    f"{_V1}Deployments/GetDeployment": _in_workspace(Role.VIEWER),
    f"{_V1}Deployments/ListDeploymentEvents": _in_workspace(Role.VIEWER),
    f"{_V1}Deployments/CreateInferenceKey": _in_workspace(Role.DEVELOPER, mutating=True),
    f"{_V1}Deployments/ListInferenceKeys": _in_workspace(Role.VIEWER),
    f"{_V1}Deployments/RevokeInferenceKey": _in_workspace(Role.DEVELOPER, mutating=True),
    f"{_V1}Deployments/SetMonitoring": _in_workspace(Role.DEVELOPER, mutating=True),
    f"{_V1}Monitoring/QueryMetrics": _in_workspace(Role.VIEWER),
    f"{_V1}Monitoring/QueryDrift": _in_workspace(Role.VIEWER),
    # Alerts: developers own rules and answer alerts; channels say where data leaves the
    # hub (and hold secrets), so only workspace admins create or delete them.
    f"{_V1}Alerts/CreateRule": _in_workspace(Role.DEVELOPER, mutating=True),
    f"{_V1}Alerts/UpdateRule": _in_workspace(Role.DEVELOPER, mutating=True),
    f"{_V1}Alerts/DeleteRule": _in_workspace(Role.DEVELOPER, mutating=True),
    f"{_V1}Alerts/ListRules": _in_workspace(Role.VIEWER),
    f"{_V1}Alerts/ListAlerts": _in_workspace(Role.VIEWER),
    f"{_V1}Alerts/AcknowledgeAlert": _in_workspace(Role.DEVELOPER, mutating=True),
    f"{_V1}Alerts/SilenceAlert": _in_workspace(Role.DEVELOPER, mutating=True),
    f"{_V1}Channels/CreateChannel": _in_workspace(Role.ADMIN, mutating=True),
    f"{_V1}Channels/ListChannels": _in_workspace(Role.VIEWER),
    f"{_V1}Channels/DeleteChannel": _in_workspace(Role.ADMIN, mutating=True),
    # A test sends traffic out of the hub: audited like a change.
    f"{_V1}Channels/TestChannel": _in_workspace(Role.DEVELOPER, mutating=True),
    f"{_V1}Channels/ListDeliveries": _in_workspace(Role.VIEWER),
    # SSO: providers are hub-wide (system admins); signing in is public, like Login.
    f"{_V1}Sso/CreateSsoProvider": _system_admin(mutating=True),
    f"{_V1}Sso/UpdateSsoProvider": _system_admin(mutating=True),
    f"{_V1}Sso/DeleteSsoProvider": _system_admin(mutating=True),
    f"{_V1}Sso/GetSsoProvider": _system_admin(),
    f"{_V1}Sso/ListSsoProviders": _public(),
    f"{_V1}Sso/StartSsoLogin": _public(mutating=True),
    f"{_V1}Sso/CompleteSsoLogin": _public(mutating=True),
    f"{_V1}Sso/StartDeviceLogin": _public(mutating=True),
    f"{_V1}Sso/PollDeviceLogin": _public(mutating=True),
    # MFA belongs to the person: not workspace-scoped, so a member refused by a workspace's
    # MFA policy can still enrol; API keys never manage it.
    f"{_V1}Mfa/GetMfaStatus": _signed_in(api_keys=False),
    f"{_V1}Mfa/EnrollTotp": _signed_in(mutating=True, api_keys=False),
    f"{_V1}Mfa/ConfirmTotp": _signed_in(mutating=True, api_keys=False),
    f"{_V1}Mfa/DisableTotp": _signed_in(mutating=True, api_keys=False),
    f"{_V1}Mfa/RegenerateRecoveryCodes": _signed_in(mutating=True, api_keys=False),
    f"{_V1}Mfa/SetWorkspaceMfaPolicy": _in_workspace(Role.ADMIN, mutating=True, api_keys=False),
    f"{_V1}Mfa/GetWorkspaceMfaPolicy": _in_workspace(Role.VIEWER),
    # Allow-lists: a workspace's (its admins) or, without a workspace, the agents' (hub).
    f"{_V1}NetworkPolicy/AddAllowedNetwork": _in_workspace(
        Role.ADMIN, mutating=True, header=WorkspaceHeader.OPTIONAL, api_keys=False
    ),
    f"{_V1}NetworkPolicy/ListAllowedNetworks": _in_workspace(
        Role.ADMIN, header=WorkspaceHeader.OPTIONAL, api_keys=False
    ),
    f"{_V1}NetworkPolicy/RemoveAllowedNetwork": _in_workspace(
        Role.ADMIN, mutating=True, header=WorkspaceHeader.OPTIONAL, api_keys=False
    ),
}


def action_name(method: str) -> str:
    """ "/modelfleet.v1.Workspaces/SetMember" -> "Workspaces.SetMember"."""
    service, _, name = method.rpartition("/")
    return f"{service.rsplit('.', 1)[-1]}.{name}"
