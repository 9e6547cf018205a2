"""The permission matrix: every method in the table x every kind of caller x own/foreign workspace.

A call the interceptor admits reaches its servicer, which answers OK or a request error
(INVALID_ARGUMENT / NOT_FOUND from the deliberately harmless requests below); a refused
call answers UNAUTHENTICATED or PERMISSION_DENIED and leaves a "denied" audit row.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

import grpc
from google.protobuf.message import Message
from sqlalchemy import update

from modelfleet.agent.hub.access.permissions import PERMISSIONS
from modelfleet.agent.hub.db import Workspace
from modelfleet.proto.v1 import (
    alerts_pb2,
    alerts_pb2_grpc,
    artifacts_pb2,
    artifacts_pb2_grpc,
    audit_pb2,
    auth_pb2,
    registry_pb2,
    registry_pb2_grpc,
    tracking_pb2,
    tracking_pb2_grpc,
    workspaces_pb2,
)
from tests.hub.conftest import ADMIN, DEVELOPER, VIEWER, Hub

# The expected access, written out independently of the table under test.
PUBLIC, SIGNED_IN, PEOPLE, SYSADMIN = "public", "signed-in", "people", "sysadmin"
EXPECTED: dict[str, tuple[str, int, bool]] = {
    # method: (kind, minimum workspace role, API keys allowed)
    "Auth/GetHubInfo": (PUBLIC, 0, True),
    "Auth/Login": (PUBLIC, 0, True),
    "Auth/Refresh": (PUBLIC, 0, True),
    "Auth/Logout": (PUBLIC, 0, True),
    "Auth/ChangePassword": (PEOPLE, 0, False),
    "Auth/WhoAmI": (SIGNED_IN, 0, True),
    "ApiKeys/CreateApiKey": ("ws", VIEWER, False),
    "ApiKeys/ListApiKeys": ("ws", VIEWER, True),
    "ApiKeys/RevokeApiKey": ("ws", VIEWER, True),
    "Users/CreateUser": (SYSADMIN, 0, False),
    "Users/ListUsers": (SYSADMIN, 0, False),
    "Users/GetUser": (SYSADMIN, 0, False),
    "Users/SetUserDisabled": (SYSADMIN, 0, False),
    "Users/SetSystemAdmin": (SYSADMIN, 0, False),
    "Users/ResetPassword": (SYSADMIN, 0, False),
    "Workspaces/CreateWorkspace": (PEOPLE, 0, False),
    "Workspaces/ListWorkspaces": (SIGNED_IN, 0, True),
    "Workspaces/GetWorkspace": ("ws", VIEWER, True),
    "Workspaces/RenameWorkspace": ("ws", ADMIN, True),
    "Workspaces/ArchiveWorkspace": ("ws", ADMIN, True),
    "Workspaces/ListMembers": ("ws", VIEWER, True),
    "Workspaces/SetMember": ("ws", ADMIN, True),
    "Workspaces/RemoveMember": ("ws", ADMIN, True),
    "Audit/QueryAudit": ("ws", ADMIN, True),
    "Audit/ExportAudit": ("ws", ADMIN, True),
    "Audit/VerifyAudit": (SYSADMIN, 0, False),
    "Artifacts/StartUpload": ("ws", DEVELOPER, True),
    "Artifacts/Upload": ("ws", DEVELOPER, True),
    "Artifacts/Download": ("ws", VIEWER, True),
    "Artifacts/StatArtifact": ("ws", VIEWER, True),
    "Registry/CreateModel": ("ws", DEVELOPER, True),
    "Registry/GetModel": ("ws", VIEWER, True),
    "Registry/ListModels": ("ws", VIEWER, True),
    "Registry/UpdateModel": ("ws", DEVELOPER, True),
    "Registry/ArchiveModel": ("ws", ADMIN, True),
    "Registry/CreateVersion": ("ws", DEVELOPER, True),
    "Registry/GetVersion": ("ws", VIEWER, True),
    "Registry/ListVersions": ("ws", VIEWER, True),
    "Registry/UpdateVersion": ("ws", DEVELOPER, True),
    "Registry/ArchiveVersion": ("ws", ADMIN, True),
    "Registry/SetAlias": ("ws", DEVELOPER, True),
    "Registry/DeleteAlias": ("ws", DEVELOPER, True),
    "Registry/AddComment": ("ws", VIEWER, True),
    "Registry/ListComments": ("ws", VIEWER, True),
    "Tracking/CreateExperiment": ("ws", DEVELOPER, True),
    "Tracking/GetExperiment": ("ws", VIEWER, True),
    "Tracking/ListExperiments": ("ws", VIEWER, True),
    "Tracking/CreateRun": ("ws", DEVELOPER, True),
    "Tracking/GetRun": ("ws", VIEWER, True),
    "Tracking/UpdateRun": ("ws", DEVELOPER, True),
    "Tracking/LogBatch": ("ws", DEVELOPER, True),
    "Tracking/LogArtifact": ("ws", DEVELOPER, True),
    "Tracking/SearchRuns": ("ws", VIEWER, True),
    "Tracking/GetMetricHistory": ("ws", VIEWER, True),
    "Tracking/CompareRuns": ("ws", VIEWER, True),
    "Tracking/AddRunComment": ("ws", VIEWER, True),
    "Tracking/ListRunComments": ("ws", VIEWER, True),
    "Alerts/CreateRule": ("ws", DEVELOPER, True),
    "Alerts/UpdateRule": ("ws", DEVELOPER, True),
    "Alerts/DeleteRule": ("ws", DEVELOPER, True),
    "Alerts/ListRules": ("ws", VIEWER, True),
    "Alerts/ListAlerts": ("ws", VIEWER, True),
    "Alerts/AcknowledgeAlert": ("ws", DEVELOPER, True),
    "Alerts/SilenceAlert": ("ws", DEVELOPER, True),
    "Channels/CreateChannel": ("ws", ADMIN, True),
    "Channels/ListChannels": ("ws", VIEWER, True),
    "Channels/DeleteChannel": ("ws", ADMIN, True),
    "Channels/TestChannel": ("ws", DEVELOPER, True),
    "Channels/ListDeliveries": ("ws", VIEWER, True),
}

NO_RUN = "0" * 32

# Requests that pass any check a servicer makes after admission without changing anything
# (ArchiveWorkspace is the exception; the test undoes it).
REQUESTS: dict[str, Message] = {
    "Auth/GetHubInfo": auth_pb2.GetHubInfoRequest(),
    "Auth/Login": auth_pb2.LoginRequest(),
    "Auth/Refresh": auth_pb2.RefreshRequest(),
    "Auth/Logout": auth_pb2.LogoutRequest(),
    "Auth/ChangePassword": auth_pb2.ChangePasswordRequest(),
    "Auth/WhoAmI": auth_pb2.WhoAmIRequest(),
    "ApiKeys/CreateApiKey": auth_pb2.CreateApiKeyRequest(),
    "ApiKeys/ListApiKeys": auth_pb2.ListApiKeysRequest(),
    "ApiKeys/RevokeApiKey": auth_pb2.RevokeApiKeyRequest(),
    "Users/CreateUser": workspaces_pb2.CreateUserRequest(),
    "Users/ListUsers": workspaces_pb2.ListUsersRequest(),
    "Users/GetUser": workspaces_pb2.GetUserRequest(user="nobody"),
    "Users/SetUserDisabled": workspaces_pb2.SetUserDisabledRequest(user="nobody"),
    "Users/SetSystemAdmin": workspaces_pb2.SetSystemAdminRequest(user="nobody"),
    "Users/ResetPassword": workspaces_pb2.ResetPasswordRequest(user="nobody"),
    "Workspaces/CreateWorkspace": workspaces_pb2.CreateWorkspaceRequest(),
    "Workspaces/ListWorkspaces": workspaces_pb2.ListWorkspacesRequest(),
    "Workspaces/GetWorkspace": workspaces_pb2.GetWorkspaceRequest(),
    "Workspaces/RenameWorkspace": workspaces_pb2.RenameWorkspaceRequest(),
    "Workspaces/ArchiveWorkspace": workspaces_pb2.ArchiveWorkspaceRequest(),
    "Workspaces/ListMembers": workspaces_pb2.ListMembersRequest(),
    "Workspaces/SetMember": workspaces_pb2.SetMemberRequest(user="nobody", role=VIEWER),
    "Workspaces/RemoveMember": workspaces_pb2.RemoveMemberRequest(user="nobody"),
    "Audit/QueryAudit": audit_pb2.QueryAuditRequest(),
    "Audit/ExportAudit": audit_pb2.ExportAuditRequest(format="xml"),
    "Audit/VerifyAudit": audit_pb2.VerifyAuditRequest(),
    "Artifacts/StartUpload": artifacts_pb2.StartUploadRequest(),
    "Artifacts/Upload": artifacts_pb2.UploadChunk(upload_id="0" * 32),
    "Artifacts/Download": artifacts_pb2.DownloadRequest(sha256="0" * 64),
    "Artifacts/StatArtifact": artifacts_pb2.StatArtifactRequest(sha256="0" * 64),
    "Registry/CreateModel": registry_pb2.CreateModelRequest(),
    "Registry/GetModel": registry_pb2.GetModelRequest(name="nothing"),
    "Registry/ListModels": registry_pb2.ListRegisteredModelsRequest(),
    "Registry/UpdateModel": registry_pb2.UpdateModelRequest(name="nothing"),
    "Registry/ArchiveModel": registry_pb2.ArchiveModelRequest(name="nothing"),
    "Registry/CreateVersion": registry_pb2.CreateVersionRequest(model_name="nothing"),
    "Registry/GetVersion": registry_pb2.GetVersionRequest(model_name="nothing", version=1),
    "Registry/ListVersions": registry_pb2.ListVersionsRequest(model_name="nothing"),
    "Registry/UpdateVersion": registry_pb2.UpdateVersionRequest(model_name="nothing"),
    "Registry/ArchiveVersion": registry_pb2.ArchiveVersionRequest(model_name="nothing"),
    "Registry/SetAlias": registry_pb2.SetAliasRequest(model_name="nothing", alias="staging"),
    "Registry/DeleteAlias": registry_pb2.DeleteAliasRequest(model_name="nothing", alias="x"),
    "Registry/AddComment": registry_pb2.AddCommentRequest(model_name="nothing", body="hi"),
    "Registry/ListComments": registry_pb2.ListCommentsRequest(model_name="nothing"),
    "Tracking/CreateExperiment": tracking_pb2.CreateExperimentRequest(),
    "Tracking/GetExperiment": tracking_pb2.GetExperimentRequest(experiment="nothing"),
    "Tracking/ListExperiments": tracking_pb2.ListExperimentsRequest(),
    "Tracking/CreateRun": tracking_pb2.CreateRunRequest(),
    "Tracking/GetRun": tracking_pb2.GetRunRequest(run_id=NO_RUN),
    "Tracking/UpdateRun": tracking_pb2.UpdateRunRequest(run_id=NO_RUN),
    "Tracking/LogBatch": tracking_pb2.LogBatchRequest(run_id=NO_RUN, idempotency_key="k"),
    "Tracking/LogArtifact": tracking_pb2.LogArtifactRequest(run_id=NO_RUN),
    "Tracking/SearchRuns": tracking_pb2.SearchRunsRequest(),
    "Tracking/GetMetricHistory": tracking_pb2.GetMetricHistoryRequest(run_id=NO_RUN, key="x"),
    "Tracking/CompareRuns": tracking_pb2.CompareRunsRequest(),
    "Tracking/AddRunComment": tracking_pb2.AddRunCommentRequest(run_id=NO_RUN, body="hi"),
    "Tracking/ListRunComments": tracking_pb2.ListRunCommentsRequest(run_id=NO_RUN),
    "Alerts/CreateRule": alerts_pb2.CreateRuleRequest(),
    "Alerts/UpdateRule": alerts_pb2.UpdateRuleRequest(rule="nothing"),
    "Alerts/DeleteRule": alerts_pb2.DeleteRuleRequest(rule="nothing"),
    "Alerts/ListRules": alerts_pb2.ListRulesRequest(),
    "Alerts/ListAlerts": alerts_pb2.ListAlertsRequest(),
    "Alerts/AcknowledgeAlert": alerts_pb2.AcknowledgeAlertRequest(alert_id=NO_RUN),
    "Alerts/SilenceAlert": alerts_pb2.SilenceAlertRequest(alert_id=NO_RUN),
    "Channels/CreateChannel": alerts_pb2.CreateChannelRequest(),
    "Channels/ListChannels": alerts_pb2.ListChannelsRequest(),
    "Channels/DeleteChannel": alerts_pb2.DeleteChannelRequest(channel="nothing"),
    "Channels/TestChannel": alerts_pb2.TestChannelRequest(channel="nothing"),
    "Channels/ListDeliveries": alerts_pb2.ListDeliveriesRequest(),
}
CALLERS = ["none", "viewer", "developer", "admin", "sysadmin", "api_key"]
ADMITTED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND}
REFUSED = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}


def _served_services() -> dict[str, Any]:
    """Every service whose stubs the hub's server module registers."""
    from modelfleet.agent.hub import server

    services: dict[str, Any] = {}
    for value in vars(server).values():
        if isinstance(value, ModuleType) and value.__name__.endswith("_pb2_grpc"):
            messages = importlib.import_module(value.__name__.removesuffix("_grpc"))
            services.update(messages.DESCRIPTOR.services_by_name)
    return services


