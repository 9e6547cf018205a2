"""The local-mode tool bar: the Quick Start action and the last step of its progress."""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QToolBar

from modelfleet.desktop.viewmodels.local_mode import LocalModeViewModel
from modelfleet.desktop.viewmodels.shell import ShellViewModel
from modelfleet.local import QuickStartResult, StackInfo, Step


class LocalModeBar(QToolBar):
    """Shown only in local mode; the action is enabled once the local hub runs."""

    def __init__(self, local: LocalModeViewModel, shell: ShellViewModel) -> None:
        super().__init__("Local mode")
        self.setObjectName("LocalModeBar")
        self.setMovable(False)
        self.local = local
        self.shell = shell
        self.quick_start = QAction("Quick Start", self)
        self.quick_start.setToolTip(
            "Train, register and deploy a sample fraud model on this machine, "
            "then send it live traffic (inputs drift after a while)"
        )
        self.quick_start.setEnabled(False)
        self.quick_start.triggered.connect(local.run_quick_start)
        self.addAction(self.quick_start)
        self.status = QLabel("Starting the local hub and agent…")
        self.addWidget(self.status)
        local.stepped.connect(self._on_step)
        local.stackReady.connect(self._on_stack_ready)
        local.quickStartReady.connect(self.quick_start.setEnabled)
        local.quickStartFinished.connect(self._on_finished)
        local.failed.connect(self._on_failed)

    def _on_step(self, step: Step) -> None:
        self.status.setText(f"{step.name}: {step.message}")

    def _on_stack_ready(self, info: StackInfo) -> None:
        self.status.setText(f"Local hub {info.hub_address} and agent {info.rest_url} running")

    def _on_finished(self, result: QuickStartResult) -> None:
        self.status.setText(
            f"Quick Start live: {result.model} v{result.version} at {result.infer_url}"
        )
        self.shell.select_key("monitoring")

    def _on_failed(self, message: str) -> None:
        self.status.setText("Local mode: failed (see the message bar)")
        self.shell.show_message(message)
