"""The Models page: model search, versions with aliases, and the selected version's details."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from modelfleet.client import ModelVersion, RegisteredModel
from modelfleet.desktop.viewmodels.models import ModelsViewModel, VersionDetail
from modelfleet.desktop.widgets.admin_tabs import RowsModel
from modelfleet.desktop.widgets.base import Page
from modelfleet.desktop.widgets.experiments_page import _button, _name_scroll_buttons, _table
from modelfleet.desktop.widgets.prompts import ask_save_path, confirm
from modelfleet.desktop.widgets.theme import MARGIN, SPACING, current_theme, styled_label


class ModelsPage(Page):
    def __init__(self, vm: ModelsViewModel) -> None:
        super().__init__()
        self.vm = vm
        layout = QVBoxLayout(self)
        layout.setContentsMargins(MARGIN, MARGIN, MARGIN, MARGIN)
        layout.setSpacing(SPACING)
        layout.addWidget(styled_label("Models", "PageTitle"))
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._build_models())
        splitter.addWidget(self._build_versions())
        splitter.addWidget(self._build_detail())
        splitter.setSizes([200, 360, 640])
        layout.addWidget(splitter, 1)
        self.status_label = styled_label("", "Muted")
        layout.addWidget(self.status_label)
        self.subscribe(vm.modelsChanged, self.show_models)
        self.subscribe(vm.versionsChanged, self.show_versions)
        self.subscribe(vm.detailChanged, self.show_detail)
        self.subscribe(vm.downloadProgress, self._on_progress)
        self.subscribe(vm.statusChanged, self.status_label.setText)
        if vm.models:  # loaded before the page was first shown
            self.show_models(vm.models)
        self.show_detail(None)

    def _build_models(self) -> QWidget:
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        self.search_edit = QLineEdit(placeholderText="Search models")
        self.search_edit.setToolTip("Models whose name contains this text (Enter)")
        self.search_edit.returnPressed.connect(lambda: self.vm.search(self.search_edit.text()))
        self.models_list = QListWidget()
        self.models_list.setToolTip("Registered models of this workspace")
        self.models_list.currentTextChanged.connect(self._on_model)
        column.addWidget(self.search_edit)
        column.addWidget(self.models_list, 1)
        return box

    def _build_versions(self) -> QWidget:
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        self.model_label = styled_label("", "Muted")
        self.model_label.setWordWrap(True)
        self.versions_model = RowsModel(("Version", "Aliases", "Created", "By"), self)
        self.versions_table = _table(self.versions_model)
        self.versions_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.versions_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.versions_table.setToolTip("Versions, newest first")
        self.versions_table.selectionModel().selectionChanged.connect(self._on_version)
        row = QHBoxLayout()
        self.alias_combo = QComboBox()
        self.alias_combo.setEditable(True)
        self.alias_combo.setToolTip("Alias to move to the selected version (or a new one)")
        if (alias_line := self.alias_combo.lineEdit()) is not None:
            alias_line.setToolTip(self.alias_combo.toolTip())
        self.alias_combo.setMinimumWidth(120)
        self.alias_button = _button("Move alias here", "Point the alias at the selected version")
        self.alias_button.clicked.connect(self.move_alias)
        row.addWidget(self.alias_combo, 1)
        row.addWidget(self.alias_button)
        column.addWidget(self.model_label)
        column.addWidget(self.versions_table, 1)
        column.addLayout(row)
        return box

    def _build_detail(self) -> QTabWidget:
        self.tabs = QTabWidget()
        overview = QWidget()
        column = QVBoxLayout(overview)
        form = QFormLayout()
        self.version_label = QLabel()
        self.artifact_label = QLabel()
        self.artifact_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.metrics_label = QLabel()
        self.metrics_label.setWordWrap(True)
        self.lineage_button = _button("", "Open the run that produced this version")
        self.lineage_button.clicked.connect(self.vm.open_source_run)
        form.addRow("Version", self.version_label)
        form.addRow("Artifact", self.artifact_label)
        form.addRow("Metrics", self.metrics_label)
        form.addRow("Lineage", self.lineage_button)
        column.addLayout(form)
        self.signature_model = RowsModel(("Tensor", "Direction", "Type", "Shape"), self)
        self.signature_table = _table(self.signature_model)
        self.signature_table.setToolTip("Inputs and outputs of the ONNX model")
        column.addWidget(self.signature_table, 1)
        actions = QHBoxLayout()
        self.deploy_button = _button("Deploy…", "Deploy this version to an environment")
        self.deploy_button.clicked.connect(self.vm.request_deploy)
        self.download_button = _button("Download…", "Save the ONNX file (digest verified)")
        self.download_button.clicked.connect(self.download)
        self.progress = QProgressBar()
        self.progress.setToolTip("Download progress")
        self.progress.hide()
        actions.addWidget(self.deploy_button)
        actions.addWidget(self.download_button)
        actions.addWidget(self.progress, 1)
        column.addLayout(actions)
        self.tabs.addTab(overview, "Overview")
        self.tabs.addTab(self._build_profile(), "Profile")
        self.tabs.addTab(self._build_comments(), "Comments")
        for index, tip in enumerate(("Signature, lineage, metrics",
                                     "Training-data histograms from the reference profile",
                                     "Discussion of this version")):  # fmt: skip
            self.tabs.setTabToolTip(index, tip)
        _name_scroll_buttons(self.tabs)
        return self.tabs

    def _build_profile(self) -> QWidget:
        box = QWidget()
        column = QVBoxLayout(box)
        self.feature_combo = QComboBox()
        self.feature_combo.setToolTip("Feature whose training distribution to show")
        self.feature_combo.currentIndexChanged.connect(self._show_feature)
        self.feature_label = styled_label("", "Muted")
        self.profile_plot = pg.PlotWidget()
        self.profile_plot.setBackground(current_theme().base)
        self.profile_plot.getPlotItem().setMenuEnabled(False)
        self.profile_plot.setToolTip("Reference-profile histogram of the feature")
        color = current_theme().series[0]
        self.bars = pg.BarGraphItem(x0=[], x1=[], height=[], brush=color, pen=None)
        self.profile_plot.addItem(self.bars)
        column.addWidget(self.feature_combo)
        column.addWidget(self.feature_label)
        column.addWidget(self.profile_plot, 1)
        return box

    def _build_comments(self) -> QWidget:
        box = QWidget()
        column = QVBoxLayout(box)
        self.comments_list = QListWidget()
        self.comments_list.setWordWrap(True)
        self.comments_list.setToolTip("Comments on this version")
        row = QHBoxLayout()
        self.comment_edit = QLineEdit(placeholderText="Add a comment")
        self.comment_edit.setToolTip("A comment on the selected version")
        self.comment_button = _button("Comment", "Add the comment to this version")
        self.comment_button.clicked.connect(self._comment)
        row.addWidget(self.comment_edit, 1)
        row.addWidget(self.comment_button)
        column.addWidget(self.comments_list, 1)
        column.addLayout(row)
        return box

    # --- slots ---------------------------------------------------------------------------------

    def _on_model(self, name: str) -> None:
        if name:
            self.vm.select_model(name)

    def _on_version(self, *_args: object) -> None:
        rows = self.versions_table.selectionModel().selectedRows()
        if rows:
            self.vm.select_version(self.vm.versions[rows[0].row()].version)

    def show_models(self, models: list[RegisteredModel]) -> None:
        current = self.models_list.currentItem()
        keep = current.text() if current else ""
        self.models_list.blockSignals(True)
        self.models_list.clear()
        self.models_list.addItems([m.name for m in models])
        self.models_list.blockSignals(False)
        matches = self.models_list.findItems(keep, Qt.MatchFlag.MatchExactly) if keep else []
        if matches:
            self.models_list.setCurrentItem(matches[0])

    def show_versions(self, versions: list[ModelVersion]) -> None:
        model = self.vm.model
        aliases = ", ".join(f"{a} → v{v}" for a, v in (model.aliases if model else {}).items())
        self.model_label.setText(
            f"{model.name}: {model.description or 'no description'} · aliases: {aliases or '-'}"
            if model else ""
        )  # fmt: skip
        self.versions_model.set_rows(
            [(f"v{v.version}", ", ".join(v.aliases),
              f"{v.created_at:%Y-%m-%d %H:%M}" if v.created_at else "-", v.created_by)
             for v in versions]
        )  # fmt: skip
        text = self.alias_combo.currentText()
        self.alias_combo.clear()
        self.alias_combo.addItems(
            sorted({"staging", "production", *(model.aliases if model else {})})
        )
        self.alias_combo.setCurrentText(text or "production")
        self.alias_button.setEnabled(False)

    def show_detail(self, detail: VersionDetail | None) -> None:
        enabled = detail is not None
        for widget in (self.deploy_button, self.download_button, self.comment_button,
                       self.alias_button):  # fmt: skip
            widget.setEnabled(enabled)
        if detail is None:
            self.version_label.setText("Select a version")
            self.lineage_button.setText("-")
            self.lineage_button.setEnabled(False)
            self.signature_model.set_rows([])
            self.feature_combo.clear()
            self.comments_list.clear()
            return
        v = detail.version
        self.version_label.setText(f"{v.model_name} v{v.version} {v.description}")
        self.artifact_label.setText(f"sha256 {v.artifact_sha256[:16]}… · {v.artifact_size:,} bytes")
        self.metrics_label.setText(
            ", ".join(f"{k} {value:.4g}" for k, value in sorted(v.metrics.items())) or "-"
        )
        has_run = bool(v.source_run_id)
        self.lineage_button.setEnabled(has_run)
        self.lineage_button.setText(
            f"Run {v.source_run_id[:12]} · experiment {v.source_experiment_id[:12]}"
            if has_run else "No source run recorded"
        )  # fmt: skip
        sig = v.signature
        self.signature_model.set_rows(
            [(t.name, direction, t.datatype, "x".join("?" if d < 0 else str(d) for d in t.shape))
             for direction, specs in (("input", sig.inputs), ("output", sig.outputs))
             for t in specs]
        )  # fmt: skip
        self.feature_combo.blockSignals(True)
        self.feature_combo.clear()
        self.feature_combo.addItems([h.name for h in detail.histograms])
        self.feature_combo.blockSignals(False)
        self.feature_label.setText(detail.profile_error or (
            "" if detail.histograms else "This version has no reference profile."
        ))  # fmt: skip
        self._show_feature(0)
        self.comments_list.clear()
        for comment in detail.comments:
            when = f"{comment.created_at:%Y-%m-%d %H:%M}" if comment.created_at else ""
            self.comments_list.addItem(f"{comment.author} · {when}\n{comment.body}")

    def _show_feature(self, index: int) -> None:
        detail = self.vm.detail
        if detail is None or not 0 <= index < len(detail.histograms):
            self.bars.setOpts(x0=[], x1=[], height=[])
            return
        h = detail.histograms[index]
        if h.edges is not None:
            x0, x1 = h.edges[:-1], h.edges[1:]
        else:
            x0 = np.arange(len(h.counts), dtype=np.float64) - 0.4
            x1 = x0 + 0.8
        self.bars.setOpts(x0=x0, x1=x1, height=h.counts)
        self.profile_plot.getPlotItem().autoRange()
        self.feature_label.setText(f"{h.name} ({h.kind}): {h.summary}")

    def move_alias(self) -> None:
        detail = self.vm.detail
        alias = self.alias_combo.currentText().strip()
        if detail is None or not alias:
            return
        number = detail.version.version
        text = self.vm.alias_move(alias, number)
        if confirm(self, "Move alias", text, "Move alias"):
            self.vm.set_alias(alias, number)

    def _comment(self) -> None:
        self.vm.add_comment(self.comment_edit.text())
        self.comment_edit.clear()

    def download(self) -> None:
        detail = self.vm.detail
        if detail is None:
            return
        v = detail.version
        path = ask_save_path(self, "Download model", f"{v.model_name}-v{v.version}.onnx",
                             "ONNX models (*.onnx)")  # fmt: skip
        if path:
            self.progress.setValue(0)
            self.progress.show()
            self.vm.download(Path(path))

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)
