"""The Audit page against a real hub: first page, fetch-more on scroll, filters, export to a
file that matches the table, chain verification before and after tampering with the DB."""

from __future__ import annotations

import csv
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import create_engine, text

from modelfleet.client import AuthenticationError, ClientSettings, HubClient, Role
from modelfleet.desktop.app import Desktop
from modelfleet.desktop.heartbeat import GuiHeartbeat
from modelfleet.desktop.viewmodels.audit import PAGE_SIZE
from modelfleet.desktop.widgets.audit_page import AuditPage
from modelfleet.desktop.widgets.prompts import Prompts
from tests.conftest import RunningHub
from tests.desktop import test_signin as _signin
from tests.desktop.test_signin import TIMEOUT_MS, admin_client, sign_in

# The sign-in tests' fixtures: a desktop on a private data dir, and a SQLite hub.
desktop = _signin.desktop
hub_db_url = _signin.hub_db_url
private_data_dir = _signin.private_data_dir

KEYS = 260
REVOKED = 25


def _make_events(hub: RunningHub) -> None:
    """KEYS + REVOKED events in workspace "default", and one denied sign-in hub-wide."""
    with admin_client(hub, workspace="default") as admin, ThreadPoolExecutor(4) as pool:
        created = list(pool.map(lambda i: admin.create_api_key(f"k{i:03d}", Role.VIEWER),
                                range(KEYS)))  # fmt: skip
        list(pool.map(lambda c: admin.revoke_api_key(c.key.id), created[:REVOKED]))
    settings = ClientSettings(hub=hub.address, hub_ca=str(hub.ca_pem))
    with HubClient.connect(settings) as client, pytest.raises(AuthenticationError):
        client.login("admin", "wrong-password")


def _all_seqs(hub: RunningHub) -> list[int]:
    """The workspace's events as the client library pages through them."""
    seqs: list[int] = []
    token: str | None = None
    with admin_client(hub, workspace="default") as admin:
        while True:
            page = admin.query_audit(page_token=token)
            seqs.extend(e.seq for e in page.items)
            if not (token := page.next_page_token):
                return seqs


def _seqs(page: AuditPage) -> list[int]:
    return [e.seq for e in page.vm.model.events]


def _search(qtbot, page: AuditPage) -> None:
    with qtbot.waitSignal(page.vm.pageLoaded, timeout=TIMEOUT_MS):
        qtbot.mouseClick(page.search_button, Qt.MouseButton.LeftButton)


def test_audit_page_pages_filters_exports_and_verifies(
    running_hub: RunningHub,
    desktop: Desktop,
    qtbot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _make_events(running_hub)
    expected = _all_seqs(running_hub)
    total = len(expected)
    assert total > KEYS + REVOKED  # at least two pages: the generated events, and setup's
    page = desktop.window.page(6)
    assert isinstance(page, AuditPage)
    desktop.shell.select_key("audit")
    # Measured from sign-in until every page of the log is in the table (Admin loads too).
    heartbeat = GuiHeartbeat()
    heartbeat.start()
    sign_in(desktop, qtbot, running_hub)

    # Signing in loads the first page of the workspace's log; scrolling loads the next.
    qtbot.waitUntil(lambda: len(_seqs(page)) == PAGE_SIZE, timeout=TIMEOUT_MS)
    assert (
        page.vm.has_more
        and page.count_label.text() == f"{PAGE_SIZE} events loaded (scroll for more)"
    )
    assert _seqs(page) == sorted(_seqs(page), reverse=True)  # newest first
    while len(_seqs(page)) < total:
        rows = len(_seqs(page))
        page.table.scrollToBottom()
        qtbot.waitUntil(lambda: len(_seqs(page)) > rows, timeout=TIMEOUT_MS)  # noqa: B023
    assert _seqs(page) == expected and not page.vm.has_more
    assert page.count_label.text() == f"{total} events loaded"
    heartbeat.stop()
    print(f"GUI stall while the pages loaded: {heartbeat.longest_gap_ms:.1f} ms "
          f"over {heartbeat.ticks} ticks")  # fmt: skip
    assert heartbeat.ticks > 0

    # Filters go to the hub: action, outcome, actor, time range; all workspaces for admins.
    page.action_combo.setCurrentText("ApiKeys.RevokeApiKey")
    _search(qtbot, page)
    revoked = [e for e in page.vm.model.events]
    assert len(revoked) == REVOKED and {e.action for e in revoked} == {"ApiKeys.RevokeApiKey"}
    page.action_combo.setCurrentText("")
    page.outcome_combo.setCurrentText("denied")
    _search(qtbot, page)
    assert _seqs(page) == []  # the failed sign-in belongs to no workspace...
    assert page.all_box.isVisible()
    page.all_box.setChecked(True)
    _search(qtbot, page)  # ...but the hub-wide log has it
    assert [(e.action, e.target) for e in page.vm.model.events] == [("Auth.Login", "user:admin")]
    page.outcome_combo.setCurrentText("any outcome")
    page.all_box.setChecked(False)
    page.actor_edit.setText("nobody")
    page.range_combo.setCurrentText("Last hour")
    _search(qtbot, page)
    assert _seqs(page) == []
    page.actor_edit.setText("admin")
    _search(qtbot, page)
    assert len(_seqs(page)) == PAGE_SIZE

    # Export: the file holds exactly the events the filter shows.
    page.actor_edit.setText("")
    page.range_combo.setCurrentText("Any time")
    page.action_combo.setCurrentText("ApiKeys.RevokeApiKey")
    _search(qtbot, page)
    shown = sorted(_seqs(page))
    for name in ("revoked.csv", "revoked.jsonl"):
        monkeypatch.setattr(Prompts, "save_path_hook", lambda _t, _s, n=name: str(tmp_path / n))
        with qtbot.waitSignal(page.vm.exportFinished, timeout=TIMEOUT_MS):
            qtbot.mouseClick(page.export_button, Qt.MouseButton.LeftButton)
        assert page.export_label.text().endswith(f"to {name}")
    with (tmp_path / "revoked.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(int(r["seq"]) for r in rows) == shown
    assert {r["action"] for r in rows} == {"ApiKeys.RevokeApiKey"}
    lines = (tmp_path / "revoked.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["seq"] for line in lines) == shown
    monkeypatch.setattr(Prompts, "save_path_hook", lambda _t, _s: str(tmp_path / "x.txt"))
    qtbot.mouseClick(page.export_button, Qt.MouseButton.LeftButton)
    assert desktop.window.message_label.text() == (
        "Export file: expected a .csv or .jsonl name, got 'x.txt'"
    )
    assert not (tmp_path / "x.txt").exists()

    # Verify: intact, then an edit made directly in the database is found and named.
    assert page.verify_button.isVisible()
    with qtbot.waitSignal(page.vm.verified, timeout=TIMEOUT_MS):
        qtbot.mouseClick(page.verify_button, Qt.MouseButton.LeftButton)
    assert page.verify_label.text().startswith("Chain intact: all ")
    engine = create_engine(running_hub.db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET target = 'user:mallory' WHERE seq = 5"))
    engine.dispose()
    with qtbot.waitSignal(page.vm.verified, timeout=TIMEOUT_MS):
        qtbot.mouseClick(page.verify_button, Qt.MouseButton.LeftButton)
    assert page.verify_label.text().startswith("Chain BROKEN at event #5: edited (")
