"""Sign-in against a real hub (subprocess, TLS, port 0): trust on first use, tokens, failures,
a lost connection, and workspace switching.

The fixtures here are shared with the Admin and Audit tests. No keyring backend exists on
the test machines, so tokens go to the client library's 0600 file store (the same
`CredentialStore` interface the keyring implements).
"""

from __future__ import annotations

import os
import signal
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from modelfleet.client import (
    ClientSettings,
    FileStore,
    HubClient,
    Profile,
    Role,
    StoredTokens,
    account_name,
)
from modelfleet.desktop.app import Desktop, build_desktop
from modelfleet.desktop.services.hub_session import HubSessionService, ProfileBook
from modelfleet.desktop.viewmodels.session import SessionViewModel
from modelfleet.desktop.widgets.admin_page import AdminPage
from modelfleet.desktop.widgets.audit_page import AuditPage
from modelfleet.desktop.widgets.signin_dialog import grouped
from tests.client.conftest import private_data_dir
from tests.conftest import RunningHub

__all__ = ["admin_client", "desktop", "hub_db_url", "private_data_dir", "sign_in"]

TIMEOUT_MS = 15_000


@pytest.fixture
def hub_db_url(tmp_path: Path) -> str:
    """SQLite only: these tests are about the desktop; the hub's own suite covers PostgreSQL."""
    return f"sqlite:///{tmp_path / 'hub.db'}"


@pytest.fixture
def desktop(qtbot, tmp_path: Path) -> Iterator[Desktop]:
    service = HubSessionService(FileStore(tmp_path / "credentials.json"), timeout=3.0)
    built = build_desktop(session_service=service, profiles=ProfileBook(tmp_path / "profiles"))
    qtbot.addWidget(built.window)
    built.window.show()
    yield built
    built.shutdown()


def admin_client(hub: RunningHub, workspace: str | None = None) -> HubClient:
    client = HubClient.connect(
        ClientSettings(hub=hub.address, hub_ca=str(hub.ca_pem), workspace=workspace)
    )
    client.login(hub.admin_username, hub.admin_password)
    return client


def sign_in(
    desktop: Desktop, qtbot, hub: RunningHub, username: str = "admin", password: str = ""
) -> None:
    """Sign in with an already pinned profile and wait until the workspaces are listed."""
    session = desktop.session
    session.book.save("team", Profile(hub=hub.address, hub_ca=hub.ca_fingerprint))
    with qtbot.waitSignals([session.signedIn, session.workspacesChanged], timeout=TIMEOUT_MS):
        session.sign_in("team", hub.address, username, password or hub.admin_password)


