"""Questions the app asks: confirmations, a file to save to, and secrets shown exactly once.

`Prompts.confirm_hook` and `Prompts.save_path_hook` let tests answer without a modal loop;
left unset, real dialogs ask the person.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QFont, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from modelfleet.desktop.widgets.theme import MARGIN, SPACING, styled_label


class Prompts:
    """Replaceable answers to the app's questions (tests set these; None means "ask")."""

    # (title, text) -> proceed?
    confirm_hook: Callable[[str, str], bool] | None = None
    # (title, suggested file name) -> chosen path, or None for cancel.
    save_path_hook: Callable[[str, str], str | None] | None = None


def confirm(parent: QWidget | None, title: str, text: str, action: str) -> bool:
    """Ask before a destructive action; `text` says what it will do. Cancel is the default."""
    if Prompts.confirm_hook is not None:
        return Prompts.confirm_hook(title, text)
    box = QMessageBox(
        QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Cancel, parent
    )
    proceed = box.addButton(action, QMessageBox.ButtonRole.DestructiveRole)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is proceed


def ask_save_path(parent: QWidget | None, title: str, suggested: str, filters: str) -> str | None:
    if Prompts.save_path_hook is not None:
        return Prompts.save_path_hook(title, suggested)
    path, _ = QFileDialog.getSaveFileName(parent, title, suggested, filters)
    return path or None


class SecretDialog(QDialog):
    """Shows a secret once, with a copy button; the text is wiped when the dialog closes."""

    def __init__(self, title: str, explanation: str, secret: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(MARGIN, MARGIN, MARGIN, MARGIN)
        layout.setSpacing(SPACING)
        layout.addWidget(styled_label(title, "PageTitle"))
        about = QLabel(explanation)
        about.setWordWrap(True)
        layout.addWidget(about)
        row = QHBoxLayout()
        self.secret_edit = QLineEdit(secret)
        self.secret_edit.setReadOnly(True)
        self.secret_edit.setFont(QFont("monospace"))
        self.secret_edit.setToolTip("Shown only now: copy it somewhere safe")
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the secret to the clipboard")
        self.copy_button.clicked.connect(self.copy)
        row.addWidget(self.secret_edit, 1)
        row.addWidget(self.copy_button)
        layout.addLayout(row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close = buttons.button(QDialogButtonBox.StandardButton.Close)
        close.setText("I have saved it")
        close.setToolTip("Close; the secret cannot be shown again")
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        layout.addWidget(buttons)
        self.finished.connect(lambda _result: self.secret_edit.clear())

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.secret_edit.text())
        self.copy_button.setText("Copied")
