"""The Admin page's tabs: users, workspaces, members and API keys (widgets only, no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from modelfleet.client import ApiKey, Member, Role, User, Workspace
from modelfleet.desktop.services.permissions import Permissions
from modelfleet.desktop.viewmodels.admin import AdminViewModel
from modelfleet.desktop.widgets.prompts import confirm
from modelfleet.desktop.widgets.theme import SPACING


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else "-"


def _button(text: str, tooltip: str) -> QPushButton:
    button = QPushButton(text)
    button.setToolTip(tooltip)
    return button


def _edit(placeholder: str, tooltip: str) -> QLineEdit:
    edit = QLineEdit(placeholderText=placeholder)
    edit.setToolTip(tooltip)
    edit.setMinimumWidth(200)
    return edit


def _role_combo(tooltip: str, roles: Sequence[Role] = tuple(Role)) -> QComboBox:
    combo = QComboBox()
    combo.setToolTip(tooltip)
    for role in roles:
        combo.addItem(role.value, role)
    return combo


def _chosen_role(combo: QComboBox) -> Role | None:
    # Qt hands a StrEnum item data back as a plain str.
    value = combo.currentData()
    return Role(value) if value else None


class RowsModel(QAbstractTableModel):
    """Rows of display strings: a refill is one reset, and only visible cells are asked for."""

    def __init__(self, headers: Sequence[str], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.headers = tuple(headers)
        self.rows: list[Sequence[str]] = []

    def set_rows(self, rows: list[Sequence[str]]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.headers)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.headers[section]
        return None

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if role == Qt.ItemDataRole.DisplayRole:
            return self.rows[index.row()][index.column()]
        return None


class ListTab(QWidget):
    """A form row, a table of rows, and buttons acting on the selected row."""

    headers: tuple[str, ...] = ()

    def __init__(self, vm: AdminViewModel) -> None:
        super().__init__()
        self.vm = vm
        self.layout_ = QVBoxLayout(self)
        self.layout_.setSpacing(SPACING)
        self.model = RowsModel(self.headers, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setAlternatingRowColors(True)
        self.table.selectionModel().selectionChanged.connect(self.update_actions)

    def row(self, *widgets: QWidget, stretch: bool = True) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(SPACING)
        for widget in widgets:
            row.addWidget(widget)
        if stretch:
            row.addStretch(1)
        self.layout_.addLayout(row)
        return row

    def fill(self, rows: list[Sequence[str]]) -> None:
        self.model.set_rows(rows)
        self.update_actions()

    def cell(self, row: int, column: int) -> str:
        return str(self.model.rows[row][column])

    def row_count(self) -> int:
        return len(self.model.rows)

    def selected(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def update_actions(self) -> None:
        """Enable the buttons the permissions and the selection allow."""


class UsersTab(ListTab):
    headers = ("User", "Display name", "System admin", "Disabled", "Created")

    def __init__(self, vm: AdminViewModel) -> None:
        super().__init__(vm)
        self.users: list[User] = []
        self.username_edit = _edit("user name", "Sign-in name of the new user")
        self.display_edit = _edit("display name (optional)", "Full name shown in lists")
        self.admin_box = QCheckBox("System admin")
        self.admin_box.setToolTip("Give the new user every right on the hub")
        self.create_button = _button(
            "Create user", "Create the user; a one-time password is shown once"
        )
        self.create_button.clicked.connect(self.submit)
        self.row(self.username_edit, self.display_edit, self.admin_box, self.create_button)
        self.layout_.addWidget(self.table, 1)
        self.disable_button = _button("Disable", "Disable or enable the selected user's sign-in")
        self.reset_button = _button("Reset password", "Replace the password with a one-time one")
        self.admin_button = _button("Make system admin", "Grant or revoke system admin rights")
        self.disable_button.clicked.connect(self.toggle_disabled)
        self.reset_button.clicked.connect(self.reset_password)
        self.admin_button.clicked.connect(self.toggle_admin)
        self.row(self.disable_button, self.reset_button, self.admin_button)
        vm.usersChanged.connect(self.show_users)
        if vm.users:  # loaded before the page was first shown
            self.show_users(vm.users)

    def show_users(self, users: list[User]) -> None:
        self.users = users
        self.fill(
            [
                (
                    u.username,
                    u.display_name,
                    "yes" if u.system_admin else "",
                    "disabled" if u.disabled else "",
                    _when(u.created_at),
                )
                for u in users
            ]
        )

    def current(self) -> User | None:
        row = self.selected()
        return self.users[row] if row is not None and row < len(self.users) else None

    def update_actions(self) -> None:
        user = self.current()
        for button in (self.disable_button, self.reset_button, self.admin_button):
            button.setEnabled(user is not None)
        self.disable_button.setText("Enable" if user and user.disabled else "Disable")
        self.admin_button.setText(
            "Revoke system admin" if user and user.system_admin else "Make system admin"
        )

    def submit(self) -> None:
        self.vm.create_user(
            self.username_edit.text(), self.display_edit.text(), self.admin_box.isChecked()
        )
        self.username_edit.clear()
        self.display_edit.clear()
        self.admin_box.setChecked(False)

    def toggle_disabled(self) -> None:
        user = self.current()
        if user is None:
            return
        if user.disabled:
            self.vm.set_user_disabled(user.username, False)
        elif confirm(
            self,
            "Disable user",
            f"Disable {user.username}? They can no longer sign "
            "in, and their API keys stop working until enabled again.",
            "Disable",
        ):
            self.vm.set_user_disabled(user.username, True)

    def reset_password(self) -> None:
        user = self.current()
        if user and confirm(
            self,
            "Reset password",
            f"Reset the password of {user.username}? Their current password stops working at once.",
            "Reset",
        ):
            self.vm.reset_password(user.username)

    def toggle_admin(self) -> None:
        user = self.current()
        if user is None:
            return
        grant = not user.system_admin
        text = (
            f"Make {user.username} a system admin? They get every right in every workspace."
            if grant
            else f"Revoke the system admin rights of {user.username}?"
        )
        if confirm(self, "System admin", text, "Grant" if grant else "Revoke"):
            self.vm.set_system_admin(user.username, grant)


class WorkspacesTab(ListTab):
    headers = ("Workspace", "Description", "Your role", "State", "Created")

    def __init__(self, vm: AdminViewModel) -> None:
        super().__init__(vm)
        self.name_edit = _edit("new workspace name", "Name of the workspace to create")
        self.description_edit = _edit("description (optional)", "What the workspace is for")
        self.create_button = _button("Create workspace", "Create a workspace; you become its admin")
        self.create_button.clicked.connect(self.submit)
        self.row(self.name_edit, self.description_edit, self.create_button)
        self.layout_.addWidget(self.table, 1)
        self.rename_edit = _edit(
            "new name of the current workspace", "New name for the current workspace"
        )
        self.rename_button = _button("Rename current", "Rename the workspace chosen at the top")
        self.archive_button = _button("Archive current…", "Make the current workspace read-only")
        self.rename_button.clicked.connect(self.rename)
        self.archive_button.clicked.connect(self.archive)
        self.row(self.rename_edit, self.rename_button, self.archive_button)
        vm.workspacesChanged.connect(self.show_workspaces)
        if vm.workspaces:  # loaded before the page was first shown
            self.show_workspaces(vm.workspaces)

    def show_workspaces(self, workspaces: list[Workspace]) -> None:
        self.fill(
            [
                (
                    w.name,
                    w.description,
                    w.my_role.value if w.my_role else "-",
                    "archived" if w.archived else "active",
                    _when(w.created_at),
                )
                for w in workspaces
            ]
        )

    def apply(self, permissions: Permissions) -> None:
        for widget in (self.name_edit, self.description_edit, self.create_button):
            widget.setEnabled(permissions.create_workspace)
        for widget in (self.rename_edit, self.rename_button, self.archive_button):
            widget.setEnabled(permissions.administer_workspace)

    def submit(self) -> None:
        self.vm.create_workspace(self.name_edit.text(), self.description_edit.text())
        self.name_edit.clear()
        self.description_edit.clear()

    def rename(self) -> None:
        ws = self.vm.session.workspace
        new = self.rename_edit.text().strip()
        if confirm(
            self,
            "Rename workspace",
            f"Rename workspace {ws} to {new}? Scripts and "
            "notebooks that name it must use the new name.",
            "Rename",
        ):
            self.vm.rename_workspace(new)
            self.rename_edit.clear()

    def archive(self) -> None:
        ws = self.vm.session.workspace
        if confirm(
            self,
            "Archive workspace",
            f"Archive workspace {ws}? It becomes read-only "
            "for everyone and leaves the workspace switcher.",
            "Archive",
        ):
            self.vm.archive_workspace()


class MembersTab(ListTab):
    headers = ("User", "Role", "Added")

    def __init__(self, vm: AdminViewModel) -> None:
        super().__init__(vm)
        self.members: list[Member] = []
        self.can_edit = False
        self.user_edit = _edit("user name", "User to add to the current workspace")
        self.role_combo = _role_combo("Role the user gets in the current workspace")
        self.add_button = _button("Add member", "Add the user, or change their role if already in")
        self.add_button.clicked.connect(self.add)
        self.row(self.user_edit, self.role_combo, self.add_button)
        self.layout_.addWidget(self.table, 1)
        self.change_combo = _role_combo("New role for the selected member")
        self.change_button = _button("Change role…", "Give the selected member the chosen role")
        self.remove_button = _button("Remove…", "Remove the selected member from the workspace")
        self.change_button.clicked.connect(self.change_role)
        self.remove_button.clicked.connect(self.remove)
        self.row(self.change_combo, self.change_button, self.remove_button)
        vm.membersChanged.connect(self.show_members)
        if vm.members:  # loaded before the page was first shown
            self.show_members(vm.members)

    def show_members(self, members: list[Member]) -> None:
        self.members = members
        self.fill(
            [(m.username, m.role.value if m.role else "-", _when(m.added_at)) for m in members]
        )

    def current(self) -> Member | None:
        row = self.selected()
        return self.members[row] if row is not None and row < len(self.members) else None

    def apply(self, permissions: Permissions) -> None:
        self.can_edit = permissions.administer_workspace
        for widget in (self.user_edit, self.role_combo, self.add_button):
            widget.setEnabled(self.can_edit)
        self.update_actions()

    def update_actions(self) -> None:
        selected = self.current() is not None
        for widget in (self.change_combo, self.change_button, self.remove_button):
            widget.setEnabled(self.can_edit and selected)

    def add(self) -> None:
        role = _chosen_role(self.role_combo)
        if role is not None:
            self.vm.set_member(self.user_edit.text(), role)
            self.user_edit.clear()

    def change_role(self) -> None:
        member, role = self.current(), _chosen_role(self.change_combo)
        if (
            member
            and role
            and confirm(
                self,
                "Change role",
                f"Change the role of {member.username} from {member.role} to {role.value}?",
                "Change",
            )
        ):
            self.vm.set_member(member.username, role)

    def remove(self) -> None:
        member = self.current()
        if member and confirm(
            self,
            "Remove member",
            f"Remove {member.username} from "
            f"{self.vm.session.workspace}? They lose access to it at once.",
            "Remove",
        ):
            self.vm.remove_member(member.username)


class ApiKeysTab(ListTab):
    headers = ("Name", "Prefix", "Role", "Created by", "Created", "Expires", "Last used", "Revoked")

    def __init__(self, vm: AdminViewModel) -> None:
        super().__init__(vm)
        self.keys: list[ApiKey] = []
        self.name_edit = _edit("key name, e.g. ci-deploy", "What the key is for")
        self.role_combo = _role_combo("Role of the key (at most your own)")
        self.create_button = _button("Create key", "Create an API key; its secret is shown once")
        self.create_button.clicked.connect(self.submit)
        self.row(self.name_edit, self.role_combo, self.create_button)
        self.layout_.addWidget(self.table, 1)
        self.revoke_button = _button(
            "Revoke…", "Revoke the selected key; calls with it fail at once"
        )
        self.revoke_button.clicked.connect(self.revoke)
        self.row(self.revoke_button)
        vm.apiKeysChanged.connect(self.show_keys)
        if vm.api_keys:  # loaded before the page was first shown
            self.show_keys(vm.api_keys)

    def show_keys(self, keys: list[ApiKey]) -> None:
        self.keys = keys
        self.fill(
            [
                (
                    k.name,
                    k.prefix,
                    k.role.value if k.role else "-",
                    k.created_by,
                    _when(k.created_at),
                    _when(k.expires_at),
                    _when(k.last_used_at),
                    _when(k.revoked_at),
                )
                for k in keys
            ]
        )

    def apply(self, permissions: Permissions) -> None:
        self.role_combo.clear()
        for role in permissions.grantable_roles():
            self.role_combo.addItem(role.value, role)
        for widget in (self.name_edit, self.role_combo, self.create_button):
            widget.setEnabled(permissions.see_workspace)

    def update_actions(self) -> None:
        row = self.selected()
        key = self.keys[row] if row is not None and row < len(self.keys) else None
        self.revoke_button.setEnabled(key is not None and key.revoked_at is None)

    def submit(self) -> None:
        role = _chosen_role(self.role_combo)
        if role is not None:
            self.vm.create_api_key(self.name_edit.text(), role)
            self.name_edit.clear()

    def revoke(self) -> None:
        row = self.selected()
        if row is None or row >= len(self.keys):
            return
        key = self.keys[row]
        if confirm(
            self,
            "Revoke API key",
            f"Revoke the API key {key.name} ({key.prefix}…)? "
            "Scripts using it stop working at once; this cannot be undone.",
            "Revoke",
        ):
            self.vm.revoke_api_key(key)
