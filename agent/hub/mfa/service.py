"""Mfa servicer: TOTP enrolment, confirmation, recovery codes, and workspace MFA policy."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from modelfleet.agent.hub import validation
from modelfleet.agent.hub.access.principal import Call, current_call
from modelfleet.agent.hub.access.recording import record
from modelfleet.agent.hub.db.security_models import RecoveryCode, UserMfa, WorkspaceSecurity
from modelfleet.agent.hub.errors import Context, FailedPrecondition, HubError, InvalidArgument
from modelfleet.agent.hub.mfa import factors, totp
from modelfleet.agent.hub.mfa.policy import MfaGuard
from modelfleet.agent.hub.secrets import SecretBox
from modelfleet.agent.hub.state import HubState
from modelfleet.proto.v1 import auth_pb2, auth_pb2_grpc

_CODE = "the current 6-digit code from your authenticator app"


class MfaServicer(auth_pb2_grpc.MfaServicer):
    def __init__(self, hub: HubState, guard: MfaGuard) -> None:
        self._hub = hub
        self._guard = guard

    def _box(self) -> SecretBox:
        if self._hub.secrets is None:
            raise HubError("the hub's secrets keyring is not loaded")
        return self._hub.secrets

    async def GetMfaStatus(
        self, request: auth_pb2.GetMfaStatusRequest, context: Context
    ) -> auth_pb2.MfaStatus:
        me = current_call().user
        return await self._hub.db.read(lambda s: _status(s, me.user_id, me.session_id))

    async def EnrollTotp(
        self, request: auth_pb2.EnrollTotpRequest, context: Context
    ) -> auth_pb2.EnrollTotpResponse:
        call = current_call()
        me = call.user
        call.target = f"user:{me.username}"
        seed = totp.new_seed()
        sealed = self._box().seal(seed, factors.seed_context(me.user_id))

        def enrol(s: Session) -> None:
            if factors.active_totp(s, me.user_id) is not None:
                raise FailedPrecondition("TOTP is already on for this account; disable it first")
            s.merge(UserMfa(user_id=me.user_id, totp_seed_sealed=sealed, last_step=0))
            record(s, call, details={"totp": "enrolment started"})

        await self._hub.db.write(enrol)
        return auth_pb2.EnrollTotpResponse(
            otpauth_uri=totp.otpauth_uri(seed, me.username), secret=seed
        )

    async def ConfirmTotp(
        self, request: auth_pb2.ConfirmTotpRequest, context: Context
    ) -> auth_pb2.RecoveryCodes:
        call = current_call()
        me = call.user
        call.target = f"user:{me.username}"
        code = validation.required("code", request.code.strip(), _CODE)
        keys = self._throttle_keys(call)
        box = self._box()

        def confirm(s: Session) -> list[str] | None:
            row = s.get(UserMfa, me.user_id)
            if row is None or row.confirmed_at is not None:
                raise FailedPrecondition(
                    "no TOTP enrolment waiting for confirmation: run EnrollTotp first"
                )
            seed = box.open(row.totp_seed_sealed, factors.seed_context(me.user_id))
            step = totp.matching_step(seed, code)
            if step is None:
                return None
            row.confirmed_at = datetime.now(UTC)
            row.last_step = step
            codes = factors.new_recovery_codes(s, me.user_id)
            if me.session_id:
                # This session has just shown the second factor.
                current = factors.session_factors(s, me.session_id)
                amr = current.amr.split() if current is not None else ["pwd"]
                factors.record_session(s, me.session_id, me.user_id, [*amr, "otp"])
            record(s, call, details={"totp": "on"})
            return codes

        codes = await self._hub.db.write(confirm)
        if codes is None:
            await self._refuse(call, keys, "wrong code")
        self._hub.throttle.succeeded(keys[0])
        self._guard.session_changed(me.session_id)
        return auth_pb2.RecoveryCodes(codes=codes)

    async def DisableTotp(
        self, request: auth_pb2.DisableTotpRequest, context: Context
    ) -> auth_pb2.MfaStatus:
        call = current_call()
        me = call.user

        def disable(s: Session) -> str:
            row = self._active(s, me.user_id)
            result = factors.check_code(s, self._box(), row, request.code)
            if result.failure:
                return result.failure
            s.execute(delete(RecoveryCode).where(RecoveryCode.user_id == me.user_id))
            s.delete(row)
            record(s, call, details={"totp": "off"})
            return ""

        await self._checked(call, request.code, disable)
        return await self._hub.db.read(lambda s: _status(s, me.user_id, me.session_id))

    async def RegenerateRecoveryCodes(
        self, request: auth_pb2.RegenerateRecoveryCodesRequest, context: Context
    ) -> auth_pb2.RecoveryCodes:
        call = current_call()
        me = call.user
        codes: list[str] = []

        def regenerate(s: Session) -> str:
            row = self._active(s, me.user_id)
            result = factors.check_code(s, self._box(), row, request.code)
            if result.failure:
                return result.failure
            codes.extend(factors.new_recovery_codes(s, me.user_id))
            record(s, call, details={"recovery_codes": len(codes)})
            return ""

        await self._checked(call, request.code, regenerate)
        return auth_pb2.RecoveryCodes(codes=codes)

    async def SetWorkspaceMfaPolicy(
        self, request: auth_pb2.SetWorkspaceMfaPolicyRequest, context: Context
    ) -> auth_pb2.WorkspaceMfaPolicy:
        call = current_call()
        me, ws = call.user, call.ws
        call.target = f"workspace:{ws.name}"

        def set_policy(s: Session) -> None:
            if request.mfa_required and me.kind == "user":
                current = factors.session_factors(s, me.session_id)
                if current is None or not current.mfa:
                    raise FailedPrecondition(
                        "sign in with a second factor yourself before requiring one "
                        "(`modelfleet mfa enroll`, then sign in again)"
                    )
            s.merge(
                WorkspaceSecurity(
                    workspace_id=ws.id,
                    mfa_required=request.mfa_required,
                    updated_at=datetime.now(UTC),
                )
            )
            record(s, call, details={"mfa_required": request.mfa_required})

        await self._hub.db.write(set_policy)
        self._guard.workspace_changed(ws.id)
        return auth_pb2.WorkspaceMfaPolicy(workspace_id=ws.id, mfa_required=request.mfa_required)

    async def GetWorkspaceMfaPolicy(
        self, request: auth_pb2.GetWorkspaceMfaPolicyRequest, context: Context
    ) -> auth_pb2.WorkspaceMfaPolicy:
        ws = current_call().ws
        row = await self._hub.db.read(lambda s: s.get(WorkspaceSecurity, ws.id))
        return auth_pb2.WorkspaceMfaPolicy(
            workspace_id=ws.id, mfa_required=bool(row and row.mfa_required)
        )

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _active(s: Session, user_id: str) -> UserMfa:
        row = factors.active_totp(s, user_id)
        if row is None:
            raise FailedPrecondition("TOTP is not on for this account")
        return row

    def _throttle_keys(self, call: Call) -> tuple[str, str]:
        keys = self._hub.throttle.keys(f"mfa:{call.user.username}", call.peer)
        self._hub.throttle.check(keys)
        return keys

    async def _checked(self, call: Call, code: str, work: Callable[[Session], str]) -> None:
        """Run `work` (which checks `code` first); refuse and count a wrong code."""
        call.target = f"user:{call.user.username}"
        validation.required("code", code.strip(), _CODE)
        keys = self._throttle_keys(call)
        failure = await self._hub.db.write(work)
        if failure:
            await self._refuse(call, keys, failure)
        self._hub.throttle.succeeded(keys[0])

    async def _refuse(self, call: Call, keys: tuple[str, str], reason: str) -> None:
        self._hub.throttle.failed(keys)
        await self._hub.db.write(
            lambda s: record(s, call, outcome="denied", details={"reason": reason})
        )
        # A beat before answering, so guessing codes is slow even below the throttle.
        await asyncio.sleep(0.2)
        raise InvalidArgument("code", f"{_CODE} or an unused recovery code ({reason})")


def _status(s: Session, user_id: str, session_id: str) -> auth_pb2.MfaStatus:
    row = s.get(UserMfa, user_id)
    current = factors.session_factors(s, session_id)
    return auth_pb2.MfaStatus(
        totp_enabled=bool(row and row.confirmed_at is not None),
        totp_pending=bool(row and row.confirmed_at is None),
        recovery_codes_left=factors.recovery_codes_left(s, user_id),
        session_amr=current.amr.split() if current else [],
        session_mfa=bool(current and current.mfa),
    )
