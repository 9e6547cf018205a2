"""The audit log: one row per mutating call or denial, queries, exports, and tamper detection."""

from __future__ import annotations

import csv
import io

import grpc
import orjson
import pytest
from sqlalchemy import Engine, text

from modelfleet.agent.hub.audit import verify_chain
from modelfleet.proto.v1 import audit_pb2, auth_pb2, common_pb2, workspaces_pb2
from tests.hub.conftest import VIEWER, Hub


def _activity(hub: Hub) -> None:
    hub.add_workspace("team")
    for i in range(6):
        hub.add_user(f"user{i}")
    hub.set_member("team", "user0", VIEWER)


def _seqs(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT seq FROM audit_events ORDER BY seq"))]


def test_rows_record_calls_without_secrets(hub: Hub) -> None:
    created = hub.users.CreateUser(
        workspaces_pb2.CreateUserRequest(username="ann"), metadata=hub.admin_md()
    )
    reset = hub.users.ResetPassword(
        workspaces_pb2.ResetPasswordRequest(user="ann"), metadata=hub.admin_md()
    )
    events = hub.audit.QueryAudit(audit_pb2.QueryAuditRequest(), metadata=hub.admin_md()).events
    by_action = {e.action: e for e in events}
    row = by_action["Users.CreateUser"]
    assert (row.actor_kind, row.actor_name, row.target, row.outcome) == (
        "user",
        "admin",
        "user:ann",
        "ok",
    )
    assert row.source.startswith("ipv4:127.0.0.1:")
    assert orjson.loads(row.details_json) == {"system_admin": False}
    everything = b"".join(
        c.data
        for c in hub.audit.ExportAudit(audit_pb2.ExportAuditRequest(), metadata=hub.admin_md())
    )
    for secret in (created.one_time_password, reset.one_time_password, "admin-password-1"):
        assert secret.encode() not in everything
    assert verify_chain(hub.engine).ok


def test_failed_mutation_leaves_one_error_row_and_no_change(hub: Hub) -> None:
    hub.add_workspace("team")
    before = hub.snapshot()
    rows = hub.audit_count()
    with pytest.raises(grpc.RpcError) as err:
        hub.add_workspace("team")
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert hub.snapshot() == before
    assert hub.audit_count() == rows + 1
    assert hub.audit_count(action="Workspaces.CreateWorkspace", outcome="error") == 1


def test_query_filters_pages_and_workspace_scope(hub: Hub) -> None:
    _activity(hub)
    md = hub.admin_md()
    seen, token = [], ""
    while True:
        page = hub.audit.QueryAudit(
            audit_pb2.QueryAuditRequest(page=common_pb2.PageRequest(page_size=3, page_token=token)),
            metadata=md,
        )
        seen += [e.seq for e in page.events]
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(_seqs(hub.engine), reverse=True)
    only = hub.audit.QueryAudit(
        audit_pb2.QueryAuditRequest(
            filter=audit_pb2.AuditFilter(action="Users.CreateUser", target="user:user3")
        ),
        metadata=md,
    ).events
    assert [e.target for e in only] == ["user:user3"]
    scoped = hub.audit.QueryAudit(audit_pb2.QueryAuditRequest(), metadata=hub.admin_md("team"))
    assert {e.action for e in scoped.events} == {
        "Workspaces.CreateWorkspace",
        "Workspaces.SetMember",
    }
    with pytest.raises(grpc.RpcError) as err:
        hub.audit.QueryAudit(
            audit_pb2.QueryAuditRequest(page=common_pb2.PageRequest(page_token="zz")), metadata=md
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page.page_token" in (err.value.details() or "")


def test_export_jsonl_and_csv(hub: Hub) -> None:
    _activity(hub)
    md = hub.admin_md()
    total = len(_seqs(hub.engine))
    jsonl = b"".join(
        c.data for c in hub.audit.ExportAudit(audit_pb2.ExportAuditRequest(), metadata=md)
    )
    lines = [orjson.loads(x) for x in jsonl.splitlines()]
    # The export is audited before it streams, so it includes its own row.
    assert [x["seq"] for x in lines] == list(range(1, total + 2))
    assert lines[-1]["action"] == "Audit.ExportAudit"
    raw = b"".join(
        c.data
        for c in hub.audit.ExportAudit(audit_pb2.ExportAuditRequest(format="csv"), metadata=md)
    )
    rows = list(csv.DictReader(io.StringIO(raw.decode())))
    assert len(rows) == total + 2 and rows[0]["hash"] == lines[0]["hash"]


def _tamper(engine: Engine, *statements: str) -> None:
    with engine.begin() as conn:
        for sql in statements:
            conn.execute(text(sql))


@pytest.mark.parametrize(
    ("statements", "problem", "first_bad"),
    [
        (["UPDATE audit_events SET target = 'user:mallory' WHERE seq = 5"], "edited", 5),
        (["UPDATE audit_events SET details_json = '{}' WHERE seq = 3"], "edited", 3),
        (["DELETE FROM audit_events WHERE seq = 4"], "deleted", 4),
        (
            ["DELETE FROM audit_events WHERE seq = (SELECT MAX(seq) FROM audit_events)"],
            "deleted",
            -1,
        ),
        (
            [
                "INSERT INTO audit_events (seq, time_us, actor_kind, actor_id, actor_name, source,"
                " workspace_id, action, target, outcome, details_json, prev_hash, hash)"
                " SELECT MAX(seq) + 1, 0, 'user', '', 'mallory', '', '', 'Users.CreateUser', '',"
                " 'ok', '{}', MAX(hash), 'f00d' FROM audit_events",
            ],
            "inserted",
            0,
        ),
        (
            # Slip a copy of row 2 in after it, renumbering everything behind.
            [
                "UPDATE audit_events SET seq = -seq WHERE seq >= 3",
                "UPDATE audit_events SET seq = -seq + 1 WHERE seq < 0",
                "INSERT INTO audit_events (seq, time_us, actor_kind, actor_id, actor_name, source,"
                " workspace_id, action, target, outcome, details_json, prev_hash, hash)"
                " SELECT 3, time_us, actor_kind, actor_id, 'mallory', source, workspace_id, action,"
                " target, outcome, details_json, hash, 'feed' FROM audit_events WHERE seq = 2",
                "UPDATE audit_head SET seq = seq + 1",
            ],
            "inserted",
            3,
        ),
        (
            [
                "UPDATE audit_events SET seq = -1 WHERE seq = 4",
                "UPDATE audit_events SET seq = 4 WHERE seq = 5",
                "UPDATE audit_events SET seq = 5 WHERE seq = -1",
            ],
            "reordered",
            4,
        ),
    ],
    ids=[
        "edit-target",
        "edit-details",
        "delete",
        "delete-last",
        "insert-end",
        "insert-middle",
        "reorder",
    ],
)
def test_tampering_is_named(hub: Hub, statements: list[str], problem: str, first_bad: int) -> None:
    _activity(hub)
    rows = _seqs(hub.engine)
    assert verify_chain(hub.engine).ok and verify_chain(hub.engine).rows_checked == len(rows)
    _tamper(hub.engine, *statements)
    report = verify_chain(hub.engine)
    expected_seq = {-1: rows[-1], 0: rows[-1] + 1}.get(first_bad, first_bad)
    assert (report.ok, report.problem, report.first_bad_seq) == (False, problem, expected_seq)
    answer = hub.audit.VerifyAudit(audit_pb2.VerifyAuditRequest(), metadata=hub.admin_md())
    assert (answer.ok, answer.problem, answer.first_bad_seq) == (False, problem, expected_seq)


def test_denials_are_audited_with_the_requested_workspace(hub: Hub) -> None:
    hub.add_user("ann")
    ann = hub.token("ann", "password-123")
    with pytest.raises(grpc.RpcError):
        hub.workspaces.ListMembers(
            workspaces_pb2.ListMembersRequest(), metadata=hub.md(ann, "default")
        )
    with pytest.raises(grpc.RpcError):
        hub.auth.WhoAmI(auth_pb2.WhoAmIRequest())
    denied = hub.audit.QueryAudit(
        audit_pb2.QueryAuditRequest(filter=audit_pb2.AuditFilter(outcome="denied")),
        metadata=hub.admin_md(),
    ).events
    assert [(e.action, e.actor_kind, e.actor_name) for e in denied] == [
        ("Auth.WhoAmI", "anonymous", ""),
        ("Workspaces.ListMembers", "user", "ann"),
    ]
    assert orjson.loads(denied[1].details_json)["workspace"] == "default"


def test_insert_only_role_from_the_docs_appends_but_cannot_rewrite(postgres_db_url: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ProgrammingError

    from modelfleet.agent.hub import audit
    from modelfleet.agent.hub.db import Database, make_engine, upgrade

    owner = make_engine(postgres_db_url)
    role = "mf_hub_" + make_url(postgres_db_url).database.removeprefix("mf_")  # type: ignore[union-attr]
    try:
        upgrade(owner)
        with owner.begin() as conn:
            conn.execute(text(f"CREATE ROLE {role} LOGIN"))
            for grant in (
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
                f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM {role}",
                f"REVOKE DELETE, TRUNCATE ON audit_head FROM {role}",
            ):
                conn.execute(text(grant))
        hub_engine = make_engine(
            make_url(postgres_db_url).set(username=role).render_as_string(False)
        )
        try:
            db = Database(hub_engine)
            # Non-ASCII on purpose: PostgreSQL hashes the UTF-8 bytes Python verifies.
            record = audit.AuditRecord("system", "", "zoë ✓", "", "", "Test.Append", "", "ok")
            with db.writing() as s:
                audit.append(s, record)
            for sql in ("UPDATE audit_events SET target = 'x'", "DELETE FROM audit_events"):
                with (
                    pytest.raises(ProgrammingError, match="permission denied"),
                    hub_engine.begin() as conn,
                ):
                    conn.execute(text(sql))
            assert verify_chain(hub_engine).ok
        finally:
            hub_engine.dispose()
    finally:
        with owner.begin() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        owner.dispose()


def test_concurrent_appends_from_two_engines_keep_one_chain(hub_db_url: str) -> None:
    """Two engines stand in for two hub replicas appending at once."""
    import threading

    from modelfleet.agent.hub import audit
    from modelfleet.agent.hub.db import Database, make_engine, upgrade

    engines = [make_engine(hub_db_url) for _ in range(2)]
    try:
        upgrade(engines[0])
        errors: list[BaseException] = []

        def replica(n: int) -> None:
            db = Database(engines[n])
            try:
                for i in range(40):
                    with db.writing() as s:
                        audit.append(
                            s, audit.AuditRecord("system", "", f"r{n}", "", "", "T.A", str(i), "ok")
                        )
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=replica, args=(n,)) for n in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        report = verify_chain(engines[0])
        assert report.ok and report.rows_checked == 80
    finally:
        for engine in engines:
            engine.dispose()