def test_every_served_method_is_in_the_table_and_the_matrix() -> None:
    services = _served_services()
    assert {"Auth", "ApiKeys", "Users", "Workspaces", "Audit"} <= set(services)
    served = {f"/{s.full_name}/{m.name}" for s in services.values() for m in s.methods}
    # Every served method has a rule (the interceptor refuses the rest anyway).
    assert served <= set(PERMISSIONS), sorted(served - set(PERMISSIONS))
    # The matrix walks whole services: one it covers at all, it covers completely.
    walked = {f"/modelfleet.v1.{name}" for name in EXPECTED}
    assert walked <= served
    for service in {name.split("/")[0] for name in EXPECTED}:
        methods = {f"/{services[service].full_name}/{m.name}" for m in services[service].methods}
        assert methods <= walked, sorted(methods - walked)
    assert set(REQUESTS) == set(EXPECTED)


def _expected(method: str, caller: str, own: bool) -> bool:
    kind, role, api_ok = EXPECTED[method]
    if kind == PUBLIC:
        return True
    if caller == "none":
        return False
    if caller == "api_key" and not api_ok:
        return False
    if kind == SIGNED_IN:
        return True
    if kind == PEOPLE:
        return caller != "api_key"
    if kind == SYSADMIN:
        return caller == "sysadmin"
    if caller == "sysadmin":
        return True
    if not own:
        return False
    ranks = {"viewer": VIEWER, "developer": DEVELOPER, "admin": ADMIN, "api_key": DEVELOPER}
    return ranks[caller] >= role


