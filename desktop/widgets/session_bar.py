"""The window chrome's session row: who is signed in where, the workspace switcher, sign in/out."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from modelfleet.client import Principal, Workspace
from modelfleet.desktop.viewmodels.session import SessionViewModel
from modelfleet.desktop.widgets.signin_dialog import SignInDialog
from modelfleet.desktop.widgets.theme import SPACING, styled_label
from modelfleet.desktop.widgets.totp_dialog import TotpDialog


class SessionBar(QFrame):
    """Switching the workspace here re-scopes every page (through the session view-model)."""

    def __init__(self, session: SessionViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.dialog: SignInDialog | None = None
        self.totp_dialog: TotpDialog | None = None
        self.setObjectName("SessionBar")
        row = QHBoxLayout(self)
        row.setContentsMargins(SPACING * 2, SPACING, SPACING * 2, SPACING)
        row.setSpacing(SPACING)
        self.workspace_label = QLabel("Workspace")
        self.workspace_combo = QComboBox()
        self.workspace_combo.setMinimumWidth(200)
        self.workspace_combo.setToolTip("Current workspace: every page shows this workspace's data")
        self.workspace_combo.currentTextChanged.connect(self._on_combo)
        self.identity = styled_label("Not signed in", "Muted")
        self.sign_button = QPushButton("Sign in…")
        self.sign_button.setToolTip("Sign in to a hub")
        self.sign_button.clicked.connect(self._on_sign_button)
        self.totp_button = QPushButton("Two-step sign-in…")
        self.totp_button.setToolTip(
            "Turn on two-step sign-in for your account: an authenticator app's code after the "
            "password"
        )
        self.totp_button.clicked.connect(self.open_totp)
        row.addWidget(self.workspace_label)
        row.addWidget(self.workspace_combo)
        row.addStretch(1)
        row.addWidget(self.identity)
        row.addWidget(self.totp_button)
        row.addWidget(self.sign_button)
        self._filling = False
        self._closed = False
        session.workspacesChanged.connect(self._fill)
        session.workspaceChanged.connect(self._select)
        session.signedIn.connect(self._on_signed_in)
        session.signedOut.connect(self._on_signed_out)
        session.passwordNeeded.connect(self.open_sign_in)
        self._on_signed_out()

    def open_sign_in(self, profile: str = "") -> SignInDialog:
        """Show the (non-blocking) sign-in dialog, optionally on a saved profile."""
        if self.dialog is None or not self.dialog.isVisible():
            self.dialog = SignInDialog(self.session, self.window())
        if profile:
            self.dialog.select_profile(profile)
        self.dialog.open()
        return self.dialog

    def open_totp(self) -> TotpDialog:
        """Show the (non-blocking) TOTP enrolment dialog for the signed-in user."""
        if self.totp_dialog is None or not self.totp_dialog.isVisible():
            self.totp_dialog = TotpDialog(self.session, self.window())
        self.totp_dialog.open()
        return self.totp_dialog

    def _on_sign_button(self) -> None:
        if self.session.signed is None:
            self.open_sign_in()
        else:
            self.session.sign_out()

    def _on_signed_in(self, principal: Principal) -> None:
        hub = self.session.signed.profile.hub if self.session.signed else ""
        admin = " · system admin" if principal.system_admin else ""
        self.identity.setText(f"{principal.username} @ {hub}{admin}")
        self.sign_button.setText("Sign out")
        self.sign_button.setToolTip("Sign out and forget the saved sign-in for this profile")
        self.workspace_combo.setEnabled(True)
        self.totp_button.setVisible(principal.kind == "user")

    def _on_signed_out(self) -> None:
        self.identity.setText("Not signed in")
        self.sign_button.setText("Sign in…")
        self.sign_button.setToolTip("Sign in to a hub")
        self.workspace_combo.setEnabled(False)
        self.totp_button.setVisible(False)

    def _fill(self, workspaces: list[Workspace]) -> None:
        self._filling = True
        try:
            self.workspace_combo.clear()
            for workspace in workspaces:
                role = workspace.my_role.value if workspace.my_role else "system admin"
                self.workspace_combo.addItem(workspace.name)
                self.workspace_combo.setItemData(
                    self.workspace_combo.count() - 1,
                    f"{workspace.description or workspace.name} ({role})",
                    Qt.ItemDataRole.ToolTipRole,
                )
            self._select(self.session.workspace or "")
        finally:
            self._filling = False

    def _select(self, name: str) -> None:
        index = self.workspace_combo.findText(name)
        if index >= 0 and index != self.workspace_combo.currentIndex():
            was, self._filling = self._filling, True
            self.workspace_combo.setCurrentIndex(index)
            self._filling = was

    def _on_combo(self, name: str) -> None:
        if not self._filling and name:
            self.session.switch_workspace(name)

    def shutdown(self) -> None:
        """Unsubscribe from the session (idempotent)."""
        if self._closed:
            return
        self._closed = True
        session = self.session
        session.workspacesChanged.disconnect(self._fill)
        session.workspaceChanged.disconnect(self._select)
        session.signedIn.disconnect(self._on_signed_in)
        session.signedOut.disconnect(self._on_signed_out)
        session.passwordNeeded.disconnect(self.open_sign_in)
