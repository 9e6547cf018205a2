"""The Home page: fleet health, deployments with traffic and latency sparklines, firing
alerts and recent activity."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from modelfleet.desktop.services.deployments_view import targets_text
from modelfleet.desktop.services.home_view import HomeSnapshot
from modelfleet.desktop.viewmodels.home import HomeViewModel
from modelfleet.desktop.widgets.base import Page
from modelfleet.desktop.widgets.theme import MARGIN, SPACING, current_theme, styled_label


class Sparkline(pg.PlotWidget):  # type: ignore[misc]
    """A tiny chart without axes; its one curve is created here and fed with `setData`."""

    def __init__(self, color: str, tooltip: str) -> None:
        super().__init__()
        self.setBackground(current_theme().base)
        self.setFixedHeight(44)
        self.setMinimumWidth(160)
        item = self.getPlotItem()
        item.hideAxis("left")
        item.hideAxis("bottom")
        item.setMenuEnabled(False)
        item.setMouseEnabled(x=False, y=False)
        item.hideButtons()
        # Dots too: a deployment's first roll-ups are a point or two, which a line hides.
        self.curve = item.plot(
            pen=pg.mkPen(color, width=1),
            symbol="o",
            symbolSize=3,
            symbolPen=None,
            symbolBrush=color,
        )
        self.setToolTip(tooltip)


class HomePage(Page):
    def __init__(self, vm: HomeViewModel) -> None:
        super().__init__()
        self.vm = vm
        layout = QVBoxLayout(self)
        layout.setContentsMargins(MARGIN, MARGIN, MARGIN, MARGIN)
        layout.setSpacing(SPACING)
        layout.addWidget(styled_label("Home", "PageTitle"))
        health = QHBoxLayout()
        self.online_label = styled_label("-", "PageTitle")
        self.online_label.setToolTip("Agents connected to the hub now")
        self.offline_label = styled_label("-", "PageTitle")
        self.offline_label.setToolTip("Enrolled agents not heard from recently")
        self.deployed_label = styled_label("-", "PageTitle")
        self.deployed_label.setToolTip("Active deployments in this workspace")
        for value, caption in ((self.online_label, "agents online"),
                               (self.offline_label, "agents offline"),
                               (self.deployed_label, "deployments")):  # fmt: skip
            box = QVBoxLayout()
            box.addWidget(value)
            box.addWidget(styled_label(caption, "Muted"))
            health.addLayout(box)
            health.addSpacing(MARGIN * 2)
        health.addStretch(1)
        layout.addLayout(health)
        layout.addWidget(styled_label("Deployments (last 30 minutes)", "Muted"))
        self.grid_box = QWidget()
        self.grid = QGridLayout(self.grid_box)
        self.grid.setColumnStretch(0, 2)
        self.grid.setColumnStretch(1, 2)
        self.grid.setColumnStretch(2, 2)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.grid_box)
        layout.addWidget(scroll, 2)
        self.empty_label = styled_label("No deployments yet.", "Muted")
        self.grid.addWidget(self.empty_label, 0, 0)
        self._rows: dict[str, tuple[QLabel, Sparkline, Sparkline]] = {}
        lists = QHBoxLayout()
        self.alerts_list = QListWidget()
        self.alerts_list.setToolTip("Alerts firing now")
        self.activity_list = QListWidget()
        self.activity_list.setToolTip("Latest entries of the audit log")
        for title, widget in (("Firing alerts", self.alerts_list),
                              ("Recent activity", self.activity_list)):  # fmt: skip
            box = QVBoxLayout()
            box.addWidget(styled_label(title, "Muted"))
            box.addWidget(widget, 1)
            lists.addLayout(box, 1)
        layout.addLayout(lists, 1)
        self.subscribe(vm.snapshotChanged, self.show_snapshot)
        if vm.snapshot is not None:  # loaded before the page was first shown
            self.show_snapshot(vm.snapshot)

    def _row(self, key: str) -> tuple[QLabel, Sparkline, Sparkline]:
        row = self._rows.get(key)
        if row is None:
            theme = current_theme()
            label = QLabel()
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            rps = Sparkline(theme.series[0], f"{key}: requests per second")
            p95 = Sparkline(theme.series[1], f"{key}: p95 latency (ms)")
            index = len(self._rows) + 1  # row 0 holds the "no deployments" note
            self.grid.addWidget(label, index, 0)
            self.grid.addWidget(rps, index, 1)
            self.grid.addWidget(p95, index, 2)
            self.grid.setRowStretch(index, 0)
            self.grid.setRowStretch(index + 1, 1)  # rows stay at the top
            row = self._rows[key] = (label, rps, p95)
        return row

    def show_snapshot(self, snapshot: HomeSnapshot | None) -> None:
        if snapshot is None:
            for widget in (self.online_label, self.offline_label, self.deployed_label):
                widget.setText("-")
            return
        self.online_label.setText(str(snapshot.online))
        self.offline_label.setText(str(snapshot.offline))
        self.deployed_label.setText(str(len(snapshot.deployments)))
        shown = set()
        for d in snapshot.deployments:
            key = f"{d.name}@{d.environment}"
            shown.add(key)
            label, rps, p95 = self._row(key)
            traffic = snapshot.traffic.get(key)
            ready = sum(a.state == "ready" for a in d.agents)
            latest = traffic.latest if traffic is not None else "no traffic yet"
            label.setText(
                f"<b>{d.name}</b> in {d.environment} · {targets_text(d.targets)}<br>"
                f"{ready}/{len(d.agents)} agents ready · {latest}"
            )
            if traffic is not None:
                rps.curve.setData(traffic.time, traffic.rps)
                p95.curve.setData(traffic.time, traffic.p95_ms)
        for key, widgets in self._rows.items():
            for widget in widgets:
                widget.setVisible(key in shown)
        self.empty_label.setVisible(not shown)
        self.alerts_list.clear()
        if snapshot.alerts is None:
            self.alerts_list.addItem("; ".join(snapshot.notes) or "Alerts are not available.")
        elif not snapshot.alerts:
            self.alerts_list.addItem("Nothing firing.")
        for alert in snapshot.alerts or []:
            self.alerts_list.addItem(
                f"[{alert.severity}] {alert.rule}: {alert.series} = {alert.value:.4g} "
                f"(threshold {alert.threshold:.4g})"
            )
        self.activity_list.clear()
        if snapshot.activity is None:
            self.activity_list.addItem("The audit log needs the admin role in this workspace.")
        for event in snapshot.activity or []:
            when = f"{event.time:%H:%M:%S}" if event.time else ""
            who = event.actor_name or event.actor_id
            self.activity_list.addItem(f"{when} {who}: {event.action} {event.target}")
