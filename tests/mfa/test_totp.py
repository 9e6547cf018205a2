"""TOTP (RFC 6238) sign-in, replay refusal, recovery codes, and the workspace MFA policy."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from sqlalchemy import select

from modelfleet.agent.hub.db.security_models import UserMfa
from modelfleet.agent.hub.mfa import totp
from modelfleet.agent.hub.mfa.factors import seed_context
from modelfleet.proto.v1 import auth_pb2, auth_pb2_grpc, workspaces_pb2
from tests.hub.conftest import TEST_SETTINGS, VIEWER, Hub, start_hub

SETTINGS = dataclasses.replace(TEST_SETTINGS, throttle_free_attempts=100)
PASSWORD = "password-123"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    data: Path = tmp_path_factory.mktemp("hub")
    server, handle = start_hub(data / "hub", f"sqlite:///{data / 'hub.db'}", SETTINGS)
    try:
        yield handle
    finally:
        handle.channel.close()
        server.stop()
        handle.state.db.dispose()


def mfa(hub: Hub) -> auth_pb2_grpc.MfaStub:
    return auth_pb2_grpc.MfaStub(hub.channel)


def login(hub: Hub, user: str, code: str = "") -> auth_pb2.TokenPair:
    return hub.auth.Login(auth_pb2.LoginRequest(username=user, password=PASSWORD, totp_code=code))


def refused(call: object, code: grpc.StatusCode, text: str) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()  # type: ignore[operator]
    assert caught.value.code() == code, caught.value.details()
    assert text in (caught.value.details() or ""), caught.value.details()
    return caught.value


def enrol(hub: Hub, user: str) -> tuple[str, list[str], str]:
    """TOTP on for `user`: (seed, recovery codes, an access token of an MFA session)."""
    token = login(hub, user).access_token
    started = mfa(hub).EnrollTotp(auth_pb2.EnrollTotpRequest(), metadata=hub.md(token))
    assert started.otpauth_uri.startswith(f"otpauth://totp/modelfleet:{user}?secret=")
    step = totp.current_step()
    codes = mfa(hub).ConfirmTotp(
        auth_pb2.ConfirmTotpRequest(code=totp.code_at(started.secret, step - 1)),
        metadata=hub.md(token),
    )
    return started.secret, list(codes.codes), token


def test_rfc6238_vectors() -> None:
    seed = base64.b32encode(b"12345678901234567890").decode()
    # RFC 6238 appendix B (SHA-1), last six of the eight digits.
    assert totp.code_at(seed, 59 // 30) == "287082"
    assert totp.code_at(seed, 1111111109 // 30) == "081804"
    assert totp.code_at(seed, 20000000000 // 30) == "353130"
    assert totp.matching_step(seed, "081804", now=1111111109 + 30) == 1111111109 // 30
    assert totp.matching_step(seed, "081804", now=1111111109 + 61) is None


def test_login_needs_the_code_and_each_code_works_once(hub: Hub) -> None:
    hub.add_user("tina", PASSWORD)
    seed, codes, _ = enrol(hub, "tina")
    assert len(codes) == 10 and len(set(codes)) == 10
    error = refused(lambda: login(hub, "tina"), grpc.StatusCode.UNAUTHENTICATED, "totp_code")
    assert ("x-modelfleet-mfa", "totp") in tuple(error.trailing_metadata() or ())  # type: ignore[attr-defined]
    refused(lambda: login(hub, "tina", "000000"), grpc.StatusCode.UNAUTHENTICATED, "totp_code")
    # The confirmation spent the previous step's code: replaying it is refused.
    step = totp.current_step()
    refused(
        lambda: login(hub, "tina", totp.code_at(seed, step - 1)),
        grpc.StatusCode.UNAUTHENTICATED,
        "already used",
    )
    pair = login(hub, "tina", totp.code_at(seed, step + 1))
    refused(
        lambda: login(hub, "tina", totp.code_at(seed, step + 1)),
        grpc.StatusCode.UNAUTHENTICATED,
        "already used",
    )
    status = mfa(hub).GetMfaStatus(
        auth_pb2.GetMfaStatusRequest(), metadata=hub.md(pair.access_token)
    )
    assert status.totp_enabled and status.session_mfa and list(status.session_amr) == ["pwd", "otp"]
    # A recovery code signs in once.
    login(hub, "tina", codes[0])
    refused(lambda: login(hub, "tina", codes[0]), grpc.StatusCode.UNAUTHENTICATED, "totp_code")
    status = mfa(hub).GetMfaStatus(
        auth_pb2.GetMfaStatusRequest(), metadata=hub.md(pair.access_token)
    )
    assert status.recovery_codes_left == 9
    assert hub.audit_count(action="Auth.Login", outcome="denied") >= 4


def test_seed_is_sealed_at_rest_and_returned_only_at_enrolment(hub: Hub) -> None:
    user_id = hub.add_user("umberto", PASSWORD)
    seed, codes, token = enrol(hub, "umberto")
    with hub.engine.connect() as conn:
        sealed = conn.execute(
            select(UserMfa.totp_seed_sealed).where(UserMfa.user_id == user_id)
        ).scalar_one()
        dump = "\n".join(str(tuple(r)) for r in conn.exec_driver_sql("SELECT * FROM user_mfa"))
        recovery = "\n".join(
            str(tuple(r)) for r in conn.exec_driver_sql("SELECT * FROM mfa_recovery_codes")
        )
        audit = "\n".join(str(tuple(r)) for r in conn.exec_driver_sql("SELECT * FROM audit_events"))
    assert seed.encode() not in sealed and seed not in dump and seed not in audit
    assert not any(c in recovery or c.replace("-", "") in recovery for c in codes)
    assert hub.state.secrets is not None
    assert hub.state.secrets.open(sealed, seed_context(user_id)) == seed
    status = mfa(hub).GetMfaStatus(auth_pb2.GetMfaStatusRequest(), metadata=hub.md(token))
    assert seed.encode() not in status.SerializeToString()


def test_disable_needs_a_code(hub: Hub) -> None:
    hub.add_user("victor", PASSWORD)
    _, codes, token = enrol(hub, "victor")
    refused(
        lambda: mfa(hub).DisableTotp(
            auth_pb2.DisableTotpRequest(code="123"), metadata=hub.md(token)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "code",
    )
    done = mfa(hub).DisableTotp(auth_pb2.DisableTotpRequest(code=codes[1]), metadata=hub.md(token))
    assert not done.totp_enabled and done.recovery_codes_left == 0
    assert login(hub, "victor").access_token


def test_mfa_required_workspace_refuses_members_without_mfa(hub: Hub) -> None:
    hub.add_user("wendy", PASSWORD)
    hub.add_user("xavier", PASSWORD)
    plain = login(hub, "wendy").access_token
    hub.add_workspace("secure", plain)
    hub.workspaces.SetMember(
        workspaces_pb2.SetMemberRequest(user="xavier", role=VIEWER),
        metadata=hub.md(plain, "secure"),
    )
    policy = auth_pb2.SetWorkspaceMfaPolicyRequest(mfa_required=True)
    # Requiring MFA from a one-factor session would lock its own admin out.
    refused(
        lambda: mfa(hub).SetWorkspaceMfaPolicy(policy, metadata=hub.md(plain, "secure")),
        grpc.StatusCode.FAILED_PRECONDITION,
        "second factor yourself",
    )
    _, _, strong = enrol(hub, "wendy")
    mfa(hub).SetWorkspaceMfaPolicy(policy, metadata=hub.md(strong, "secure"))
    xavier = login(hub, "xavier").access_token
    get = workspaces_pb2.GetWorkspaceRequest()
    denied = hub.audit_count(outcome="denied")
    refused(
        lambda: hub.workspaces.GetWorkspace(get, metadata=hub.md(xavier, "secure")),
        grpc.StatusCode.FAILED_PRECONDITION,
        "workspace 'secure' requires multi-factor authentication",
    )
    assert hub.audit_count(outcome="denied") == denied + 1
    # Enrolment is not workspace-scoped, so the member can fix it; this session then counts.
    mfa(hub).EnrollTotp(auth_pb2.EnrollTotpRequest(), metadata=hub.md(xavier))
    row_seed = _seed(hub, "xavier")
    mfa(hub).ConfirmTotp(
        auth_pb2.ConfirmTotpRequest(code=totp.code_at(row_seed, totp.current_step())),
        metadata=hub.md(xavier),
    )
    assert hub.workspaces.GetWorkspace(get, metadata=hub.md(xavier, "secure")).name == "secure"


def _seed(hub: Hub, username: str) -> str:
    from modelfleet.agent.hub.db import User

    with hub.engine.connect() as conn:
        user_id = conn.execute(select(User.id).where(User.username == username)).scalar_one()
        sealed = conn.execute(
            select(UserMfa.totp_seed_sealed).where(UserMfa.user_id == user_id)
        ).scalar_one()
    assert hub.state.secrets is not None
    return hub.state.secrets.open(sealed, seed_context(user_id))
