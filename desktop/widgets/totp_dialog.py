"""Two-step sign-in (TOTP) enrolment: a QR code of the otpauth URI, the secret as text,
a current code to confirm with, then the recovery codes, shown once."""

from __future__ import annotations

from typing import Any

import qrcode
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from modelfleet.client._signin_calls import TotpEnrolment
from modelfleet.desktop.viewmodels.session import SessionViewModel
from modelfleet.desktop.widgets.theme import MARGIN, SPACING, styled_label
from modelfleet.desktop.workers import WorkerSlot

QR_MODULE_PX = 5  # pixels per QR module: about 200 px for a typical otpauth URI


def qr_matrix(text: str) -> list[list[bool]]:
    """The QR code of `text` as rows of modules (True = dark), quiet zone included."""
    code: Any = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    code.add_data(text)
    code.make(fit=True)
    return [[bool(module) for module in row] for row in code.get_matrix()]


def qr_image(matrix: list[list[bool]], module_px: int = QR_MODULE_PX) -> QImage:
    """`matrix` painted black on white, `module_px` square pixels per module (no PIL)."""
    size = len(matrix) * module_px
    image = QImage(size, size, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    try:
        for y, row in enumerate(matrix):
            for x, dark in enumerate(row):
                if dark:
                    painter.fillRect(
                        x * module_px, y * module_px, module_px, module_px, QColor("black")
                    )
    finally:
        painter.end()
    return image


def grouped_secret(secret: str) -> str:
    """The base32 secret in groups of four, easier to type into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


class TotpDialog(QDialog):
    """Non-blocking (`open()`): enrolment starts on a worker as soon as the dialog is built."""

    def __init__(self, session: SessionViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.enrolment: TotpEnrolment | None = None
        self.matrix: list[list[bool]] = []
        self.recovery_codes: list[str] = []
        self._slot = WorkerSlot(self)
        self.setWindowTitle("Two-step sign-in")
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(MARGIN, MARGIN, MARGIN, MARGIN)
        layout.setSpacing(SPACING)
        layout.addWidget(styled_label("Turn on two-step sign-in", "PageTitle"))
        self.intro = QLabel(
            "Scan the QR code with an authenticator app (or type the secret into it), then "
            "enter the 6-digit code the app shows. From then on, signing in asks for a code "
            "after the password."
        )
        self.intro.setWordWrap(True)
        layout.addWidget(self.intro)
        row = QHBoxLayout()
        self.qr_label = QLabel("Preparing…")
        self.qr_label.setMinimumSize(160, 160)
        self.qr_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.qr_label.setToolTip("The account's otpauth address as a QR code")
        row.addWidget(self.qr_label)
        side = QVBoxLayout()
        side.addWidget(styled_label("Secret (for typing in by hand)", "Muted"))
        self.secret_label = QLabel("")
        self.secret_label.setFont(QFont("monospace", 11))
        self.secret_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.secret_label.setWordWrap(True)
        side.addWidget(self.secret_label)
        side.addWidget(styled_label("Code from the app", "Muted"))
        self.code_edit = QLineEdit(placeholderText="123456")
        self.code_edit.setToolTip("The 6-digit code the authenticator app shows now")
        self.code_edit.setMaxLength(6)
        self.code_edit.returnPressed.connect(self.confirm)
        side.addWidget(self.code_edit)
        self.confirm_button = QPushButton("Turn on")
        self.confirm_button.setToolTip("Check the code with the hub and turn two-step sign-in on")
        self.confirm_button.setEnabled(False)
        self.confirm_button.clicked.connect(self.confirm)
        side.addWidget(self.confirm_button)
        side.addStretch(1)
        row.addLayout(side, 1)
        self.enrol_panel = QWidget()
        self.enrol_panel.setLayout(row)
        layout.addWidget(self.enrol_panel)
        self.error_label = styled_label("", "FieldError")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        layout.addWidget(self.error_label)
        self.codes_note = QLabel(
            "<b>Two-step sign-in is on.</b> Keep these recovery codes somewhere safe: each "
            "signs you in once without the app, and they are not shown again."
        )
        self.codes_note.setWordWrap(True)
        self.codes_note.hide()
        layout.addWidget(self.codes_note)
        self.codes_view = QPlainTextEdit()
        self.codes_view.setReadOnly(True)
        self.codes_view.setFont(QFont("monospace", 11))
        self.codes_view.hide()
        layout.addWidget(self.codes_view)
        buttons = QDialogButtonBox()
        self.close_button = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.close_button.setToolTip("Close; an enrolment not confirmed stays off")
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.finished.connect(lambda _result: self._slot.cancel())
        session.run(
            self._slot,
            "enrol TOTP",
            lambda client, _t, _p: client.enroll_totp(),
            self._on_enrolled,
            self._show_error,
        )

    def confirm(self) -> None:
        code = self.code_edit.text().strip()
        if len(code) != 6 or not code.isdigit():
            self._show_error("Code: expected the 6 digits your authenticator app shows now")
            return
        self.error_label.hide()
        self.confirm_button.setEnabled(False)
        self.session.run(
            self._slot,
            "confirm TOTP",
            lambda client, _t, _p: client.confirm_totp(code),
            self._on_confirmed,
            self._on_confirm_failed,
        )

    def _on_enrolled(self, enrolment: TotpEnrolment) -> None:
        self.enrolment = enrolment
        self.matrix = qr_matrix(enrolment.otpauth_uri)
        self.qr_label.setPixmap(QPixmap.fromImage(qr_image(self.matrix)))
        self.secret_label.setText(grouped_secret(enrolment.secret))
        self.secret_label.setToolTip(enrolment.secret)
        self.confirm_button.setEnabled(True)
        self.code_edit.setFocus()

    def _on_confirmed(self, codes: list[str]) -> None:
        self.recovery_codes = codes
        self.enrol_panel.hide()
        self.intro.hide()
        self.error_label.hide()
        self.codes_view.setPlainText("\n".join(codes))
        self.codes_note.show()
        self.codes_view.show()
        self.close_button.setText("Done")

    def _on_confirm_failed(self, message: str) -> None:
        self.confirm_button.setEnabled(True)
        self._show_error(message)

    def _show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.show()
