"""The Deployments page: deployments with per-agent status, the revision timeline, and
deploy, promote, canary, rollback and undeploy (each destructive one confirmed)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QSlider,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from modelfleet.client._fleet import Deployment, DeploymentEvent
from modelfleet.desktop.services.deployments_view import (
    canary_split,
    promote_text,
    rollback_text,
    targets_text,
    traffic_text,
    undeploy_text,
)
from modelfleet.desktop.viewmodels.deployments import DeploymentsViewModel
from modelfleet.desktop.widgets.admin_tabs import RowsModel
from modelfleet.desktop.widgets.base import Page
from modelfleet.desktop.widgets.deploy_dialog import DeployDialog
from modelfleet.desktop.widgets.experiments_page import _button, _table
from modelfleet.desktop.widgets.prompts import confirm
from modelfleet.desktop.widgets.theme import MARGIN, SPACING, styled_label


def _when(deployment_time: object) -> str:
    return f"{deployment_time:%Y-%m-%d %H:%M:%S}" if deployment_time else "-"


class DeploymentsPage(Page):
    def __init__(self, vm: DeploymentsViewModel) -> None:
        super().__init__()
        self.vm = vm
        self.dialog: DeployDialog | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(MARGIN, MARGIN, MARGIN, MARGIN)
        layout.setSpacing(SPACING)
        top = QHBoxLayout()
        top.addWidget(styled_label("Deployments", "PageTitle"))
        top.addStretch(1)
        self.refresh_button = _button("Refresh", "Reload deployments and agent status")
        self.refresh_button.clicked.connect(lambda: vm.reload())
        self.deploy_button = _button("Deploy…", "Deploy a model version to an environment")
        self.deploy_button.clicked.connect(lambda: self.open_deploy_dialog())
        top.addWidget(self.refresh_button)
        top.addWidget(self.deploy_button)
        layout.addLayout(top)
        splitter = QSplitter(Qt.Orientation.Vertical)
        self.model = RowsModel(
            ("Deployment", "Environment", "Revision", "Serving", "Selector", "Agents ready",
             "Updated", "By"), self,
        )  # fmt: skip
        self.table = _table(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setToolTip("Active deployments of this workspace")
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        splitter.addWidget(self.table)
        splitter.addWidget(self._build_detail())
        layout.addWidget(splitter, 1)
        self.status_label = styled_label("", "Muted")
        layout.addWidget(self.status_label)
        self.subscribe(vm.deploymentsChanged, self.show_deployments)
        self.subscribe(vm.selectedChanged, self.show_selected)
        self.subscribe(vm.eventsChanged, self.show_events)
        self.subscribe(vm.statusChanged, self.status_label.setText)
        if vm.deployments:  # loaded before the page was first shown
            self.show_deployments(vm.deployments)
        self.show_selected(None)

    def _build_detail(self) -> QWidget:
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        self.detail_label = QLabel()
        column.addWidget(self.detail_label)
        actions = QHBoxLayout()
        self.promote_combo = QComboBox()
        self.promote_combo.setEditable(True)
        self.promote_combo.setToolTip("Environment to promote to")
        if (promote_line := self.promote_combo.lineEdit()) is not None:
            promote_line.setToolTip("Environment to promote to")
        self.promote_button = _button("Promote", "Promote this deployment to the environment")
        self.promote_button.clicked.connect(self.promote)
        self.canary_version = QSpinBox()
        self.canary_version.setRange(1, 1_000_000)
        self.canary_version.setPrefix("canary v")
        self.canary_version.setToolTip("Model version that gets the canary share")
        self.canary_slider = QSlider(Qt.Orientation.Horizontal)
        self.canary_slider.setRange(0, 100)
        self.canary_slider.setSingleStep(5)
        self.canary_slider.setPageStep(10)
        self.canary_slider.setToolTip("Share of requests sent to the canary version")
        self.canary_label = QLabel("0%")
        self.canary_slider.valueChanged.connect(lambda v: self.canary_label.setText(f"{v}%"))
        self.traffic_button = _button("Set traffic", "Apply the canary split")
        self.traffic_button.clicked.connect(self.set_traffic)
        self.rollback_button = _button("Roll back", "Return to the previous revision")
        self.rollback_button.clicked.connect(self.rollback)
        self.undeploy_button = _button("Undeploy", "Stop serving this deployment everywhere")
        self.undeploy_button.clicked.connect(self.undeploy)
        for widget in (self.promote_combo, self.promote_button, self.canary_version,
                       self.canary_slider, self.canary_label, self.traffic_button,
                       self.rollback_button, self.undeploy_button):  # fmt: skip
            actions.addWidget(widget)
        column.addLayout(actions)
        lists = QHBoxLayout()
        self.agents_model = RowsModel(("Agent", "Revision", "State", "Reason", "Updated"), self)
        self.agents_table = _table(self.agents_model)
        self.agents_table.setToolTip("What each agent reports for this deployment")
        self.timeline = QListWidget()
        self.timeline.setToolTip("Revision timeline, newest first")
        lists.addWidget(self.agents_table, 3)
        lists.addWidget(self.timeline, 2)
        column.addLayout(lists, 1)
        return box

    # --- view ----------------------------------------------------------------------------------

    def show_deployments(self, deployments: list[Deployment]) -> None:
        self.model.set_rows(
            [(d.name, d.environment, str(d.revision), targets_text(d.targets),
              d.selector or "all",
              f"{sum(a.state == 'ready' for a in d.agents)}/{len(d.agents)}",
              _when(d.updated_at), d.updated_by) for d in deployments]
        )  # fmt: skip
        if self.vm.selected is not None:
            key = (self.vm.selected.name, self.vm.selected.environment)
            for row, d in enumerate(deployments):
                if (d.name, d.environment) == key:
                    self.table.selectRow(row)

    def _on_selection(self, *_args: object) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows and rows[0].row() < len(self.vm.deployments):
            chosen = self.vm.deployments[rows[0].row()]
            if chosen is not self.vm.selected:
                self.vm.select(chosen)

    def show_selected(self, d: Deployment | None) -> None:
        for widget in (self.promote_button, self.traffic_button, self.rollback_button,
                       self.undeploy_button):  # fmt: skip
            widget.setEnabled(d is not None)
        self.rollback_button.setEnabled(d is not None and d.revision > 1)
        if d is None:
            self.detail_label.setText("Select a deployment to act on it.")
            self.agents_model.set_rows([])
            return
        self.detail_label.setText(
            f"{d.name} in {d.environment}: revision {d.revision}, serving "
            f"{targets_text(d.targets)}, {d.state}"
        )
        self.agents_model.set_rows(
            [(a.hostname or a.agent_id, str(a.revision), a.state, a.reason, _when(a.updated_at))
             for a in d.agents]
        )  # fmt: skip
        others = [e for e in self.vm.environments() if e != d.environment]
        self.promote_combo.clear()
        self.promote_combo.addItems(others)
        if "production" in others:
            self.promote_combo.setCurrentText("production")
        canary = [t for t in d.targets if t.percent < 100]
        if canary:
            smallest = min(canary, key=lambda t: t.percent)
            self.canary_version.setValue(smallest.model_version)
            self.canary_slider.setValue(smallest.percent)
        else:
            self.canary_version.setValue(d.targets[0].model_version + 1 if d.targets else 1)
            self.canary_slider.setValue(0)

    def show_events(self, events: list[DeploymentEvent]) -> None:
        self.timeline.clear()
        for e in events:
            reason = f" — {e.reason}" if e.reason else ""
            self.timeline.addItem(
                f"r{e.revision} {e.kind} · {targets_text(e.targets)} · {e.actor} · "
                f"{_when(e.time)}{reason}"
            )

    # --- actions -------------------------------------------------------------------------------

    def open_deploy_dialog(self, model: str = "", version: int = 0) -> DeployDialog:
        """The dialog, non-modal (tests and the Models page's Deploy… use it the same way)."""
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = DeployDialog(self.vm, model, version, self)
        self.dialog.open()
        return self.dialog

    def promote(self) -> None:
        d, to = self.vm.selected, self.promote_combo.currentText().strip()
        if d is not None and to and confirm(self, "Promote", promote_text(d, to), "Promote"):
            self.vm.promote(d, to)

    def set_traffic(self) -> None:
        d = self.vm.selected
        if d is None:
            return
        split = canary_split(d, self.canary_version.value(), self.canary_slider.value())
        if confirm(self, "Set traffic", traffic_text(d, split), "Set traffic"):
            self.vm.set_traffic(d, split)

    def rollback(self) -> None:
        d = self.vm.selected
        if d is not None and confirm(self, "Roll back", rollback_text(d, self.vm.events),
                                     "Roll back"):  # fmt: skip
            self.vm.rollback(d)

    def undeploy(self) -> None:
        d = self.vm.selected
        if d is not None and confirm(self, "Undeploy", undeploy_text(d), "Undeploy"):
            self.vm.undeploy(d)

    def shutdown(self) -> None:
        if self.dialog is not None:
            self.dialog.close()
        super().shutdown()
