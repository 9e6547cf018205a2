"""The Admin page against a real hub: every action as a system admin (each destructive one
confirmed), then a viewer's view with hidden/disabled actions and a forced call refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from modelfleet.client import (
    AuthenticationError,
    ClientSettings,
    HubClient,
    Role,
)
from modelfleet.desktop.app import Desktop
from modelfleet.desktop.widgets.admin_page import AdminPage
from modelfleet.desktop.widgets.prompts import Prompts
from tests.conftest import RunningHub
from tests.desktop import test_signin as _signin
from tests.desktop.test_signin import TIMEOUT_MS, admin_client, sign_in

# The sign-in tests' fixtures: a desktop on a private data dir, and a SQLite hub.
desktop = _signin.desktop
hub_db_url = _signin.hub_db_url
private_data_dir = _signin.private_data_dir


class Confirmations:
    """Answers every confirmation with `answer` and records what was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.answer = True

    def __call__(self, title: str, text: str) -> bool:
        self.asked.append(title)
        return self.answer


@pytest.fixture
def confirmations(monkeypatch: pytest.MonkeyPatch) -> Confirmations:
    hook = Confirmations()
    monkeypatch.setattr(Prompts, "confirm_hook", hook)
    return hook


def _can_login(hub: RunningHub, username: str, password: str) -> bool:
    with HubClient.connect(ClientSettings(hub=hub.address, hub_ca=str(hub.ca_pem))) as client:
        try:
            client.login(username, password)
        except AuthenticationError:
            return False
    return True


def _select(tab, column0: str) -> None:
    row = next(r for r in range(tab.row_count()) if tab.cell(r, 0) == column0)
    tab.table.selectRow(row)


def _click(qtbot, button) -> None:
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _secret(page: AdminPage, qtbot, button) -> str:
    """Click `button`, wait for the one-time secret dialog, copy and close it."""
    with qtbot.waitSignal(page.vm.secretIssued, timeout=TIMEOUT_MS):
        _click(qtbot, button)
    dialog = page.secret_dialog
    assert dialog is not None and dialog.isVisible()
    secret = dialog.secret_edit.text()
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    assert QApplication.clipboard().text() == secret
    dialog.accept()
    assert dialog.secret_edit.text() == ""  # not kept once closed
    return secret


def _wait_status(qtbot, page: AdminPage, text: str) -> None:
    qtbot.waitUntil(lambda: page.status_label.text() == text, timeout=TIMEOUT_MS)


def test_admin_actions_succeed_and_destructive_ones_ask_first(
    running_hub: RunningHub, desktop: Desktop, qtbot, confirmations: Confirmations
) -> None:
    sign_in(desktop, qtbot, running_hub)
    page = desktop.window.page(7)
    assert isinstance(page, AdminPage)
    desktop.shell.select_key("admin")
    assert all(page.tabs.isTabVisible(i) for i in range(4))
    users, spaces, members, keys = (page.users_tab, page.workspaces_tab, page.members_tab,
                                    page.keys_tab)  # fmt: skip
    qtbot.waitUntil(lambda: users.row_count() == 1, timeout=TIMEOUT_MS)

    # Users: create with a one-time password shown once; it really signs in.
    users.username_edit.setText("bob")
    users.display_edit.setText("Bob Builder")
    password = _secret(page, qtbot, users.create_button)
    assert len(password) >= 12 and _can_login(running_hub, "bob", password)
    qtbot.waitUntil(lambda: users.row_count() == 2, timeout=TIMEOUT_MS)

    # Declining a confirmation changes nothing.
    _select(users, "bob")
    confirmations.answer = False
    _click(qtbot, users.disable_button)
    assert confirmations.asked == ["Disable user"] and users.disable_button.text() == "Disable"
    confirmations.answer = True
    _click(qtbot, users.disable_button)
    _wait_status(qtbot, page, "Disabled bob.")
    assert not _can_login(running_hub, "bob", password)
    qtbot.waitUntil(lambda: users.cell(1, 3) == "disabled", timeout=TIMEOUT_MS)
    _select(users, "bob")
    _click(qtbot, users.disable_button)  # "Enable": not destructive, not asked
    _wait_status(qtbot, page, "Enabled bob.")
    _select(users, "bob")
    new_password = _secret(page, qtbot, users.reset_button)
    assert new_password != password and _can_login(running_hub, "bob", new_password)
    _select(users, "bob")
    _click(qtbot, users.admin_button)
    _wait_status(qtbot, page, "bob is now a system admin.")
    qtbot.waitUntil(lambda: users.cell(1, 2) == "yes", timeout=TIMEOUT_MS)
    _select(users, "bob")
    assert users.admin_button.text() == "Revoke system admin"
    _click(qtbot, users.admin_button)
    _wait_status(qtbot, page, "bob is no longer a system admin.")

    # Workspaces: create, switch to it, rename it.
    spaces.name_edit.setText("ml-team")
    spaces.description_edit.setText("the ML team")
    _click(qtbot, spaces.create_button)
    combo = desktop.session_bar.workspace_combo
    qtbot.waitUntil(lambda: combo.findText("ml-team") >= 0, timeout=TIMEOUT_MS)
    combo.setCurrentText("ml-team")
    spaces.rename_edit.setText("ml-core")
    _click(qtbot, spaces.rename_button)
    qtbot.waitUntil(lambda: desktop.session.workspace == "ml-core", timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: combo.currentText() == "ml-core", timeout=TIMEOUT_MS)

    # Members: add, change role, remove.
    members.user_edit.setText("bob")
    members.role_combo.setCurrentText("viewer")
    _click(qtbot, members.add_button)
    qtbot.waitUntil(lambda: members.row_count() == 2, timeout=TIMEOUT_MS)
    _select(members, "bob")
    members.change_combo.setCurrentText("developer")
    _click(qtbot, members.change_button)
    _wait_status(qtbot, page, "bob is developer in ml-core.")
    with admin_client(running_hub) as admin:
        roles = {m.username: m.role for m in admin.list_members(workspace="ml-core")}
    assert roles == {"admin": Role.ADMIN, "bob": Role.DEVELOPER}
    qtbot.waitUntil(lambda: members.row_count() == 2, timeout=TIMEOUT_MS)
    _select(members, "bob")
    _click(qtbot, members.remove_button)
    qtbot.waitUntil(lambda: members.row_count() == 1, timeout=TIMEOUT_MS)

    # API keys: the secret is shown once and works; revoked, it stops working.
    keys.name_edit.setText("ci-deploy")
    keys.role_combo.setCurrentText("developer")
    secret = _secret(page, qtbot, keys.create_button)
    settings = ClientSettings(hub=running_hub.address, hub_ca=str(running_hub.ca_pem),
                              api_key=secret, workspace="ml-core", retries=1)  # fmt: skip
    with HubClient.connect(settings) as ci:
        assert [m.username for m in ci.list_members()] == ["admin"]
    qtbot.waitUntil(lambda: keys.row_count() == 1, timeout=TIMEOUT_MS)
    assert secret.startswith(keys.cell(0, 1))
    _select(keys, "ci-deploy")
    _click(qtbot, keys.revoke_button)
    qtbot.waitUntil(lambda: keys.cell(0, 7) != "-", timeout=TIMEOUT_MS)
    with HubClient.connect(settings) as ci, pytest.raises(AuthenticationError):
        ci.list_members()

    # Archiving takes the workspace out of the switcher.
    _click(qtbot, spaces.archive_button)
    qtbot.waitUntil(lambda: combo.findText("ml-core") < 0, timeout=TIMEOUT_MS)
    assert desktop.session.workspace == "default"
    assert confirmations.asked == [
        "Disable user", "Disable user", "Reset password", "System admin", "System admin",
        "Rename workspace", "Change role", "Remove member", "Revoke API key", "Archive workspace",
    ]  # fmt: skip


