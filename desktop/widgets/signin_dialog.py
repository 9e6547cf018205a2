"""Sign-in: pick or name a connection profile, enter the password (and a TOTP code when the
account has two-step sign-in) or use single sign-on in the system browser, trust a new hub's
CA."""

from __future__ import annotations

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QFont
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from modelfleet.client import FileStore
from modelfleet.desktop.services.hub_session import HubCertificate
from modelfleet.desktop.viewmodels.session import SessionViewModel
from modelfleet.desktop.widgets.theme import MARGIN, SPACING, current_theme, styled_label


def grouped(fingerprint: str) -> str:
    """sha256:abcd... as colon-separated byte pairs in four lines, easier to compare aloud."""
    digest = fingerprint.removeprefix("sha256:").upper()
    pairs = [digest[i : i + 2] for i in range(0, len(digest), 2)]
    return "\n".join(":".join(pairs[i : i + 8]) for i in range(0, len(pairs), 8))


class TrustDialog(QDialog):
    """First connection to a hub: show its CA fingerprint and ask before pinning it."""

    def __init__(self, certificate: HubCertificate, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.certificate = certificate
        self.setWindowTitle("Trust this hub?")
        self.setMinimumWidth(560)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(MARGIN, MARGIN, MARGIN, MARGIN)
        layout.setSpacing(SPACING)
        layout.addWidget(styled_label("First connection to this hub", "PageTitle"))
        intro = QLabel(
            f"The hub at <b>{certificate.address}</b> presented this CA certificate. "
            "Compare its SHA-256 fingerprint with the one your administrator gave you "
            "(<code>modelfleet hub init</code> prints it). Trust it only if every pair matches: "
            "it will be pinned in this profile and any other certificate refused."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.fingerprint_label = QLabel(grouped(certificate.fingerprint))
        self.fingerprint_label.setFont(QFont("monospace", 11))
        self.fingerprint_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.fingerprint_label.setToolTip(certificate.fingerprint)
        layout.addWidget(self.fingerprint_label)
        details = styled_label(
            f"Subject: {certificate.subject}\nValid until: {certificate.not_after:%Y-%m-%d} (UTC)",
            "Muted",
        )
        layout.addWidget(details)
        buttons = QDialogButtonBox()
        self.trust_button = buttons.addButton(
            "Trust and sign in", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.trust_button.setToolTip("Pin this fingerprint in the profile and sign in")
        self.cancel_button = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setToolTip("Do not trust this hub; nothing is sent to it")
        self.cancel_button.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


class SignInDialog(QDialog):
    """Non-blocking (`open()`): the session view-model does the work and reports back."""

    def __init__(self, session: SessionViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.trust_dialog: TrustDialog | None = None
        self.setWindowTitle("Sign in to a modelfleet hub")
        self.setMinimumWidth(480)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(MARGIN, MARGIN, MARGIN, MARGIN)
        layout.setSpacing(SPACING)
        layout.addWidget(styled_label("Sign in", "PageTitle"))
        self.trust_alarm = QLabel()
        self.trust_alarm.setWordWrap(True)
        danger = current_theme().danger
        self.trust_alarm.setStyleSheet(
            f"background: {danger}; color: #ffffff; font-weight: 600; padding: 8px; "
            "border-radius: 4px;"
        )
        self.trust_alarm.hide()
        layout.addWidget(self.trust_alarm)

        form = QFormLayout()
        self.profile_combo = QComboBox()
        self.profile_combo.setEditable(True)
        self.profile_combo.setToolTip(
            "Connection profile: pick a saved one or type a new name (letters, digits, . _ -)"
        )
        self.profile_combo.addItems(session.book.names())
        profile_edit = self.profile_combo.lineEdit()
        assert profile_edit is not None  # the combo is editable
        profile_edit.setToolTip(self.profile_combo.toolTip())
        self.profile_combo.currentTextChanged.connect(self._load_profile)
        self.hub_edit = QLineEdit(placeholderText="hub.example.com:7443")
        self.hub_edit.setToolTip("The hub's address, host:port")
        self.user_edit = QLineEdit()
        self.user_edit.setToolTip("Your user name on the hub")
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setToolTip("Your password (never stored; the sign-in is kept instead)")
        self.password_edit.returnPressed.connect(self.submit)
        self.pin_label = styled_label("", "Muted")
        self.pin_label.setWordWrap(True)
        form.addRow("Profile", self.profile_combo)
        form.addRow("Hub address", self.hub_edit)
        form.addRow("User name", self.user_edit)
        form.addRow("Password", self.password_edit)
        self.code_edit = QLineEdit(placeholderText="123456 or a recovery code")
        self.code_edit.setToolTip(
            "The 6-digit code your authenticator app shows now, or one of your recovery codes"
        )
        self.code_edit.returnPressed.connect(self.submit)
        form.addRow("Code", self.code_edit)
        self.code_row = form.rowCount() - 1
        form.setRowVisible(self.code_row, False)
        form.addRow("", self.pin_label)
        self.form = form
        layout.addLayout(form)

        # Single sign-on: one button per provider the hub lists (fetched on a worker).
        self.sso_title = styled_label("Or sign in with single sign-on", "Muted")
        layout.addWidget(self.sso_title)
        self.sso_row = QHBoxLayout()
        self.sso_row.setSpacing(SPACING)
        self.sso_buttons: dict[str, QPushButton] = {}
        self.sso_find_button = QPushButton("Look for single sign-on")
        self.sso_find_button.setToolTip(
            "Ask the hub which identity providers you can sign in with (in your browser)"
        )
        self.sso_find_button.clicked.connect(self.find_sso)
        self.sso_row.addWidget(self.sso_find_button)
        self.sso_row.addStretch(1)
        layout.addLayout(self.sso_row)
        self.sso_status = QLabel()
        self.sso_status.setWordWrap(True)
        self.sso_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.sso_status.hide()
        layout.addWidget(self.sso_status)
        self.sso_cancel_button = QPushButton("Cancel single sign-on")
        self.sso_cancel_button.setToolTip("Stop waiting for the browser; nobody is signed in")
        self.sso_cancel_button.clicked.connect(session.cancel_sso)
        self.sso_cancel_button.hide()
        layout.addWidget(self.sso_cancel_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.sso_url = ""
        self.error_label = styled_label("", "FieldError")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        layout.addWidget(self.error_label)
        kept = session.service.store
        where = (
            "a private file (mode 0600) in the modelfleet data folder: no keyring is available"
            if isinstance(kept, FileStore)
            else kept.description
        )
        store = styled_label(f"Your sign-in (never the password) is kept in {where}.", "Muted")
        store.setToolTip(kept.description)
        store.setWordWrap(True)
        layout.addWidget(store)
        buttons = QDialogButtonBox()
        self.sign_in_button = QPushButton("Sign in")
        self.sign_in_button.setToolTip("Connect to the hub and sign in")
        self.sign_in_button.setDefault(True)
        buttons.addButton(self.sign_in_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.cancel_button = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setToolTip("Close without signing in")
        self.sign_in_button.clicked.connect(self.submit)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

        session.busyChanged.connect(self._on_busy)
        session.signInFailed.connect(self._show_error)
        session.trustFailed.connect(self._show_trust_alarm)
        session.trustRequested.connect(self._ask_trust)
        session.signedIn.connect(self._on_signed_in)
        session.secondFactorNeeded.connect(self._ask_code)
        session.ssoProvidersChanged.connect(self._show_providers)
        session.ssoBrowserNeeded.connect(self._open_browser)
        self.finished.connect(self._disconnect)
        self._load_profile(self.profile_combo.currentText())

    def select_profile(self, name: str) -> None:
        self.profile_combo.setCurrentText(name)
        self._load_profile(name)

    def _load_profile(self, name: str) -> None:
        self._set_code_visible(False)
        if name not in self.session.book.names():
            self.pin_label.setText("New profile: the hub's certificate will be shown to you first.")
            self._show_providers([])
            return
        profile = self.session.book.load(name)
        self.hub_edit.setText(profile.hub or "")
        self.user_edit.setText(profile.username or "")
        pinned = profile.hub_ca or ""
        self.pin_label.setText(f"Pinned CA: {pinned[:23]}…" if pinned else "No CA pinned yet.")
        self.pin_label.setToolTip(pinned or "The hub's CA is pinned on the first connection")
        self._show_providers([])
        if pinned and profile.hub:
            # A trusted hub: its SSO buttons are fetched without asking (on a worker).
            self.session.find_sso(name, profile.hub, quiet=True)

    def find_sso(self) -> None:
        self.error_label.hide()
        self.session.find_sso(self.profile_combo.currentText(), self.hub_edit.text())

    def sign_in_sso(self, provider: str) -> None:
        self.error_label.hide()
        self.trust_alarm.hide()
        self.session.sign_in_sso(self.profile_combo.currentText(), self.hub_edit.text(), provider)

    def _show_providers(self, providers: list[tuple[str, str]]) -> None:
        for button in self.sso_buttons.values():
            self.sso_row.removeWidget(button)
            button.deleteLater()
        self.sso_buttons = {}
        for index, (name, display) in enumerate(providers):
            button = QPushButton(f"Sign in with {display or name}")
            button.setToolTip(f"Open the system browser to sign in with {display or name}")
            button.clicked.connect(lambda _checked=False, name=name: self.sign_in_sso(name))
            self.sso_row.insertWidget(index, button)
            self.sso_buttons[name] = button
        self.sso_find_button.setVisible(not providers)

    def submit(self) -> None:
        self.error_label.hide()
        self.trust_alarm.hide()
        self.session.sign_in(
            self.profile_combo.currentText(),
            self.hub_edit.text(),
            self.user_edit.text(),
            self.password_edit.text(),
            self.code_edit.text() if self.form.isRowVisible(self.code_row) else "",
        )

    def _set_code_visible(self, visible: bool) -> None:
        self.form.setRowVisible(self.code_row, visible)
        if not visible:
            self.code_edit.clear()

    def _ask_code(self, message: str) -> None:
        self._set_code_visible(True)
        self.code_edit.clear()
        self.code_edit.setFocus()
        self._show_error(message)

    def _open_browser(self, url: str) -> None:
        self.sso_url = url
        self.sso_status.setText(
            "Continue in your browser. If it did not open, go to this address:\n" + url
        )
        self.sso_status.show()
        self.sso_cancel_button.show()
        if not QDesktopServices.openUrl(QUrl(url)):
            self.sso_status.setText(
                "Could not open a browser here: open this address in one to sign in:\n" + url
            )

    def _on_busy(self, busy: bool) -> None:
        self.sign_in_button.setEnabled(not busy)
        self.sign_in_button.setText("Signing in…" if busy else "Sign in")
        for button in (*self.sso_buttons.values(), self.sso_find_button):
            button.setEnabled(not busy)
        if not busy:
            self.sso_status.hide()
            self.sso_cancel_button.hide()

    def _show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.show()

    def _show_trust_alarm(self, message: str) -> None:
        self.trust_alarm.setText(message)
        self.trust_alarm.show()

    def _ask_trust(self, certificate: HubCertificate) -> None:
        dialog = self.trust_dialog = TrustDialog(certificate, self)
        dialog.accepted.connect(lambda: self.session.accept_trust(certificate))
        dialog.rejected.connect(self.session.reject_trust)
        dialog.open()

    def _on_signed_in(self, _principal: object) -> None:
        self.password_edit.clear()
        self.code_edit.clear()
        self.accept()

    def _disconnect(self, _result: int) -> None:
        self.password_edit.clear()
        self.code_edit.clear()
        session = self.session
        session.secondFactorNeeded.disconnect(self._ask_code)
        session.ssoProvidersChanged.disconnect(self._show_providers)
        session.ssoBrowserNeeded.disconnect(self._open_browser)
        session.busyChanged.disconnect(self._on_busy)
        session.signInFailed.disconnect(self._show_error)
        session.trustFailed.disconnect(self._show_trust_alarm)
        session.trustRequested.disconnect(self._ask_trust)
        session.signedIn.disconnect(self._on_signed_in)
        session.cancel_sso()  # closing the dialog stops waiting for the browser
        session.stop_finding_sso()
