"""SSO sign-in through a real OpenID provider: end to end, accounts, roles, and every refusal."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import grpc
import pytest
from sqlalchemy import func, select

from modelfleet.agent.hub.db import AuditEvent, User
from modelfleet.proto.v1 import auth_pb2, common_pb2
from tests.hub.conftest import Hub
from tests.sso.browser import approve_device
from tests.sso.conftest import (
    OidcProvider,
    Redirect,
    add_provider,
    browser_step,
    complete,
    sso_stub,
)


def _users(hub: Hub, **where: str) -> int:
    query = select(func.count()).select_from(User)
    for column, value in where.items():
        query = query.where(getattr(User, column) == value)
    with hub.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def _refused(call: object, code: grpc.StatusCode, text: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        call()  # type: ignore[operator]
    assert caught.value.code() == code, caught.value.details()
    assert text in (caught.value.details() or ""), caught.value.details()


def test_sign_in_end_to_end_within_two_seconds(sso_hub: Hub, oidc_provider: OidcProvider) -> None:
    add_provider(sso_hub, oidc_provider, "corp")
    oidc_provider.set_account("alice-1", "alice@example.com", amr=["pwd", "mfa"])
    begin = time.perf_counter()
    redirect = browser_step(sso_hub, "corp")
    assert redirect.state == redirect.started_state
    pair = complete(sso_hub, redirect)
    elapsed = time.perf_counter() - begin
    print(f"SSO sign-in end to end (cold caches): {elapsed * 1000:.0f} ms")
    assert elapsed <= 2.0
    assert pair.principal.username == "alice"
    assert pair.refresh_token.startswith("mfr_")
    me = sso_hub.auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=sso_hub.md(pair.access_token))
    assert me.username == "alice"
    with sso_hub.engine.connect() as conn:
        row = conn.execute(
            select(AuditEvent.details_json, AuditEvent.outcome)
            .where(AuditEvent.action == "Sso.CompleteSsoLogin")
            .order_by(AuditEvent.seq.desc())
        ).first()
    assert row is not None and row.outcome == "ok"
    assert '"amr":["pwd","mfa"]' in row.details_json and '"created":true' in row.details_json
    # The same person again: the linked identity, no second account.
    again = complete(sso_hub, browser_step(sso_hub, "corp"))
    assert again.principal.user_id == pair.principal.user_id
    assert _users(sso_hub, email="alice@example.com") == 1
    # The hub's refresh works for SSO sessions exactly as for password ones.
    sso_hub.auth.Refresh(auth_pb2.RefreshRequest(refresh_token=again.refresh_token))


def test_listing_is_public_and_shows_no_settings(sso_hub: Hub, oidc_provider: OidcProvider) -> None:
    add_provider(sso_hub, oidc_provider, "listed", display_name="Listed IdP")
    listed = sso_stub(sso_hub).ListSsoProviders(auth_pb2.ListSsoProvidersRequest())
    mine = [p for p in listed.providers if p.name == "listed"]
    assert [(p.display_name, p.preset) for p in mine] == [("Listed IdP", "")]


def test_without_jit_only_existing_accounts_sign_in(
    sso_hub: Hub, oidc_provider: OidcProvider
) -> None:
    add_provider(sso_hub, oidc_provider, "nojit", jit_user_creation=False)
    oidc_provider.set_account("carol-1", "carol@example.com")
    before = _users(sso_hub)
    redirect = browser_step(sso_hub, "nojit")
    _refused(
        lambda: complete(sso_hub, redirect),
        grpc.StatusCode.PERMISSION_DENIED,
        "does not create accounts on first sign-in",
    )
    assert _users(sso_hub) == before
    # An admin creates the account; the verified e-mail links it.
    from modelfleet.proto.v1 import workspaces_pb2

    sso_hub.users.CreateUser(
        workspaces_pb2.CreateUserRequest(
            username="carol", email="carol@example.com", password="password-123"
        ),
        metadata=sso_hub.admin_md(),
    )
    pair = complete(sso_hub, browser_step(sso_hub, "nojit"))
    assert pair.principal.username == "carol"


def test_allowed_domains(sso_hub: Hub, oidc_provider: OidcProvider) -> None:
    add_provider(sso_hub, oidc_provider, "domains", allowed_domains=["example.com"])
    oidc_provider.set_account("mallory-1", "mallory@evil.test")
    redirect = browser_step(sso_hub, "domains")
    _refused(
        lambda: complete(sso_hub, redirect),
        grpc.StatusCode.PERMISSION_DENIED,
        "e-mail domain 'evil.test' is not allowed",
    )
    # An unverified address of the right domain does not pass either.
    oidc_provider.set_account("mallory-2", "mallory@example.com", email_verified=False)
    redirect = browser_step(sso_hub, "domains")
    _refused(
        lambda: complete(sso_hub, redirect), grpc.StatusCode.PERMISSION_DENIED, "verified e-mail"
    )
    assert _users(sso_hub, email="mallory@example.com") == 0
    oidc_provider.set_account("dave-1", "dave@example.com")
    assert complete(sso_hub, browser_step(sso_hub, "domains")).principal.username == "dave"


def test_claim_to_role_mapping(sso_hub: Hub, oidc_provider: OidcProvider) -> None:
    sso_hub.add_workspace("team-a")
    sso_hub.add_workspace("team-b")
    rules = [
        auth_pb2.SsoRoleMapping(
            claim="groups", value="ml-devs", workspace="team-a", role=common_pb2.DEVELOPER
        ),
        auth_pb2.SsoRoleMapping(
            claim="groups", value="ml-admins", workspace="team-a", role=common_pb2.ADMIN
        ),
        auth_pb2.SsoRoleMapping(
            claim="groups", value="readers", workspace="team-b", role=common_pb2.VIEWER
        ),
    ]
    add_provider(sso_hub, oidc_provider, "mapped", role_mappings=rules)
    oidc_provider.set_account("erin-1", "erin@example.com", groups=["ml-devs", "ml-admins"])
    pair = complete(sso_hub, browser_step(sso_hub, "mapped"))
    roles = {m.workspace_name: m.role for m in pair.principal.memberships}
    assert roles == {"team-a": common_pb2.ADMIN}
    # Group membership changed at the provider: the next sign-in follows it.
    oidc_provider.set_account("erin-1", "erin@example.com", groups=["ml-devs", "readers"])
    pair = complete(sso_hub, browser_step(sso_hub, "mapped"))
    roles = {m.workspace_name: m.role for m in pair.principal.memberships}
    assert roles == {"team-a": common_pb2.DEVELOPER, "team-b": common_pb2.VIEWER}


def test_state_verifier_and_redirect_checks(sso_hub: Hub, oidc_provider: OidcProvider) -> None:
    add_provider(sso_hub, oidc_provider, "checks")
    oidc_provider.set_account("frank-1", "frank@example.com")
    r = browser_step(sso_hub, "checks")
    forged = Redirect(r.code, "forged-state", r.verifier, r.redirect_uri, r.started_state)
    _refused(lambda: complete(sso_hub, forged), grpc.StatusCode.UNAUTHENTICATED, "state")
    wrong_uri = Redirect(r.code, r.state, r.verifier, "http://127.0.0.1:1/callback", r.state)
    _refused(lambda: complete(sso_hub, wrong_uri), grpc.StatusCode.PERMISSION_DENIED, "redirect")
    # The state is spent by the refused attempt: a sign-in completes at most once.
    _refused(lambda: complete(sso_hub, r), grpc.StatusCode.UNAUTHENTICATED, "already completed")
    r2 = browser_step(sso_hub, "checks")
    wrong_verifier = Redirect(r2.code, r2.state, "x" * 50, r2.redirect_uri, r2.state)
    _refused(
        lambda: complete(sso_hub, wrong_verifier),
        grpc.StatusCode.PERMISSION_DENIED,
        "code_verifier",
    )
    denied = sso_hub.audit_count(action="Sso.CompleteSsoLogin", outcome="denied")
    assert denied >= 3


def test_nonce_mismatch_is_refused(sso_hub: Hub, oidc_provider: OidcProvider) -> None:
    add_provider(sso_hub, oidc_provider, "nonce")
    oidc_provider.set_account("gina-1", "gina@example.com")

    def other_nonce(url: str) -> str:
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        query["nonce"] = "a-nonce-the-hub-never-issued"
        return urlunsplit(parts._replace(query=urlencode(query)))

    r = browser_step(sso_hub, "nonce", tamper=other_nonce)
    _refused(lambda: complete(sso_hub, r), grpc.StatusCode.PERMISSION_DENIED, "nonce")
    assert _users(sso_hub, email="gina@example.com") == 0


def test_bad_provider_settings_are_refused(sso_hub: Hub, oidc_provider: OidcProvider) -> None:
    cases = [
        ("bad", {"issuer": "ftp://idp"}, "spec.issuer"),
        ("bad", {"preset": "facebook"}, "spec.preset"),
        ("bad", {"preset": "microsoft", "issuer": "", "tenant": "common"}, "spec.tenant"),
        ("bad", {"allowed_domains": ["not a domain"]}, "spec.allowed_domains[0]"),
        ("bad", {"scopes": "email"}, "spec.scopes"),
        ("bad", {"client_id": ""}, "spec.client_id"),
        ("Bad Name", {}, "spec.name"),
    ]
    before = sso_stub(sso_hub).ListSsoProviders(auth_pb2.ListSsoProvidersRequest())
    for name, overrides, field in cases:
        with pytest.raises(grpc.RpcError) as caught:
            add_provider(sso_hub, oidc_provider, name, **overrides)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (caught.value.details() or "").startswith(field), caught.value.details()
    after = sso_stub(sso_hub).ListSsoProviders(auth_pb2.ListSsoProvidersRequest())
    assert after == before
    presets = add_provider(
        sso_hub, oidc_provider, "entra", preset="microsoft", issuer="", tenant="contoso.com"
    )
    assert presets.spec.issuer == "https://login.microsoftonline.com/contoso.com/v2.0"


def test_device_flow(sso_hub: Hub, oidc_provider: OidcProvider) -> None:
    add_provider(sso_hub, oidc_provider, "device")
    oidc_provider.set_account("hank-1", "hank@example.com")
    stub = sso_stub(sso_hub)
    started = stub.StartDeviceLogin(auth_pb2.StartDeviceLoginRequest(provider="device"))
    assert started.user_code and started.verification_uri.startswith(oidc_provider.issuer)
    poll = auth_pb2.PollDeviceLoginRequest(device_login_id=started.device_login_id)
    assert stub.PollDeviceLogin(poll).status == auth_pb2.DEVICE_LOGIN_PENDING
    # Polling faster than the interval is answered by the hub, not passed on.
    assert stub.PollDeviceLogin(poll).status == auth_pb2.DEVICE_LOGIN_SLOW_DOWN
    assert "Sign-in Success" in approve_device(started.verification_uri_complete)
    time.sleep(started.interval_seconds)
    done = stub.PollDeviceLogin(poll)
    assert done.status == auth_pb2.DEVICE_LOGIN_COMPLETE
    assert done.tokens.principal.username == "hank"
    _refused(lambda: stub.PollDeviceLogin(poll), grpc.StatusCode.UNAUTHENTICATED, "already")


def test_client_secret_is_write_only_and_sealed(sso_hub: Hub, oidc_provider: OidcProvider) -> None:
    from modelfleet.agent.hub.db.security_models import SsoProviderRow

    secret = oidc_provider.client_secret.encode()
    created = add_provider(sso_hub, oidc_provider, "sealed")
    stub = sso_stub(sso_hub)
    got = stub.GetSsoProvider(
        auth_pb2.GetSsoProviderRequest(provider="sealed"), metadata=sso_hub.admin_md()
    )
    updated = stub.UpdateSsoProvider(
        auth_pb2.UpdateSsoProviderRequest(provider="sealed", spec=got.spec),
        metadata=sso_hub.admin_md(),
    )
    listed = stub.ListSsoProviders(auth_pb2.ListSsoProvidersRequest())
    for message in (created, got, updated, listed):
        assert secret not in message.SerializeToString()
    assert created.has_client_secret and updated.has_client_secret  # kept when not resent
    with sso_hub.engine.connect() as conn:
        sealed = conn.execute(
            select(SsoProviderRow.client_secret_sealed).where(SsoProviderRow.name == "sealed")
        ).scalar_one()
        audit = "\n".join(str(tuple(r)) for r in conn.exec_driver_sql("SELECT * FROM audit_events"))
    assert sealed is not None and secret not in sealed
    assert oidc_provider.client_secret not in audit
    assert sso_hub.state.secrets is not None
    opened = sso_hub.state.secrets.open(sealed, f"sso_provider:{created.id}")
    assert opened == oidc_provider.client_secret
