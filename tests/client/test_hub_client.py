"""HubClient against a real hub (SQLite and PostgreSQL): typed calls, token refresh,
API keys, and the hub's errors arriving as the client's exceptions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from modelfleet.client import (
    AlreadyExists,
    AuthenticationError,
    ClientSettings,
    HubClient,
    HubTrustError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Role,
    StoredTokens,
    TokenPair,
)
from tests.conftest import RunningHub


def settings(hub: RunningHub, **changes: object) -> ClientSettings:
    return replace(
        ClientSettings(hub=hub.address, hub_ca=hub.ca_fingerprint, timeout=15), **changes
    )


def test_typed_calls_errors_and_refresh(running_hub: RunningHub) -> None:
    seen: list[TokenPair] = []
    with HubClient.connect(settings(running_hub), on_tokens=seen.append) as admin:
        assert admin.get_hub_info().ca_fingerprint == running_hub.ca_fingerprint
        pair = admin.login(running_hub.admin_username, running_hub.admin_password)
        assert seen == [pair] and pair.access_expires_at is not None
        assert pair.access_expires_at - datetime.now(UTC) <= timedelta(minutes=15)

        ws = admin.create_workspace("vision", "images")
        assert (ws.name, ws.my_role, ws.archived) == ("vision", Role.ADMIN, False)
        with pytest.raises(AlreadyExists):
            admin.create_workspace("vision")
        with pytest.raises(InvalidArgument) as bad:
            admin.create_workspace("")
        assert bad.value.field == "name"
        with pytest.raises(NotFound):
            admin.get_workspace(workspace="no-such-workspace")

        for i in range(5):
            admin.create_user(f"user{i}", password=f"password-of-user-{i}")
        assert {u.username for u in admin.iter_users("user")} == {f"user{i}" for i in range(5)}
        first = admin.list_users("user", page_size=2)
        assert len(first.items) == 2 and first.next_page_token
        admin.set_member("user0", Role.VIEWER, workspace="vision")
        assert {m.username: m.role for m in admin.list_members(workspace="vision")}[
            "user0"
        ] is Role.VIEWER
        assert admin.set_user_disabled("user4", True).disabled

        # Proactive refresh: the held access token is past its expiry, so the client
        # trades the refresh token before the call and reports the rotated pair.
        stale = StoredTokens(
            pair.refresh_token, pair.access_token, datetime.now(UTC) - timedelta(seconds=1)
        )
        with HubClient.connect(settings(running_hub), tokens=stale, on_tokens=seen.append) as later:
            assert later.whoami().username == running_hub.admin_username
        assert len(seen) == 2 and seen[1].refresh_token != pair.refresh_token

        # Reuse of the rotated refresh token revokes the family: signed out everywhere.
        reused = StoredTokens(pair.refresh_token)
        with (
            HubClient.connect(settings(running_hub), tokens=reused) as thief,
            pytest.raises(AuthenticationError, match="log in again"),
        ):
            thief.whoami()


def test_rejected_access_token_is_refreshed_once_and_the_call_retried(
    running_hub: RunningHub,
) -> None:
    with HubClient.connect(settings(running_hub)) as admin:
        pair = admin.login(running_hub.admin_username, running_hub.admin_password)
    # The hub rejects this access token although the client believes it valid for an hour.
    garbled = StoredTokens(
        pair.refresh_token, "not-a-token", datetime.now(UTC) + timedelta(hours=1)
    )
    fresh: list[TokenPair] = []
    with HubClient.connect(settings(running_hub), tokens=garbled, on_tokens=fresh.append) as client:
        created = client.create_workspace("after-refresh")  # a write: it never ran the first time
    assert created.name == "after-refresh" and len(fresh) == 1


def test_api_key_usage_and_scope(running_hub: RunningHub) -> None:
    with HubClient.connect(settings(running_hub, workspace="default")) as admin:
        admin.login(running_hub.admin_username, running_hub.admin_password)
        created = admin.create_api_key("ci", Role.VIEWER, datetime.now(UTC) + timedelta(days=1))
        assert created.secret.startswith(created.key.prefix)
        assert [k.name for k in admin.list_api_keys()] == ["ci"]

    with HubClient.connect(
        settings(running_hub, api_key=created.secret, workspace="default")
    ) as ci:
        me = ci.whoami()
        assert (me.kind, me.api_key_id) == ("api_key", created.key.id)
        assert ci.get_workspace().name == "default"
        with pytest.raises(PermissionDenied):
            ci.rename_workspace("renamed-by-ci")  # a viewer key cannot write

    with HubClient.connect(settings(running_hub, workspace="default")) as admin:
        admin.login(running_hub.admin_username, running_hub.admin_password)
        assert admin.revoke_api_key(created.key.id).revoked_at is not None
        events = admin.query_audit(page_size=50).items
        assert any(
            e.action == "Workspaces.RenameWorkspace" and e.outcome == "denied" for e in events
        )
        assert admin.verify_audit().ok

    with (
        HubClient.connect(settings(running_hub, api_key=created.secret)) as revoked,
        pytest.raises(AuthenticationError),
    ):
        revoked.whoami()


def test_wrong_pin_is_refused_by_the_real_hub(running_hub: RunningHub) -> None:
    wrong = "sha256:" + "0" * 64
    with pytest.raises(HubTrustError):
        HubClient.connect(settings(running_hub, hub_ca=wrong))
