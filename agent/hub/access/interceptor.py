"""The one server interceptor: authenticate, resolve the workspace, check the table, audit."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

import grpc

from modelfleet.agent.hub.access.authenticate import Authenticator
from modelfleet.agent.hub.access.permissions import (
    PERMISSIONS,
    Access,
    Permission,
    Role,
    WorkspaceHeader,
    action_name,
)
from modelfleet.agent.hub.access.principal import Call, Principal, set_current_call
from modelfleet.agent.hub.access.recording import record
from modelfleet.agent.hub.access.requestcheck import check_request, checked_stream
from modelfleet.agent.hub.db import Database
from modelfleet.agent.hub.errors import (
    Context,
    HubError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    map_errors,
    status_of,
)

log = logging.getLogger(__name__)

WORKSPACE_HEADER = "x-modelfleet-workspace"

if TYPE_CHECKING:
    _InterceptorBase = grpc.aio.ServerInterceptor[Any, Any]
else:
    _InterceptorBase = grpc.aio.ServerInterceptor
_ROLE_NAMES = {1: "VIEWER", 2: "DEVELOPER", 3: "ADMIN"}


class AgentAuthenticator(Protocol):
    async def authenticate(self, cert_pem: bytes) -> Principal:
        """The agent a verified client certificate names; Unauthenticated if revoked."""
        ...


class CallGuard(Protocol):
    async def admit(self, call: Call, permission: Permission | None) -> None:
        """Raise a HubError to refuse a call the table admitted (the refusal is audited)."""
        ...


def _peer_certificate(context: Context) -> bytes | None:
    """The client certificate the TLS layer verified against the hub CA (agent port only)."""
    certs = list(context.auth_context().get("x509_pem_cert", ()))
    return certs[0] if certs else None


class AccessInterceptor(_InterceptorBase):
    """Every RPC passes here; a method missing from `PERMISSIONS` is refused."""

    def __init__(
        self,
        db: Database,
        authenticator: Authenticator,
        permissions: dict[str, Permission] | None = None,
        agents: AgentAuthenticator | None = None,
        guards: Sequence[CallGuard] = (),
    ) -> None:
        self._db = db
        # Policies beyond the table (IP allow-lists, MFA), run on every admitted call.
        self._guards = tuple(guards)
        self._auth = authenticator
        self._agents = agents
        self._permissions = PERMISSIONS if permissions is None else permissions

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        # Typed loosely: the stubs describe synchronous handlers, these are coroutines.
        handler: Any = await continuation(details)
        if handler is None:
            # Not implemented here: gRPC answers UNIMPLEMENTED.
            return cast("grpc.RpcMethodHandler[Any, Any]", handler)
        method: str = details.method
        permission = self._permissions.get(method)
        metadata = {k: v for k, v in (details.invocation_metadata or ()) if isinstance(v, str)}
        if handler.unary_unary is not None or handler.stream_unary is not None:
            # A client stream's request iterator passes through like a unary request.
            inner = handler.unary_unary or handler.stream_unary
            client_stream = handler.unary_unary is None

            async def unary(request: Any, context: Context) -> Any:
                if client_stream:
                    call = await self._admit(method, permission, metadata, context)
                    request = checked_stream(request)
                else:
                    call = await self._admit(method, permission, metadata, context, request)
                token = set_current_call(call)
                try:
                    async with self._finish(call, permission, context):
                        return await inner(request, context)
                finally:
                    token.var.reset(token)

            make = (
                grpc.unary_unary_rpc_method_handler
                if handler.unary_unary is not None
                else grpc.stream_unary_rpc_method_handler
            )
            return make(unary, handler.request_deserializer, handler.response_serializer)
        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
                call = await self._admit(method, permission, metadata, context, request)
                token = set_current_call(call)
                try:
                    async with self._finish(call, permission, context):
                        async for item in inner_stream(request, context):
                            yield item
                finally:
                    token.var.reset(token)

            return grpc.unary_stream_rpc_method_handler(
                stream, handler.request_deserializer, handler.response_serializer
            )
        if handler.stream_stream is not None:
            inner_bidi = handler.stream_stream

            async def bidi(requests: Any, context: Context) -> AsyncIterator[Any]:
                call = await self._admit(method, permission, metadata, context)
                token = set_current_call(call)
                try:
                    async with self._finish(call, permission, context):
                        async for item in inner_bidi(checked_stream(requests), context):
                            yield item
                finally:
                    token.var.reset(token)

            return grpc.stream_stream_rpc_method_handler(
                bidi, handler.request_deserializer, handler.response_serializer
            )
        log.error("[%s] streaming kind not supported by the interceptor", method)
        return _refusal(method)

    async def _admit(
        self,
        method: str,
        permission: Permission | None,
        metadata: dict[str, str],
        context: Context,
        request: Any = None,
    ) -> Call:
        """Admit the caller, then (unary requests) the request's strings; refusals audited."""
        call = Call(method=method, action=action_name(method), peer=context.peer() or "")
        try:
            cert = _peer_certificate(context)
            if cert is not None:
                await self._check_agent(call, permission, cert)
            else:
                await self._check(call, permission, metadata)
            for guard in self._guards:
                await guard.admit(call, permission)
            if request is not None:
                check_request(request)
        except HubError as exc:
            await self._audit_denial(call, exc, metadata)
            await context.abort(exc.code, exc.message)
        return call

    async def _check_agent(self, call: Call, permission: Permission | None, cert: bytes) -> None:
        """A caller with a hub-CA client certificate is an agent, and nothing else."""
        if self._agents is None:
            raise Unauthenticated("this server does not accept agent certificates")
        call.principal = principal = await self._agents.authenticate(cert)
        if permission is None or not permission.agents:
            raise PermissionDenied(f"{call.action} is not open to agents")
        workspace_id = next(iter(principal.roles))
        workspace = await self._auth.workspace(workspace_id)
        if workspace is None:
            raise Unauthenticated("the agent's workspace no longer exists")
        call.workspace = workspace
        call.role = Role.VIEWER

    async def _check(
        self, call: Call, permission: Permission | None, metadata: dict[str, str]
    ) -> None:
        if permission is None:
            raise PermissionDenied(f"{call.action} is not open to anyone")
        if permission.access is Access.AGENT:
            raise PermissionDenied(
                f"{call.action} is for enrolled agents (client certificate on the agent port)"
            )
        if permission.access is Access.PUBLIC:
            # A stale token sent along with Refresh or Logout must not get in the way.
            try:
                call.principal = await self._authenticate(metadata)
            except Unauthenticated:
                call.principal = None
            return
        call.principal = await self._authenticate(metadata)
        principal = call.principal
        if principal is None:
            raise Unauthenticated(
                f"{call.action} needs a signed-in caller (authorization metadata)"
            )
        if principal.kind == "api_key" and not permission.api_keys:
            raise PermissionDenied(f"{call.action} is not available to API keys")
        if permission.access is Access.SYSTEM_ADMIN:
            if not principal.system_admin:
                raise PermissionDenied(f"{call.action} needs a system administrator")
            return
        if permission.access is Access.AUTHENTICATED:
            return
        ref = metadata.get(WORKSPACE_HEADER, "")
        if not ref:
            if permission.workspace is WorkspaceHeader.OPTIONAL:
                if principal.system_admin and principal.kind == "user":
                    return
                raise PermissionDenied(
                    f"{call.action} without {WORKSPACE_HEADER} needs a system administrator"
                )
            raise InvalidArgument(WORKSPACE_HEADER, "a workspace name or id in the metadata")
        workspace = await self._auth.workspace(ref)
        role = None if workspace is None else await self._auth.role_in(principal, workspace.id)
        if workspace is None or role is None:
            if workspace is None and principal.system_admin and principal.kind == "user":
                raise NotFound(f"{WORKSPACE_HEADER}: no workspace {ref!r}")
            # Same answer for a workspace that exists and one that does not.
            raise PermissionDenied(f"no access to workspace {ref!r}")
        call.workspace = workspace
        call.role = role
        assert permission.role is not None
        if role < permission.role:
            raise PermissionDenied(
                f"{call.action} needs the {_ROLE_NAMES[permission.role]} role in workspace "
                f"{workspace.name!r}; you have {_ROLE_NAMES[role]}"
            )
        if workspace.archived and permission.mutating:
            raise HubError(f"workspace {workspace.name!r} is archived (read-only)")

    async def _authenticate(self, metadata: dict[str, str]) -> Principal | None:
        header = metadata.get("authorization")
        if header is None:
            return None
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise Unauthenticated(
                "authorization metadata: expected 'Bearer <access token or API key>'"
            )
        return await self._auth.authenticate(credential.strip())

    async def _audit_denial(self, call: Call, exc: HubError, metadata: dict[str, str]) -> None:
        details = {"code": exc.code.name, "reason": exc.message}
        ref = metadata.get(WORKSPACE_HEADER)
        if ref and call.workspace is None:
            details["workspace"] = ref[:128]
        await self._db.write(
            lambda s: record(s, call, outcome="denied", target=call.target, details=details)
        )

    def _finish(self, call: Call, permission: Permission | None, context: Context) -> _Finish:
        return _Finish(self, call, permission is not None and permission.is_audited, context)

    async def _fallback_audit(self, call: Call, exc: BaseException | None) -> None:
        """The audit row of a call whose servicer did not write one (it failed)."""
        outcome = "ok" if exc is None else "error"
        details: dict[str, object] = dict(call.details)
        if exc is not None:
            details["code"] = status_of(exc).name
            if isinstance(exc, HubError):
                details["reason"] = exc.message
        await self._db.write(lambda s: record(s, call, outcome=outcome, details=details))


class _Finish:
    """Maps the servicer's errors to status codes and makes sure audited calls leave a row."""

    def __init__(
        self,
        owner: AccessInterceptor,
        call: Call,
        audited: bool,
        context: Context,
    ) -> None:
        self._owner = owner
        self._call = call
        self._audited = audited
        self._errors = map_errors(context, call.action)

    async def __aenter__(self) -> None:
        await self._errors.__aenter__()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool | None:
        if self._audited and not self._call.audited and not isinstance(exc, grpc.aio.AbortError):
            try:
                await self._owner._fallback_audit(self._call, exc)
            except Exception as failed:
                # An audit row that cannot be stored fails the call as INTERNAL (logged with
                # a reference), never as an UNKNOWN carrying the database's message.
                return await self._errors.__aexit__(type(failed), failed, failed.__traceback__)
        return await self._errors.__aexit__(exc_type, exc, tb)


def _refusal(method: str) -> grpc.RpcMethodHandler[Any, Any]:
    async def refuse(request: Any, context: Context) -> Any:
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"{action_name(method)} refused")

    return grpc.unary_unary_rpc_method_handler(refuse)
