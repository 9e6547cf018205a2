"""The Admin page's state: users, workspaces, members and API keys, and the actions on them.

Lists reload whenever the session's workspace changes; every action runs on a worker and
reloads what it changed. Secrets the hub shows once (one-time passwords, API key
secrets) go out through `secretIssued` and are not kept here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from modelfleet.client import (
    ApiKey,
    CreatedApiKey,
    CreatedUser,
    HubClient,
    Member,
    Role,
    User,
    Workspace,
)
from modelfleet.desktop.viewmodels.session import SessionViewModel
from modelfleet.desktop.workers import WorkerSlot

Action = Callable[[HubClient], Any]


class AdminViewModel(QObject):
    usersChanged = Signal(list)  # list[User]
    workspacesChanged = Signal(list)  # list[Workspace], archived included
    membersChanged = Signal(list)  # list[Member] of the current workspace
    apiKeysChanged = Signal(list)  # list[ApiKey] of the current workspace
    secretIssued = Signal(str, str, str)  # title, explanation, the secret (shown once)
    statusChanged = Signal(str)  # what the last action did
    failed = Signal(str)  # readable message of a failed load or action

    def __init__(self, session: SessionViewModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.users: list[User] = []
        self.workspaces: list[Workspace] = []
        self.members: list[Member] = []
        self.api_keys: list[ApiKey] = []
        self._slots = {name: WorkerSlot(self) for name in ("users", "ws", "members", "keys", "act")}
        session.workspaceChanged.connect(self.reload)
        self.failed.connect(session.errorRaised)

    # --- loading --------------------------------------------------------------------------

    def reload(self, _workspace: str = "") -> None:
        """Load every list the signed-in person may see for the current workspace."""
        perms = self.session.permissions
        if not perms.signed_in:
            for signal, attr in self._lists():
                setattr(self, attr, [])
                signal.emit([])
            return
        if perms.manage_users:
            self._load("users", lambda c: list(c.iter_users()), self.usersChanged, "users")
        self._load(
            "ws",
            lambda c: c.list_workspaces(include_archived=True),
            self.workspacesChanged,
            "workspaces",
        )
        ws = self.session.workspace
        if ws and perms.see_workspace:
            self._load(
                "members", lambda c: c.list_members(workspace=ws), self.membersChanged, "members"
            )
            self._load(
                "keys",
                lambda c: c.list_api_keys(include_revoked=True, workspace=ws),
                self.apiKeysChanged,
                "api_keys",
            )
        else:
            self.members, self.api_keys = [], []
            self.membersChanged.emit([])
            self.apiKeysChanged.emit([])

    def _lists(self) -> list[tuple[Any, str]]:
        return [
            (self.usersChanged, "users"),
            (self.workspacesChanged, "workspaces"),
            (self.membersChanged, "members"),
            (self.apiKeysChanged, "api_keys"),
        ]

    def _load(self, slot: str, fetch: Action, signal: Any, attr: str) -> None:
        def done(items: list[Any]) -> None:
            setattr(self, attr, items)
            signal.emit(items)

        self.session.run(
            self._slots[slot], f"load {attr}", lambda c, _t, _p: fetch(c), done, self.failed.emit
        )

    def _act(self, name: str, action: Action, done: Callable[[Any], None]) -> None:
        self.session.run(
            self._slots["act"], name, lambda c, _t, _p: action(c), done, self.failed.emit
        )

    def _field(self, label: str, value: str, expected: str) -> str | None:
        text = value.strip()
        if not text:
            self.failed.emit(f"{label}: expected {expected}")
            return None
        return text

    # --- users (system admins) ----------------------------------------------------------

    def create_user(
        self, username: str, display_name: str = "", system_admin: bool = False
    ) -> None:
        """Create a user with a hub-generated one-time password, shown once."""
        name = self._field("User name", username, "the new user's sign-in name")
        if name is None:
            return

        def done(created: CreatedUser) -> None:
            self.statusChanged.emit(f"Created user {created.user.username}.")
            self._show_password(created.user.username, created.one_time_password or "")
            self.reload()

        self._act(
            "create user",
            lambda c: c.create_user(
                name, display_name=display_name.strip(), system_admin=system_admin
            ),
            done,
        )

    def set_user_disabled(self, username: str, disabled: bool) -> None:
        verb = "Disabled" if disabled else "Enabled"
        self._act(
            f"{verb.lower()} user",
            lambda c: c.set_user_disabled(username, disabled),
            lambda _u: self._changed(f"{verb} {username}."),
        )

    def set_system_admin(self, username: str, system_admin: bool) -> None:
        what = "now a system admin" if system_admin else "no longer a system admin"
        self._act(
            "set system admin",
            lambda c: c.set_system_admin(username, system_admin),
            lambda _u: self._changed(f"{username} is {what}."),
        )

    def reset_password(self, username: str) -> None:
        def done(password: str) -> None:
            self.statusChanged.emit(f"Reset the password of {username}.")
            self._show_password(username, password)

        self._act("reset password", lambda c: c.reset_password(username), done)

    def _show_password(self, username: str, password: str) -> None:
        if password:
            self.secretIssued.emit(
                f"One-time password for {username}",
                f"Give this password to {username} over a safe channel; it is shown only now.",
                password,
            )

    # --- workspaces -----------------------------------------------------------------------

    def create_workspace(self, name: str, description: str = "") -> None:
        text = self._field("Workspace name", name, "a name for the new workspace")
        if text is None:
            return
        self._act(
            "create workspace",
            lambda c: c.create_workspace(text, description.strip()),
            lambda w: self._workspaces_changed(f"Created workspace {w.name}."),
        )

    def rename_workspace(self, new_name: str) -> None:
        text = self._field("New name", new_name, "the workspace's new name")
        ws = self.session.workspace
        if text is None or ws is None:
            return

        def done(workspace: Workspace) -> None:
            self._workspaces_changed(f"Renamed workspace {ws} to {workspace.name}.")
            self.session.switch_workspace(workspace.name)

        self._act("rename workspace", lambda c: c.rename_workspace(text, workspace=ws), done)

    def archive_workspace(self) -> None:
        ws = self.session.workspace
        if ws is None:
            return
        self._act(
            "archive workspace",
            lambda c: c.archive_workspace(workspace=ws),
            lambda _w: self._workspaces_changed(f"Archived workspace {ws} (now read-only)."),
        )

    def _workspaces_changed(self, status: str) -> None:
        self.statusChanged.emit(status)
        self.session.refresh_workspaces()
        self.reload()

    # --- members --------------------------------------------------------------------------

    def set_member(self, username: str, role: Role) -> None:
        """Add `username` to the current workspace with `role`, or change their role."""
        name = self._field("User", username, "the user name to add")
        ws = self.session.workspace
        if name is None or ws is None:
            return
        self._act(
            "set member",
            lambda c: c.set_member(name, role, workspace=ws),
            lambda m: self._changed(f"{m.username} is {role.value} in {ws}."),
        )

    def remove_member(self, username: str) -> None:
        ws = self.session.workspace
        if ws is None:
            return
        self._act(
            "remove member",
            lambda c: c.remove_member(username, workspace=ws),
            lambda _r: self._changed(f"Removed {username} from {ws}."),
        )

    # --- API keys -------------------------------------------------------------------------

    def create_api_key(self, name: str, role: Role) -> None:
        text = self._field("Key name", name, "a name saying what the key is for")
        ws = self.session.workspace
        if text is None or ws is None:
            return

        def done(created: CreatedApiKey) -> None:
            self._changed(f"Created API key {created.key.name}.")
            self.secretIssued.emit(
                f"API key {created.key.name}",
                f"The secret of this {role.value} key for {ws}. Copy it now: the hub stores "
                "only a hash and will not show it again.",
                created.secret,
            )

        self._act("create API key", lambda c: c.create_api_key(text, role, workspace=ws), done)

    def revoke_api_key(self, key: ApiKey) -> None:
        ws = self.session.workspace
        self._act(
            "revoke API key",
            lambda c: c.revoke_api_key(key.id, workspace=ws),
            lambda _k: self._changed(f"Revoked API key {key.name}."),
        )

    def _changed(self, status: str) -> None:
        self.statusChanged.emit(status)
        self.reload()

    def shutdown(self) -> None:
        for slot in self._slots.values():
            slot.cancel()