def test_a_viewer_sees_only_what_the_role_allows_and_the_hub_refuses_the_rest(
    running_hub: RunningHub, desktop: Desktop, qtbot, tmp_path: Path
) -> None:
    with admin_client(running_hub) as admin:
        admin.create_workspace("ml-team")
        admin.create_user("vera", password="vera-secret-pw")
        admin.set_member("vera", Role.VIEWER, workspace="ml-team")
    sign_in(desktop, qtbot, running_hub, "vera", "vera-secret-pw")
    session, page = desktop.session, desktop.window.page(7)
    assert isinstance(page, AdminPage)
    assert session.workspace == "ml-team" and not session.permissions.system_admin
    assert [page.tabs.isTabVisible(i) for i in range(4)] == [False, True, True, True]
    assert not page.members_tab.add_button.isEnabled()
    assert not page.workspaces_tab.rename_button.isEnabled()
    assert not page.workspaces_tab.archive_button.isEnabled()
    assert page.workspaces_tab.create_button.isEnabled()  # any user may create one
    roles = [page.keys_tab.role_combo.itemText(i) for i in range(page.keys_tab.role_combo.count())]
    assert roles == ["viewer"]
    qtbot.waitUntil(lambda: page.members_tab.row_count() == 2, timeout=TIMEOUT_MS)
    page.members_tab.table.selectRow(0)
    assert not page.members_tab.remove_button.isEnabled()
    audit_action = desktop.window.nav_actions[6]
    assert not audit_action.isEnabled() and "needs the admin role" in audit_action.toolTip()
    assert not desktop.session_bar.identity.text().endswith("system admin")

    # Forcing what the UI disabled: the hub refuses, and says so in the message bar.
    desktop.admin.rename_workspace("vera-space")
    qtbot.waitUntil(lambda: desktop.window.message_bar.isVisible(), timeout=TIMEOUT_MS)
    assert desktop.window.message_label.text() == (
        "Not allowed: Workspaces.RenameWorkspace needs the ADMIN role in workspace 'ml-team'; "
        "you have VIEWER."
    )
    desktop.admin.set_user_disabled("admin", True)
    qtbot.waitUntil(
        lambda: (
            desktop.window.message_label.text()
            == "Not allowed: Users.SetUserDisabled needs a system administrator."
        ),
        timeout=TIMEOUT_MS,
    )
    with admin_client(running_hub) as admin:
        assert admin.get_workspace(workspace="ml-team").name == "ml-team"
        assert not admin.get_user("admin").disabled