def test_first_connection_asks_to_trust_the_fingerprint_then_signs_in(
    running_hub: RunningHub, desktop: Desktop, qtbot, tmp_path: Path
) -> None:
    session = desktop.session
    dialog = desktop.session_bar.open_sign_in()
    dialog.profile_combo.setCurrentText("team")
    dialog.hub_edit.setText(running_hub.address)
    dialog.user_edit.setText("admin")
    dialog.password_edit.setText(running_hub.admin_password)

    # Rejecting the prompt pins nothing and signs nobody in.
    with qtbot.waitSignal(session.trustRequested, timeout=TIMEOUT_MS):
        qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
    prompt = dialog.trust_dialog
    assert prompt is not None and prompt.isVisible()
    assert prompt.fingerprint_label.text() == grouped(running_hub.ca_fingerprint)
    assert prompt.certificate.fingerprint == running_hub.ca_fingerprint
    qtbot.mouseClick(prompt.cancel_button, Qt.MouseButton.LeftButton)
    assert dialog.error_label.text() == "Not signed in: you did not trust the hub's certificate."
    assert session.signed is None and "team" not in session.book.names()

    # Accepting pins the fingerprint in the profile, then signs in.
    with qtbot.waitSignal(session.trustRequested, timeout=TIMEOUT_MS):
        qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignals([session.signedIn, session.workspacesChanged], timeout=TIMEOUT_MS):
        qtbot.mouseClick(dialog.trust_dialog.trust_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible() and dialog.password_edit.text() == ""
    profile = session.book.load("team")
    assert profile == Profile(running_hub.address, running_hub.ca_fingerprint, "admin", "default")
    assert session.book.last() == "team"
    bar = desktop.session_bar
    assert bar.identity.text() == f"admin @ {running_hub.address} · system admin"
    assert bar.workspace_combo.currentText() == "default" and bar.sign_button.text() == "Sign out"
    assert desktop.window.nav_actions[6].isEnabled()  # Audit: admins only

    # The refresh token is in the credential store; the password is nowhere on disk.
    store_file = tmp_path / "credentials.json"
    assert stat.S_IMODE(store_file.stat().st_mode) == 0o600
    assert running_hub.admin_password not in store_file.read_text()
    store = session.service.store
    account = account_name(running_hub.address, "admin")
    first = store.load(account)
    assert first is not None

    # Next start: no password; the stale access token is refreshed automatically and the
    # rotated refresh token replaces the stored one.
    store.save(account, StoredTokens(first.refresh_token))
    later = SessionViewModel(session.service, session.book)
    with qtbot.waitSignal(later.signedIn, timeout=TIMEOUT_MS):
        later.resume()
    rotated = store.load(account)
    assert rotated is not None and rotated.access_token
    assert rotated.refresh_token != first.refresh_token
    later.shutdown()

    # Signing out forgets the sign-in and greys out the pages that need one.
    with qtbot.waitSignal(session.signedOut, timeout=TIMEOUT_MS):
        qtbot.mouseClick(bar.sign_button, Qt.MouseButton.LeftButton)
    assert bar.identity.text() == "Not signed in" and bar.workspace_combo.count() == 0
    qtbot.waitUntil(lambda: store.load(account) is None, timeout=TIMEOUT_MS)
    assert not desktop.window.nav_actions[6].isEnabled()
    assert not desktop.window.nav_actions[7].isEnabled()
    assert "sign in to a hub first" in desktop.window.nav_actions[7].toolTip()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_every_sign_in_failure_is_a_readable_message(
    running_hub: RunningHub, desktop: Desktop, qtbot
) -> None:
    session = desktop.session
    session.book.save("team", Profile(hub=running_hub.address, hub_ca=running_hub.ca_fingerprint))
    dialog = desktop.session_bar.open_sign_in("team")
    assert dialog.hub_edit.text() == running_hub.address
    assert dialog.pin_label.toolTip() == running_hub.ca_fingerprint

    def attempt(profile: str, hub: str, password: str) -> str:
        dialog.select_profile(profile)
        dialog.hub_edit.setText(hub)
        dialog.user_edit.setText("admin")
        dialog.password_edit.setText(password)
        signal = session.trustFailed if profile == "evil" else session.signInFailed
        with qtbot.waitSignal(signal, timeout=TIMEOUT_MS) as blocker:
            qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
        return str(blocker.args[0])

    # Three wrong passwords are heard; the fourth try is throttled with the hub's wait.
    for _ in range(3):
        message = attempt("team", running_hub.address, "not-the-password")
        assert message == "Wrong user name or password (or the account is disabled)."
        assert dialog.error_label.text() == message and dialog.error_label.isVisible()
    message = attempt("team", running_hub.address, running_hub.admin_password)
    assert message == "Too many failed sign-ins: the hub asks to wait 1 s before trying again."

    # Bad input is named before anything is sent.
    assert attempt("team", "no-port", "x") == (
        "Hub address: expected host:port (e.g. hub.example.com:7443), got 'no-port'"
    )

    # Nothing listening: the hub is unreachable.
    dead = f"127.0.0.1:{_closed_port()}"
    session.book.save("dead", Profile(hub=dead, hub_ca=running_hub.ca_fingerprint))
    message = attempt("dead", dead, "whatever")
    assert message.startswith("Cannot reach the hub: ") and "Connection refused" in message
    assert dead in message

    # A hub presenting another CA than the pinned one: refused loudly, nothing sent.
    other = "sha256:" + "5a" * 32
    session.book.save("evil", Profile(hub=running_hub.address, hub_ca=other))
    message = attempt("evil", running_hub.address, running_hub.admin_password)
    assert message.startswith("SECURITY WARNING: the hub's certificate does not match")
    assert other in message
    assert dialog.trust_alarm.isVisible() and dialog.trust_alarm.text() == message
    assert session.signed is None
    dialog.reject()


def test_workspace_switch_rescopes_pages_and_a_lost_hub_reconnects(
    running_hub: RunningHub, desktop: Desktop, qtbot
) -> None:
    with admin_client(running_hub) as admin:
        admin.create_workspace("ml-team")
        admin.create_user("bob", password="bob-secret-pw")
        admin.set_member("bob", Role.VIEWER, workspace="ml-team")
    sign_in(desktop, qtbot, running_hub)
    session, vm = desktop.session, desktop.admin
    qtbot.waitUntil(lambda: [m.username for m in vm.members] == ["admin"], timeout=TIMEOUT_MS)
    combo = desktop.session_bar.workspace_combo
    assert [combo.itemText(i) for i in range(combo.count())] == ["default", "ml-team"]

    # Choosing another workspace in the chrome re-scopes every page.
    with qtbot.waitSignal(session.workspaceChanged, timeout=TIMEOUT_MS) as changed:
        combo.setCurrentText("ml-team")
    assert changed.args == ["ml-team"] and session.workspace == "ml-team"
    qtbot.waitUntil(
        lambda: (
            {m.username: m.role for m in vm.members} == {"admin": Role.ADMIN, "bob": Role.VIEWER}
        ),
        timeout=TIMEOUT_MS,
    )
    qtbot.waitUntil(lambda: len(desktop.audit.model.events) > 0, timeout=TIMEOUT_MS)
    team = next(w.id for w in session.workspaces if w.name == "ml-team")
    assert "user:bob" in {e.target for e in desktop.audit.model.events}  # bob's SetMember
    assert {e.workspace_id for e in desktop.audit.model.events} == {team}
    assert session.book.load("team").workspace == "ml-team"
    # Pages are built when first shown: these two start with what was loaded for ml-team.
    assert not any(isinstance(w, (AdminPage, AuditPage)) for w in desktop.window.stack.children())
    desktop.shell.select_key("admin")
    members = desktop.window.page(7).members_tab.model
    assert sorted(members.index(r, 0).data() for r in range(members.rowCount())) == ["admin", "bob"]
    desktop.shell.select_key("audit")
    assert (
        desktop.window.page(6)
        .count_label.text()
        .startswith(f"{len(desktop.audit.model.events)} events loaded")
    )

    # The hub stops answering: the banner says so, and it clears once the hub is back.
    os.kill(running_hub.pid, signal.SIGSTOP)
    try:
        vm.reload()
        # Two signals from the worker: the connection is lost (banner), the call failed (message).
        qtbot.waitUntil(
            lambda: desktop.window.banner.isVisible() and bool(desktop.window.message_label.text()),
            timeout=TIMEOUT_MS,
        )
        assert desktop.window.banner.text().startswith(
            f"Connection to hub {running_hub.address} lost: Cannot reach the hub"
        )
        assert desktop.window.message_label.text().startswith("Cannot reach the hub")
    finally:
        os.kill(running_hub.pid, signal.SIGCONT)
    with qtbot.waitSignal(session.workspaceChanged, timeout=TIMEOUT_MS):
        pass  # the reconnect re-scopes (reloads) every page
    assert not desktop.window.banner.isVisible() and not session.lost
    qtbot.waitUntil(lambda: len(vm.members) == 2, timeout=TIMEOUT_MS)
