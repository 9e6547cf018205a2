"""The conversion layer: protobuf messages in, frozen dataclasses out (and back for requests)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest

from modelfleet.client import AuditFilter, Role
from modelfleet.client import _convert as cv
from modelfleet.proto.v1 import audit_pb2, auth_pb2, common_pb2, workspaces_pb2

WHEN = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


def test_roles_map_both_ways_and_unspecified_is_none() -> None:
    for role in Role:
        assert cv.role_from_pb(cv.role_to_pb(role)) is role
    assert cv.role_from_pb(common_pb2.ROLE_UNSPECIFIED) is None
    assert cv.role_to_pb(None) == common_pb2.ROLE_UNSPECIFIED


def test_role_parse_names_the_choices() -> None:
    assert Role.parse(" Viewer ") is Role.VIEWER
    with pytest.raises(ValueError, match="viewer, developer, admin"):
        Role.parse("owner")


def test_times_are_utc_aware_and_unset_is_none() -> None:
    ts = cv.time_to_pb(WHEN.astimezone(timezone(timedelta(hours=2))))
    assert ts is not None
    assert cv.time_from_pb(ts) == WHEN
    assert cv.time_from_pb(ts).tzinfo is not None  # type: ignore[union-attr]
    assert cv.time_from_pb(auth_pb2.TokenPair().access_expires_at) is None
    assert cv.time_to_pb(None) is None
    with pytest.raises(ValueError, match="timezone-aware"):
        cv.time_to_pb(datetime(2026, 1, 1))


def test_token_pair_with_principal_and_memberships() -> None:
    msg = auth_pb2.TokenPair(
        access_token="tok-A-secret",
        refresh_token="tok-R-secret",
        principal=auth_pb2.Principal(
            kind="user",
            user_id="u1",
            username="ada",
            system_admin=True,
            memberships=[
                auth_pb2.Membership(
                    workspace_id="w1", workspace_name="default", role=common_pb2.ADMIN
                ),
                auth_pb2.Membership(workspace_id="w2", workspace_name="ml", role=common_pb2.VIEWER),
            ],
        ),
    )
    msg.access_expires_at.FromDatetime(WHEN)
    pair = cv.token_pair_from_pb(msg)
    assert pair.access_expires_at == WHEN and pair.refresh_expires_at is None
    assert pair.principal is not None and pair.principal.api_key_id is None
    assert [(m.workspace_name, m.role) for m in pair.principal.memberships] == [
        ("default", Role.ADMIN),
        ("ml", Role.VIEWER),
    ]
    assert "tok-" not in repr(pair)  # secrets stay out of logs
    with pytest.raises(dataclasses.FrozenInstanceError):
        pair.access_token = "x"  # type: ignore[misc]


def test_token_pair_without_principal() -> None:
    assert cv.token_pair_from_pb(auth_pb2.TokenPair(access_token="a")).principal is None


def test_api_key_and_secret() -> None:
    msg = auth_pb2.CreateApiKeyResponse(
        key=auth_pb2.ApiKey(
            id="k1", name="ci", workspace_name="ml", role=common_pb2.DEVELOPER, prefix="mfk_ab"
        ),
        secret="mfk_secret",
    )
    msg.key.revoked_at.FromDatetime(WHEN)
    created = cv.created_api_key_from_pb(msg)
    assert created.key.role is Role.DEVELOPER and created.key.revoked_at == WHEN
    assert created.key.expires_at is None and created.secret == "mfk_secret"
    assert "mfk_secret" not in repr(created)


def test_create_api_key_request() -> None:
    request = cv.create_api_key_request("ci", Role.VIEWER, WHEN)
    assert request.role == common_pb2.VIEWER and request.expires_at.ToDatetime(tzinfo=UTC) == WHEN
    assert not cv.create_api_key_request("ci", Role.ADMIN, None).HasField("expires_at")


def test_users_workspaces_members() -> None:
    created = cv.created_user_from_pb(
        workspaces_pb2.CreateUserResponse(
            user=workspaces_pb2.User(id="u", username="bo", disabled=True)
        )
    )
    assert created.user.disabled and created.one_time_password is None
    ws = cv.workspace_from_pb(
        workspaces_pb2.Workspace(id="w", name="ml", archived=True, my_role=common_pb2.ADMIN)
    )
    assert (ws.name, ws.archived, ws.my_role, ws.created_at) == ("ml", True, Role.ADMIN, None)
    member = cv.member_from_pb(
        workspaces_pb2.Member(user_id="u", username="bo", role=common_pb2.VIEWER)
    )
    assert member.role is Role.VIEWER


def test_audit_event_filter_and_verification() -> None:
    event = audit_pb2.AuditEvent(
        seq=7, action="Workspaces.SetMember", outcome="denied", hash="h", prev_hash="p"
    )
    event.time.FromDatetime(WHEN)
    converted = cv.audit_event_from_pb(event)
    assert (converted.seq, converted.time, converted.outcome) == (7, WHEN, "denied")

    pb = cv.audit_filter_to_pb(AuditFilter(since=WHEN, actor="bo", outcome="denied"))
    assert pb.HasField("since") and not pb.HasField("until")
    assert (pb.actor, pb.outcome, pb.action) == ("bo", "denied", "")
    assert cv.audit_filter_to_pb(None) == audit_pb2.AuditFilter()

    bad = cv.audit_verification_from_pb(
        audit_pb2.VerifyAuditResponse(ok=False, rows_checked=10, first_bad_seq=4, problem="edited")
    )
    assert (bad.ok, bad.first_bad_seq, bad.problem) == (False, 4, "edited")
    good = cv.audit_verification_from_pb(audit_pb2.VerifyAuditResponse(ok=True, rows_checked=10))
    assert (good.first_bad_seq, good.problem) == (None, None)


def test_page_request_refuses_negative_sizes() -> None:
    assert cv.page_request(0, None) == common_pb2.PageRequest()
    with pytest.raises(ValueError, match="page_size"):
        cv.page_request(-1, None)