def _invoke(hub: Hub, method: str, metadata: list[tuple[str, str]]) -> grpc.StatusCode:
    service, name = method.split("/")
    stub = {
        "Auth": hub.auth,
        "ApiKeys": hub.api_keys,
        "Users": hub.users,
        "Workspaces": hub.workspaces,
        "Audit": hub.audit,
        "Artifacts": artifacts_pb2_grpc.ArtifactsStub(hub.channel),
        "Registry": registry_pb2_grpc.RegistryStub(hub.channel),
        "Tracking": tracking_pb2_grpc.TrackingStub(hub.channel),
        "Alerts": alerts_pb2_grpc.AlertsStub(hub.channel),
        "Channels": alerts_pb2_grpc.ChannelsStub(hub.channel),
    }[service]
    rpc: Callable[..., Any] = getattr(stub, name)
    request: Any = REQUESTS[method]
    if method == "Artifacts/Upload":
        request = iter([request])
    try:
        result = rpc(request, metadata=metadata, timeout=20)
        if method in ("Audit/ExportAudit", "Artifacts/Download"):
            list(result)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def test_permission_matrix(hub: Hub) -> None:
    own, foreign = "own-ws", "foreign-ws"
    hub.add_workspace(own)
    for name, role in (("viewer", VIEWER), ("developer", DEVELOPER), ("wsadmin", ADMIN)):
        hub.add_user(name)
        hub.set_member(own, name, role)
    hub.add_user("outsider")
    hub.add_workspace(foreign, hub.token("outsider", "password-123"))
    key = hub.api_keys.CreateApiKey(
        auth_pb2.CreateApiKeyRequest(name="ci", role=DEVELOPER), metadata=hub.admin_md(own)
    )
    tokens = {
        "none": None,
        "viewer": hub.token("viewer", "password-123"),
        "developer": hub.token("developer", "password-123"),
        "admin": hub.token("wsadmin", "password-123"),
        "sysadmin": hub.token(),
        "api_key": key.secret,
    }
    failures = []
    for method in EXPECTED:
        for caller in CALLERS:
            for workspace, is_own in ((own, True), (foreign, False)):
                denied_before = hub.audit_count(outcome="denied")
                code = _invoke(hub, method, hub.md(tokens[caller], workspace))
                allowed = _expected(method, caller, is_own)
                if (allowed and code not in ADMITTED) or (not allowed and code not in REFUSED):
                    failures.append(f"{method} {caller} {workspace}: {code.name}")
                if not allowed and hub.audit_count(outcome="denied") != denied_before + 1:
                    failures.append(f"{method} {caller} {workspace}: denial not audited")
                if method == "Workspaces/ArchiveWorkspace" and code == grpc.StatusCode.OK:
                    with hub.engine.begin() as conn:
                        conn.execute(update(Workspace).values(archived=False))
                    hub.state.authenticator.workspaces_changed()
    assert not failures, "\n".join(failures)
