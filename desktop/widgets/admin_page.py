"""The Admin page: tabs for users, workspaces, members and API keys, gated by permissions."""

from __future__ import annotations

from PySide6.QtWidgets import QTabWidget, QToolButton, QVBoxLayout

from modelfleet.desktop.services.permissions import Permissions
from modelfleet.desktop.viewmodels.admin import AdminViewModel
from modelfleet.desktop.widgets.admin_tabs import ApiKeysTab, MembersTab, UsersTab, WorkspacesTab
from modelfleet.desktop.widgets.base import Page
from modelfleet.desktop.widgets.prompts import SecretDialog
from modelfleet.desktop.widgets.theme import MARGIN, SPACING, styled_label


class AdminPage(Page):
    """Tabs and buttons the person's role may not use are hidden or disabled; the hub
    enforces regardless, and its refusals show in the message bar."""

    def __init__(self, vm: AdminViewModel) -> None:
        super().__init__()
        self.vm = vm
        self.secret_dialog: SecretDialog | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(MARGIN, MARGIN, MARGIN, MARGIN)
        layout.setSpacing(SPACING)
        layout.addWidget(styled_label("Admin", "PageTitle"))
        self.scope_label = styled_label("Sign in to manage users, workspaces and keys.", "Muted")
        layout.addWidget(self.scope_label)
        self.status_label = styled_label("", "Muted")
        self.tabs = QTabWidget()
        self.users_tab = UsersTab(vm)
        self.workspaces_tab = WorkspacesTab(vm)
        self.members_tab = MembersTab(vm)
        self.keys_tab = ApiKeysTab(vm)
        self.tabs.addTab(self.users_tab, "Users")
        self.tabs.addTab(self.workspaces_tab, "Workspaces")
        self.tabs.addTab(self.members_tab, "Members")
        self.tabs.addTab(self.keys_tab, "API keys")
        tips = (
            "Hub users (system admins only)",
            "Workspaces you belong to; create, rename, archive",
            "Members of the current workspace and their roles",
            "API keys of the current workspace for scripts and CI",
        )
        for index, tip in enumerate(tips):
            self.tabs.setTabToolTip(index, tip)
        for button in self.tabs.tabBar().findChildren(QToolButton):
            button.setToolTip("Scroll the tabs")  # the tab bar's own scroll arrows
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.status_label)
        self.subscribe(vm.session.permissionsChanged, self.apply)
        self.subscribe(vm.session.workspaceChanged, self._on_workspace)
        self.subscribe(vm.statusChanged, self.status_label.setText)
        self.subscribe(vm.secretIssued, self.show_secret)
        self.apply(vm.session.permissions)

    def apply(self, permissions: Permissions) -> None:
        self.tabs.setTabVisible(0, permissions.manage_users)
        self.tabs.setTabVisible(1, permissions.signed_in)
        self.tabs.setTabVisible(2, permissions.see_workspace)
        self.tabs.setTabVisible(3, permissions.see_workspace)
        self.workspaces_tab.apply(permissions)
        self.members_tab.apply(permissions)
        self.keys_tab.apply(permissions)
        self._on_workspace(self.vm.session.workspace or "")

    def _on_workspace(self, workspace: str) -> None:
        perms = self.vm.session.permissions
        if not perms.signed_in:
            self.scope_label.setText("Sign in to manage users, workspaces and keys.")
            return
        role = perms.role.value if perms.role else "no role"
        admin = "system admin; " if perms.system_admin else ""
        self.scope_label.setText(f"Workspace {workspace or '-'} ({admin}your role: {role})")

    def show_secret(self, title: str, explanation: str, secret: str) -> None:
        """A one-time secret in its own (non-blocking) dialog with a copy button."""
        dialog = self.secret_dialog = SecretDialog(title, explanation, secret, self)
        dialog.open()

    def shutdown(self) -> None:
        if self.secret_dialog is not None:
            self.secret_dialog.close()
        super().shutdown()
