"""Sign-in, access-token expiry, refresh rotation and reuse detection, throttling, API keys."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf.timestamp_pb2 import Timestamp

from modelfleet.agent.hub.settings import HubSettings
from modelfleet.proto.v1 import auth_pb2, workspaces_pb2
from modelfleet.tokens import AccessClaims, TokenError, TokenSigner, TokenVerifier, key_id
from tests.hub.conftest import ADMIN, DEVELOPER, TEST_SETTINGS, VIEWER, Hub, start_hub


def _code(fn: object, *args: object, **kwargs: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        fn(*args, **kwargs)  # type: ignore[operator]
    return err.value


def _claims(**overrides: object) -> AccessClaims:
    now = time.time()
    values: dict[str, object] = {
        "subject": "u1",
        "kind": "user",
        "name": "ann",
        "system_admin": False,
        "workspaces": {"w1": 2},
        "session_id": "s1",
        "issued_at": now,
        "expires_at": now + 60,
    }
    values.update(overrides)
    return AccessClaims(**values)  # type: ignore[arg-type]


def test_tokens_verify_expire_and_reject_foreign_keys() -> None:
    key = Ed25519PrivateKey.generate()
    verifier = TokenVerifier({key_id(key.public_key()): key.public_key()})
    token = TokenSigner(key).sign(_claims())
    assert verifier.verify(token).workspaces == {"w1": 2}
    # Cached, yet still expires.
    with pytest.raises(TokenError, match="expired"):
        verifier.verify(token, now=time.time() + 120)
    expired = TokenSigner(key).sign(_claims(expires_at=time.time() - 1))
    with pytest.raises(TokenError, match="expired"):
        verifier.verify(expired)
    stranger = TokenSigner(Ed25519PrivateKey.generate()).sign(_claims())
    with pytest.raises(TokenError, match="unknown key"):
        verifier.verify(stranger)
    head, payload, sig = token.split(".")
    with pytest.raises(TokenError):
        verifier.verify(f"{head}.{payload}.{sig[:-4]}AAAA")
    for garbage in ("", "abc", "a.b.c", token + "x"):
        with pytest.raises(TokenError):
            verifier.verify(garbage)


def test_malformed_and_expired_tokens_are_unauthenticated(hub_db_url: str, tmp_path: Path) -> None:
    settings = dataclasses.replace(TEST_SETTINGS, access_token_ttl=1.0)
    server, hub = start_hub(tmp_path / "hub", hub_db_url, settings)
    try:
        token = hub.login().access_token
        who = hub.auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=hub.md(token))
        assert who.username == "admin"
        time.sleep(1.2)
        err = _code(hub.auth.WhoAmI, auth_pb2.WhoAmIRequest(), metadata=hub.md(token))
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "expired" in (err.details() or "")
        for bad in (
            [("authorization", "Bearer not-a-token")],
            [("authorization", "Basic YWRtaW46eA==")],
            [("authorization", "Bearer mfk_0123456789_nope")],
            [("authorization", "Bearer mfk_short")],
        ):
            err = _code(hub.auth.WhoAmI, auth_pb2.WhoAmIRequest(), metadata=bad)
            assert err.code() == grpc.StatusCode.UNAUTHENTICATED, bad
    finally:
        hub.channel.close()
        server.stop()
        hub.state.db.dispose()


def test_refresh_rotates_and_reuse_revokes_the_family(hub: Hub) -> None:
    first = hub.login()
    second = hub.auth.Refresh(auth_pb2.RefreshRequest(refresh_token=first.refresh_token))
    assert second.refresh_token != first.refresh_token
    third = hub.auth.Refresh(auth_pb2.RefreshRequest(refresh_token=second.refresh_token))
    # Replaying a spent token: refused, and the whole family (including `third`) dies.
    err = _code(hub.auth.Refresh, auth_pb2.RefreshRequest(refresh_token=first.refresh_token))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED and "reused" in (err.details() or "")
    err = _code(hub.auth.Refresh, auth_pb2.RefreshRequest(refresh_token=third.refresh_token))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    # The family's access token stops working on this replica at once.
    err = _code(hub.auth.WhoAmI, auth_pb2.WhoAmIRequest(), metadata=hub.md(third.access_token))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    # Another sign-in (another family) is unaffected.
    other = hub.login()
    hub.auth.Refresh(auth_pb2.RefreshRequest(refresh_token=other.refresh_token))
    assert hub.audit_count(action="Auth.Refresh", outcome="denied") == 2


def test_logout_and_password_change_end_sessions(hub: Hub) -> None:
    hub.add_user("ann", "password-123")
    one = hub.login("ann", "password-123")
    two = hub.login("ann", "password-123")
    hub.auth.Logout(auth_pb2.LogoutRequest(refresh_token=one.refresh_token))
    err = _code(hub.auth.Refresh, auth_pb2.RefreshRequest(refresh_token=one.refresh_token))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    wrong = _code(
        hub.auth.ChangePassword,
        auth_pb2.ChangePasswordRequest(current_password="nope-nope", new_password="new-pass-456"),
        metadata=hub.md(two.access_token),
    )
    assert wrong.code() == grpc.StatusCode.PERMISSION_DENIED
    three = hub.login("ann", "password-123")
    hub.auth.ChangePassword(
        auth_pb2.ChangePasswordRequest(
            current_password="password-123", new_password="new-pass-456"
        ),
        metadata=hub.md(three.access_token),
    )
    # Other sessions end; the one that changed the password goes on.
    err = _code(hub.auth.Refresh, auth_pb2.RefreshRequest(refresh_token=two.refresh_token))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    hub.auth.Refresh(auth_pb2.RefreshRequest(refresh_token=three.refresh_token))
    assert _code(hub.login, "ann", "password-123").code() == grpc.StatusCode.UNAUTHENTICATED
    assert hub.login("ann", "new-pass-456").principal.username == "ann"


def test_login_throttling_backs_off_without_revealing_users(hub: Hub) -> None:
    for username in ("admin", "ghost"):
        codes = []
        for _ in range(4):
            codes.append(_code(hub.login, username, "wrong-password").code())
        assert codes[:3] == [grpc.StatusCode.UNAUTHENTICATED] * 3
        throttled = _code(hub.login, username, "wrong-password")
        assert throttled.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        retry = dict(throttled.trailing_metadata() or ())["retry-after"]
        assert int(retry) >= 1
        # Even the right password waits: the throttle answers before checking it.
        if username == "admin":
            assert _code(hub.login).code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        hub.state.throttle._entries.clear()  # the test's stand-in for waiting it out
    assert hub.login().principal.username == "admin"


def test_throttle_doubles_per_failure_and_covers_the_address() -> None:
    from modelfleet.agent.hub.access.throttle import LoginThrottle
    from modelfleet.agent.hub.errors import Throttled

    throttle = LoginThrottle(HubSettings(throttle_free_attempts=2, throttle_base_delay=1.0))
    keys = throttle.keys("ann", "ipv4:10.0.0.1:5000")
    waits = []
    for _ in range(6):
        throttle.failed(keys, now=100.0)
        try:
            throttle.check(keys, now=100.0)
            waits.append(0)
        except Throttled as exc:
            waits.append(exc.retry_after)
    assert waits == [0, 1, 2, 4, 8, 16]
    # Another username from the same address is held back too; success clears the user only.
    with pytest.raises(Throttled):
        throttle.check(throttle.keys("bob", "ipv4:10.0.0.1:6000"), now=100.0)
    throttle.succeeded(keys[0])
    with pytest.raises(Throttled):
        throttle.check(keys, now=100.0)
    throttle.check(keys, now=100.0 + 17)


def test_api_keys_scope_role_expiry_and_revocation(hub: Hub) -> None:
    hub.add_workspace("team")
    hub.add_user("dev", "password-123")
    hub.set_member("team", "dev", DEVELOPER)
    dev = hub.token("dev", "password-123")
    err = _code(
        hub.api_keys.CreateApiKey,
        auth_pb2.CreateApiKeyRequest(name="too-strong", role=ADMIN),
        metadata=hub.md(dev, "team"),
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    past = Timestamp(seconds=int(time.time()) - 10)
    err = _code(
        hub.api_keys.CreateApiKey,
        auth_pb2.CreateApiKeyRequest(name="old", role=VIEWER, expires_at=past),
        metadata=hub.md(dev, "team"),
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "expires_at" in (err.details() or "")
    created = hub.api_keys.CreateApiKey(
        auth_pb2.CreateApiKeyRequest(name="ci", role=VIEWER), metadata=hub.md(dev, "team")
    )
    assert created.secret.startswith(created.key.prefix + "_")
    who = hub.auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=hub.md(created.secret))
    assert who.kind == "api_key" and who.api_key_id == created.key.id
    assert [(m.workspace_name, m.role) for m in who.memberships] == [("team", VIEWER)]
    # The key is a viewer: reads pass, admin writes do not; other workspaces are closed.
    hub.workspaces.ListMembers(
        workspaces_pb2.ListMembersRequest(), metadata=hub.md(created.secret, "team")
    )
    err = _code(
        hub.workspaces.RenameWorkspace,
        workspaces_pb2.RenameWorkspaceRequest(new_name="x"),
        metadata=hub.md(created.secret, "team"),
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    err = _code(
        hub.workspaces.GetWorkspace,
        workspaces_pb2.GetWorkspaceRequest(),
        metadata=hub.md(created.secret, "default"),
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    listed = hub.api_keys.ListApiKeys(auth_pb2.ListApiKeysRequest(), metadata=hub.md(dev, "team"))
    assert [k.id for k in listed.keys] == [created.key.id]
    assert listed.keys[0].last_used_at.seconds > 0
    assert all(created.secret not in str(k) for k in listed.keys)
    # A foreign id answers like a missing one.
    err = _code(
        hub.api_keys.RevokeApiKey,
        auth_pb2.RevokeApiKeyRequest(id=created.key.id),
        metadata=hub.admin_md("default"),
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND
    hub.api_keys.RevokeApiKey(
        auth_pb2.RevokeApiKeyRequest(id=created.key.id), metadata=hub.md(dev, "team")
    )
    err = _code(hub.auth.WhoAmI, auth_pb2.WhoAmIRequest(), metadata=hub.md(created.secret))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED and "revoked" in (err.details() or "")


def test_role_changes_apply_at_once_on_this_replica(hub: Hub) -> None:
    hub.add_workspace("team")
    hub.add_user("ann", "password-123")
    ann = hub.token("ann", "password-123")
    # Joined after her token was issued: admitted through the membership lookup.
    hub.set_member("team", "ann", VIEWER)
    hub.workspaces.GetWorkspace(workspaces_pb2.GetWorkspaceRequest(), metadata=hub.md(ann, "team"))
    hub.workspaces.RemoveMember(
        workspaces_pb2.RemoveMemberRequest(user="ann"), metadata=hub.admin_md("team")
    )
    err = _code(
        hub.workspaces.GetWorkspace,
        workspaces_pb2.GetWorkspaceRequest(),
        metadata=hub.md(ann, "team"),
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    hub.users.SetUserDisabled(
        workspaces_pb2.SetUserDisabledRequest(user="ann", disabled=True), metadata=hub.admin_md()
    )
    err = _code(hub.auth.WhoAmI, auth_pb2.WhoAmIRequest(), metadata=hub.md(ann))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert _code(hub.login, "ann", "password-123").code() == grpc.StatusCode.UNAUTHENTICATED
