"""Sso servicer: provider administration, code flow + PKCE, and the device flow."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import grpc
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from modelfleet.agent.hub import validation
from modelfleet.agent.hub.access.principal import Call, current_call
from modelfleet.agent.hub.access.recording import record
from modelfleet.agent.hub.db import new_id
from modelfleet.agent.hub.db.security_models import SsoLogin, SsoProviderRow
from modelfleet.agent.hub.errors import (
    AlreadyExists,
    Context,
    HubError,
    PermissionDenied,
    Unauthenticated,
)
from modelfleet.agent.hub.mfa.factors import record_session
from modelfleet.agent.hub.secrets import SecretBox
from modelfleet.agent.hub.services import convert
from modelfleet.agent.hub.services.auth import token_pair_message
from modelfleet.agent.hub.sessions import IssuedTokens
from modelfleet.agent.hub.sso import accounts, flows, providers
from modelfleet.agent.hub.sso.http import IdpError, IdpRefused
from modelfleet.agent.hub.sso.oidc import IdTokenRejected, OidcDirectory, validate_id_token
from modelfleet.agent.hub.state import HubState
from modelfleet.proto.v1 import auth_pb2, auth_pb2_grpc

_STATE = "the state the sign-in started with"


class ProviderUnavailable(HubError):
    code = grpc.StatusCode.UNAVAILABLE


@dataclass(frozen=True, slots=True)
class _Pending:
    login_id: str
    provider: SsoProviderRow
    nonce: str
    redirect_uri: str
    challenge: str
    device_code_sealed: bytes | None
    interval: int
    last_poll_at: datetime | None


def _digest(handle: str) -> str:
    return hashlib.sha256(handle.encode()).hexdigest()


def _secret_context(provider_id: str) -> str:
    return f"sso_provider:{provider_id}"


class SsoServicer(auth_pb2_grpc.SsoServicer):
    def __init__(self, hub: HubState, directory: OidcDirectory) -> None:
        self._hub = hub
        self.directory = directory

    def _box(self) -> SecretBox:
        if self._hub.secrets is None:
            raise HubError("the hub's secrets keyring is not loaded")
        return self._hub.secrets

    # -- administration (system admins) ---------------------------------------------------

    async def CreateSsoProvider(
        self, request: auth_pb2.CreateSsoProviderRequest, context: Context
    ) -> auth_pb2.SsoProvider:
        call = current_call()
        call.target = f"sso_provider:{request.spec.name[:64]}"
        secret = providers.check_secret(request.client_secret)
        box = self._box()

        def create(s: Session) -> auth_pb2.SsoProvider:
            spec = providers.check_spec(s, request.spec)
            if s.scalar(select(func.count()).where(SsoProviderRow.name == spec.name)):
                raise AlreadyExists(f"spec.name: a provider named {spec.name!r} already exists")
            row = SsoProviderRow(id=new_id())
            providers.apply_spec(row, spec)
            if secret:
                row.client_secret_sealed = box.seal(secret, _secret_context(row.id))
            s.add(row)
            s.flush()
            record(s, call, details=_audit_spec(spec, bool(secret)))
            return providers.provider_message(s, row)

        return await self._hub.db.write(create)

    async def UpdateSsoProvider(
        self, request: auth_pb2.UpdateSsoProviderRequest, context: Context
    ) -> auth_pb2.SsoProvider:
        call = current_call()
        call.target = f"sso_provider:{request.provider[:64]}"
        secret = providers.check_secret(request.client_secret)
        box = self._box()

        def change(s: Session) -> auth_pb2.SsoProvider:
            row = providers.find_provider(s, request.provider)
            spec = providers.check_spec(s, request.spec)
            taken = s.scalar(
                select(func.count()).where(
                    SsoProviderRow.name == spec.name, SsoProviderRow.id != row.id
                )
            )
            if taken:
                raise AlreadyExists(f"spec.name: a provider named {spec.name!r} already exists")
            providers.apply_spec(row, spec)
            if request.clear_client_secret:
                row.client_secret_sealed = None
            elif secret:
                row.client_secret_sealed = box.seal(secret, _secret_context(row.id))
            details = _audit_spec(spec, bool(secret))
            details["secret_cleared"] = request.clear_client_secret
            record(s, call, details=details)
            return providers.provider_message(s, row)

        return await self._hub.db.write(change)

    async def DeleteSsoProvider(
        self, request: auth_pb2.DeleteSsoProviderRequest, context: Context
    ) -> auth_pb2.DeleteSsoProviderResponse:
        call = current_call()
        call.target = f"sso_provider:{request.provider[:64]}"

        def delete(s: Session) -> None:
            row = providers.find_provider(s, request.provider)
            s.delete(row)
            record(s, call, details={"name": row.name})

        await self._hub.db.write(delete)
        return auth_pb2.DeleteSsoProviderResponse()

    async def GetSsoProvider(
        self, request: auth_pb2.GetSsoProviderRequest, context: Context
    ) -> auth_pb2.SsoProvider:
        return await self._hub.db.read(
            lambda s: providers.provider_message(s, providers.find_provider(s, request.provider))
        )

    async def ListSsoProviders(
        self, request: auth_pb2.ListSsoProvidersRequest, context: Context
    ) -> auth_pb2.ListSsoProvidersResponse:
        def listing(s: Session) -> list[auth_pb2.SsoProviderSummary]:
            rows = s.scalars(
                select(SsoProviderRow)
                .where(SsoProviderRow.disabled.is_(False))
                .order_by(SsoProviderRow.name)
            ).all()
            return [
                auth_pb2.SsoProviderSummary(
                    name=r.name, display_name=r.display_name, preset=r.preset
                )
                for r in rows
            ]

        return auth_pb2.ListSsoProvidersResponse(providers=await self._hub.db.read(listing))

    # -- authorization code flow + PKCE ----------------------------------------------------

    async def StartSsoLogin(
        self, request: auth_pb2.StartSsoLoginRequest, context: Context
    ) -> auth_pb2.StartSsoLoginResponse:
        call = current_call()
        redirect_uri = flows.check_redirect_uri(request.redirect_uri)
        challenge = flows.check_challenge(request.code_challenge, request.code_challenge_method)
        provider = await self._enabled_provider(call, request.provider)
        meta = await self._idp(self.directory.metadata(provider.issuer))
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        expires = datetime.now(UTC) + timedelta(seconds=self._hub.settings.sso_login_ttl)

        def start(s: Session) -> None:
            s.add(
                SsoLogin(
                    handle_hash=_digest(state),
                    provider_id=provider.id,
                    kind="code",
                    nonce=nonce,
                    redirect_uri=redirect_uri,
                    code_challenge=challenge,
                    expires_at=expires,
                )
            )
            record(s, call, details={"provider": provider.name, "flow": "code"})

        await self._hub.db.write(start)
        url = flows.authorization_url(
            meta, provider, redirect_uri=redirect_uri, state=state, nonce=nonce, challenge=challenge
        )
        return auth_pb2.StartSsoLoginResponse(
            authorization_url=url, state=state, expires_at=convert.timestamp(expires)
        )

    async def CompleteSsoLogin(
        self, request: auth_pb2.CompleteSsoLoginRequest, context: Context
    ) -> auth_pb2.TokenPair:
        call = current_call()
        state = validation.required("state", request.state, _STATE)
        code = validation.required("code", request.code, "the code the redirect brought back")
        verifier = validation.required("code_verifier", request.code_verifier, "the verifier")
        pending = await self._take(call, state, "code")
        call.target = f"sso_provider:{pending.provider.name}"
        if request.redirect_uri != pending.redirect_uri:
            await self._deny(call, "redirect_uri: not the one this sign-in started with")
        if not flows.verifier_matches(verifier, pending.challenge):
            await self._deny(call, "code_verifier: does not match this sign-in's challenge")
        client = await self._client(pending.provider)
        id_token = await self._exchange(
            call, client.exchange_code(code, request.redirect_uri, verifier)
        )
        return await self._finish(call, pending.provider, id_token, pending.nonce)

    # -- device flow (RFC 8628) --------------------------------------------------------------

    async def StartDeviceLogin(
        self, request: auth_pb2.StartDeviceLoginRequest, context: Context
    ) -> auth_pb2.StartDeviceLoginResponse:
        call = current_call()
        provider = await self._enabled_provider(call, request.provider)
        client = await self._client(provider)
        doc = await self._exchange(call, client.start_device())
        handle = secrets.token_urlsafe(32)
        interval = _int(doc.get("interval"), 5, 1, 60)
        lifetime = min(_int(doc.get("expires_in"), 600, 30, 3600), self._hub.settings.sso_login_ttl)
        expires = datetime.now(UTC) + timedelta(seconds=lifetime)
        box = self._box()

        def start(s: Session) -> None:
            login_id = new_id()
            s.add(
                SsoLogin(
                    id=login_id,
                    handle_hash=_digest(handle),
                    provider_id=provider.id,
                    kind="device",
                    device_code_sealed=box.seal(doc["device_code"], f"sso_login:{login_id}"),
                    interval=interval,
                    expires_at=expires,
                )
            )
            record(s, call, details={"provider": provider.name, "flow": "device"})

        await self._hub.db.write(start)
        return auth_pb2.StartDeviceLoginResponse(
            device_login_id=handle,
            user_code=str(doc["user_code"])[:64],
            verification_uri=str(doc["verification_uri"]),
            verification_uri_complete=str(doc.get("verification_uri_complete") or ""),
            interval_seconds=interval,
            expires_at=convert.timestamp(expires),
        )

    async def PollDeviceLogin(
        self, request: auth_pb2.PollDeviceLoginRequest, context: Context
    ) -> auth_pb2.PollDeviceLoginResponse:
        call = current_call()
        handle = validation.required("device_login_id", request.device_login_id, "the id")
        pending = await self._hub.db.read(lambda s: _find_pending(s, handle, "device"))
        call.target = f"sso_provider:{pending.provider.name}"
        now = datetime.now(UTC)
        if pending.last_poll_at is not None and (now - pending.last_poll_at) < timedelta(
            seconds=pending.interval - 0.5
        ):
            return _poll(auth_pb2.DEVICE_LOGIN_SLOW_DOWN, pending.interval)
        await self._hub.db.write(
            lambda s: s.execute(
                update(SsoLogin).where(SsoLogin.id == pending.login_id).values(last_poll_at=now)
            )
        )
        assert pending.device_code_sealed is not None
        device_code = self._box().open(pending.device_code_sealed, f"sso_login:{pending.login_id}")
        client = await self._client(pending.provider)
        try:
            id_token = await client.poll_device(device_code)
        except IdpRefused as exc:
            if exc.error == "authorization_pending":
                return _poll(auth_pb2.DEVICE_LOGIN_PENDING, pending.interval)
            if exc.error == "slow_down":
                interval = pending.interval + 5
                await self._hub.db.write(
                    lambda s: s.execute(
                        update(SsoLogin)
                        .where(SsoLogin.id == pending.login_id)
                        .values(interval=interval)
                    )
                )
                return _poll(auth_pb2.DEVICE_LOGIN_SLOW_DOWN, interval)
            await self._take(call, handle, "device")
            await self._deny(call, f"the identity provider ended the sign-in ({exc.error})")
        except IdpError as exc:
            raise ProviderUnavailable(f"identity provider: {exc}") from None
        await self._take(call, handle, "device")
        tokens = await self._finish(call, pending.provider, id_token, None)
        return auth_pb2.PollDeviceLoginResponse(
            status=auth_pb2.DEVICE_LOGIN_COMPLETE, interval_seconds=pending.interval, tokens=tokens
        )

    # -- shared steps ------------------------------------------------------------------------

    async def _enabled_provider(self, call: Call, ref: str) -> SsoProviderRow:
        validation.required("provider", ref, "an SSO provider name")
        call.target = f"sso_provider:{ref[:64]}"
        provider = await self._hub.db.read(lambda s: providers.find_provider(s, ref))
        if provider.disabled:
            raise PermissionDenied(f"provider: SSO provider {provider.name!r} is disabled")
        return provider

    async def _client(self, provider: SsoProviderRow) -> flows.ProviderClient:
        meta = await self._idp(self.directory.metadata(provider.issuer))
        secret = ""
        if provider.client_secret_sealed is not None:
            secret = self._box().open(provider.client_secret_sealed, _secret_context(provider.id))
        return flows.ProviderClient(self.directory.http, meta, provider, secret)

    @staticmethod
    async def _idp(work: Any) -> Any:
        try:
            return await work
        except IdpError as exc:
            raise ProviderUnavailable(f"identity provider: {exc}") from None

    async def _exchange(self, call: Call, work: Any) -> Any:
        try:
            return await work
        except IdpRefused as exc:
            await self._deny(call, f"the identity provider refused: {exc.error}")
        except IdpError as exc:
            raise ProviderUnavailable(f"identity provider: {exc}") from None

    async def _take(self, call: Call, handle: str, kind: str) -> _Pending:
        """Spend a pending sign-in: each state or device login id completes at most once."""

        def take(s: Session) -> _Pending:
            pending = _find_pending(s, handle, kind)
            spent = s.execute(
                update(SsoLogin)
                .where(SsoLogin.id == pending.login_id, SsoLogin.consumed_at.is_(None))
                .values(consumed_at=datetime.now(UTC))
            )
            if spent.rowcount != 1:  # type: ignore[attr-defined]
                raise Unauthenticated(f"{_field(kind)}: this sign-in was already completed")
            return pending

        try:
            return await self._hub.db.write(take)
        except Unauthenticated as exc:
            await self._deny(call, exc.message, Unauthenticated)

    async def _finish(
        self, call: Call, provider: SsoProviderRow, id_token: str, nonce: str | None
    ) -> auth_pb2.TokenPair:
        try:
            claims = await validate_id_token(
                id_token,
                self.directory,
                issuer=provider.issuer,
                client_id=provider.client_id,
                nonce=nonce,
                leeway=self._hub.settings.sso_clock_leeway,
            )
        except IdTokenRejected as exc:
            await self._deny(call, f"ID token refused: {exc}")
        except IdpError as exc:
            raise ProviderUnavailable(f"identity provider: {exc}") from None

        def sign_in(s: Session) -> IssuedTokens:
            found = accounts.sign_in(s, provider, claims)
            user = found.user
            issued = self._hub.sessions.issue(s, user)
            amr = found.amr or ["ext"]
            record_session(s, issued.family_id, user.id, amr)
            details = {
                "provider": provider.name,
                "session": issued.family_id,
                "amr": found.amr,
                "created": found.created,
                "roles": found.roles_granted,
            }
            record(s, call, actor=("user", user.id, user.username), details=details)
            return issued

        try:
            issued = await self._hub.db.write(sign_in)
        except PermissionDenied as exc:
            await self._deny(call, exc.message)
        self._hub.authenticator.user_changed(issued.user.id)
        return await token_pair_message(self._hub, issued)

    async def _deny(
        self, call: Call, reason: str, error: type[HubError] = PermissionDenied
    ) -> NoReturn:
        await self._hub.db.write(
            lambda s: record(s, call, outcome="denied", details={"reason": reason})
        )
        raise error(f"SSO sign-in refused: {reason}")


def _find_pending(s: Session, handle: str, kind: str) -> _Pending:
    row = s.scalar(select(SsoLogin).where(SsoLogin.handle_hash == _digest(handle)))
    if row is None or row.kind != kind:
        raise Unauthenticated(f"{_field(kind)}: no sign-in in progress with this value")
    if row.consumed_at is not None:
        raise Unauthenticated(f"{_field(kind)}: this sign-in was already completed")
    if row.expires_at <= datetime.now(UTC):
        raise Unauthenticated(f"{_field(kind)}: this sign-in expired; start again")
    return _Pending(
        login_id=row.id,
        provider=s.get_one(SsoProviderRow, row.provider_id),
        nonce=row.nonce,
        redirect_uri=row.redirect_uri,
        challenge=row.code_challenge,
        device_code_sealed=row.device_code_sealed,
        interval=row.interval,
        last_poll_at=row.last_poll_at,
    )


def _field(kind: str) -> str:
    return "state" if kind == "code" else "device_login_id"


def _poll(status: int, interval: int) -> auth_pb2.PollDeviceLoginResponse:
    return auth_pb2.PollDeviceLoginResponse(status=status, interval_seconds=interval)  # type: ignore[arg-type]


def _int(value: object, default: int, low: int, high: int) -> int:
    return min(high, max(low, value)) if isinstance(value, int) else default


def _audit_spec(spec: providers.CheckedSpec, secret_set: bool) -> dict[str, Any]:
    return {
        "name": spec.name,
        "issuer": spec.issuer,
        "client_id": spec.client_id,
        "allowed_domains": spec.allowed_domains,
        "rules": len(spec.role_mappings),
        "jit": spec.jit_user_creation,
        "disabled": spec.disabled,
        "secret_set": secret_set,
    }
