"""The deploy dialog: model version or alias -> environment -> selector, with a live preview
of the agents the deployment will reach."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QListWidget,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from modelfleet.client._fleet import Agent
from modelfleet.desktop.services.deployments_view import agents_text, deploy_text
from modelfleet.desktop.viewmodels.deployments import DeploymentsViewModel
from modelfleet.desktop.widgets.prompts import confirm
from modelfleet.desktop.widgets.theme import MARGIN, SPACING, styled_label

PREVIEW_DEBOUNCE_MS = 300


class DeployDialog(QDialog):
    def __init__(
        self, vm: DeploymentsViewModel, model: str = "", version: int = 0,
        parent: QWidget | None = None,
    ) -> None:  # fmt: skip
        super().__init__(parent)
        self.vm = vm
        self.setWindowTitle("Deploy a model")
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(MARGIN, MARGIN, MARGIN, MARGIN)
        layout.setSpacing(SPACING)
        form = QFormLayout()
        self.model_edit = QLineEdit(model)
        self.model_edit.setToolTip("Registered model name")
        self.version_spin = QSpinBox()
        self.version_spin.setRange(0, 1_000_000)
        self.version_spin.setSpecialValueText("by alias")
        self.version_spin.setValue(version)
        self.version_spin.setToolTip("Model version (0 = use the alias below)")
        self.alias_edit = QLineEdit(placeholderText="e.g. production (when no version)")
        self.alias_edit.setToolTip("Alias to deploy instead of a fixed version")
        self.name_edit = QLineEdit(model)
        self.name_edit.setToolTip("Deployment name: the URL path clients call")
        self.env_combo = QComboBox()
        self.env_combo.setEditable(True)
        self.env_combo.addItems(vm.environments())
        self.env_combo.setToolTip("Environment whose agents serve the deployment")
        if (env_line := self.env_combo.lineEdit()) is not None:
            env_line.setToolTip(self.env_combo.toolTip())
        self.selector_edit = QLineEdit(placeholderText="zone=eu,gpu=true (optional)")
        self.selector_edit.setToolTip("Only agents with all these labels")
        form.addRow("Model", self.model_edit)
        form.addRow("Version", self.version_spin)
        form.addRow("Alias", self.alias_edit)
        form.addRow("Deployment", self.name_edit)
        form.addRow("Environment", self.env_combo)
        form.addRow("Agent selector", self.selector_edit)
        layout.addLayout(form)
        self.preview_label = styled_label("", "Muted")
        self.preview_list = QListWidget()
        self.preview_list.setToolTip("Agents this deployment will reach, as the hub sees them now")
        layout.addWidget(self.preview_label)
        layout.addWidget(self.preview_list, 1)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.deploy_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.deploy_button.setText("Deploy")
        self.deploy_button.setToolTip("Deploy (asks first, saying what it will do)")
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PREVIEW_DEBOUNCE_MS)
        self._timer.timeout.connect(self.refresh_preview)
        self.env_combo.currentTextChanged.connect(lambda _t: self._timer.start())
        self.selector_edit.textChanged.connect(lambda _t: self._timer.start())
        vm.previewChanged.connect(self.show_preview)
        vm.deployed.connect(self._on_deployed)
        self.finished.connect(self._disconnect)
        self.env_combo.setCurrentText("staging")
        self.refresh_preview()

    def refresh_preview(self) -> None:
        self.preview_label.setText("Looking for agents…")
        self.vm.preview_agents(self.env_combo.currentText(), self.selector_edit.text())

    def show_preview(self, agents: list[Agent]) -> None:
        self.preview_label.setText(f"Will reach {agents_text(agents)}:")
        self.preview_list.clear()
        for agent in agents:
            labels = ",".join(f"{k}={v}" for k, v in sorted(agent.labels.items()))
            self.preview_list.addItem(
                f"{agent.hostname or agent.id} · {agent.state} · {labels or 'no labels'}"
            )

    def submit(self) -> None:
        env, model = self.env_combo.currentText().strip(), self.model_edit.text().strip()
        name, alias = self.name_edit.text().strip(), self.alias_edit.text().strip()
        version = self.version_spin.value()
        selector = self.selector_edit.text().strip()
        text = deploy_text(name, env, model, version, alias, selector, self.vm.preview)
        if confirm(self, "Deploy", text, "Deploy"):
            self.vm.deploy(name, env, model, version, alias, selector, "deployed from the desktop")

    def _on_deployed(self, _deployment: object) -> None:
        self.accept()

    def _disconnect(self, _result: int) -> None:
        self._timer.stop()
        self.vm.previewChanged.disconnect(self.show_preview)
        self.vm.deployed.disconnect(self._on_deployed)
