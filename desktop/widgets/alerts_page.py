"""The Alerts page: firing/resolved alerts with history, acknowledge and silence; the rules
editor; notification channels with test sends and the delivery log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from PySide6.QtCore import QDateTime, Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDateTimeEdit,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from modelfleet.client import Alert, AlertRule, Channel, ChannelTest, Delivery
from modelfleet.desktop.services.alert_forms import (
    can_edit_rules,
    can_manage_channels,
    describe_rule,
    describe_scope,
)
from modelfleet.desktop.services.permissions import Permissions
from modelfleet.desktop.viewmodels.alerts import AlertsViewModel, describe_test
from modelfleet.desktop.widgets.admin_tabs import RowsModel
from modelfleet.desktop.widgets.alert_editors import ChannelForm, RuleForm
from modelfleet.desktop.widgets.base import Page
from modelfleet.desktop.widgets.prompts import confirm
from modelfleet.desktop.widgets.theme import MARGIN, SPACING, styled_label, tab_tooltips

REFRESH_MS = 10_000  # firing alerts are re-read this often while the page shows


def _when(value: datetime | None) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S}" if value else "-"


def table_view(model: RowsModel) -> QTableView:
    table = QTableView()
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().hide()
    # Columns fit their text (tables here are short), the last one takes the rest.
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    table.setAlternatingRowColors(True)
    return table


def tool_button(text: str, tooltip: str) -> QPushButton:
    button = QPushButton(text)
    button.setToolTip(tooltip)
    return button


def selected_row(table: QTableView, items: Sequence[object]) -> int | None:
    rows = table.selectionModel().selectedRows()
    row = rows[0].row() if rows else None
    return row if row is not None and row < len(items) else None


class AlertsPage(Page):
    def __init__(self, vm: AlertsViewModel) -> None:
        super().__init__()
        self.vm = vm
        layout = QVBoxLayout(self)
        layout.setContentsMargins(MARGIN, MARGIN, MARGIN, MARGIN)
        layout.setSpacing(SPACING)
        layout.addWidget(styled_label("Alerts", "PageTitle"))
        self.status_label = styled_label("", "Muted")
        self.status_label.setWordWrap(True)
        layout.addWidget(self.status_label)
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_alerts(), "Alerts")
        self.tabs.addTab(self._build_rules(), "Rules")
        self.tabs.addTab(self._build_channels(), "Channels")
        tab_tooltips(self.tabs, (
            "Firing and resolved alerts: acknowledge or silence them",
            "Alert rules: what fires when, and whom it notifies",
            "Notification channels, test sends and the delivery log",
        ))  # fmt: skip
        layout.addWidget(self.tabs, 1)
        self.subscribe(vm.alertsChanged, self.show_alerts)
        self.subscribe(vm.rulesChanged, self.show_rules)
        self.subscribe(vm.channelsChanged, self.show_channels)
        self.subscribe(vm.deliveriesChanged, self.show_deliveries)
        self.subscribe(vm.ruleRejected, self.rule_form.show_error)
        self.subscribe(vm.ruleSaved, lambda _rule: self.rule_form.clear())
        self.subscribe(vm.channelRejected, self.channel_form.show_error)
        self.subscribe(vm.channelSaved, lambda _channel: self.channel_form.clear())
        self.subscribe(vm.channelTested, self.show_test)
        self.subscribe(vm.statusChanged, self.status_label.setText)
        self.subscribe(vm.session.permissionsChanged, self.apply)
        self.apply(vm.session.permissions)
        # The lists loaded before the page was first shown.
        if vm.alerts:
            self.show_alerts(vm.alerts)
        if vm.rules:
            self.show_rules(vm.rules)
        if vm.channels:
            self.show_channels(vm.channels)
        if vm.deliveries:
            self.show_deliveries(vm.deliveries)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    # --- alerts ---------------------------------------------------------------------------

    def _build_alerts(self) -> QWidget:
        box = QWidget()
        column = QVBoxLayout(box)
        row = QHBoxLayout()
        self.resolved_box = QCheckBox("Show resolved")
        self.resolved_box.setChecked(self.vm.show_resolved)
        self.resolved_box.setToolTip("List resolved alerts below the firing ones")
        self.resolved_box.toggled.connect(self.vm.set_show_resolved)
        self.refresh_button = tool_button("Refresh", "Read the alerts again now")
        self.refresh_button.clicked.connect(self.vm.refresh_alerts)
        row.addWidget(self.resolved_box)
        row.addStretch(1)
        row.addWidget(self.refresh_button)
        column.addLayout(row)
        self.alerts_model = RowsModel(
            ("State", "Severity", "Rule", "Labels", "Value", "Threshold", "Fired", "Resolved",
             "Acknowledged by", "Silenced until"), self,
        )  # fmt: skip
        self.alerts_table = table_view(self.alerts_model)
        self.alerts_table.selectionModel().selectionChanged.connect(self._on_alert_selected)
        self.history_model = RowsModel(("Event", "Value", "Time (UTC)", "By", "Note"), self)
        self.history_table = table_view(self.history_model)
        self.history_table.setToolTip("What happened to the selected alert, newest first")
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.alerts_table)
        split.addWidget(self.history_table)
        split.setSizes([360, 200])
        column.addWidget(split, 1)
        actions = QHBoxLayout()
        self.note_edit = QLineEdit(placeholderText="note (optional)")
        self.note_edit.setToolTip("Recorded with the acknowledgement or silence")
        self.ack_button = tool_button(
            "Acknowledge", "Say someone is on it (recorded in the history)"
        )
        self.ack_button.clicked.connect(self.acknowledge)
        self.until_edit = QDateTimeEdit(QDateTime.currentDateTime().addSecs(3600))
        self.until_edit.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.until_edit.setCalendarPopup(True)
        self.until_edit.setToolTip("Silence notifications until this local time")
        self.silence_button = tool_button("Silence until", "No notifications until the chosen time")
        self.silence_button.clicked.connect(self.silence)
        self.unsilence_button = tool_button("Lift silence", "Notify again from now on")
        self.unsilence_button.clicked.connect(self.lift_silence)
        actions.addWidget(self.note_edit, 1)
        for widget in (self.ack_button, self.silence_button, self.until_edit,
                       self.unsilence_button):  # fmt: skip
            actions.addWidget(widget)
        column.addLayout(actions)
        return box

    def show_alerts(self, alerts: list[Alert]) -> None:
        selected = self.current_alert()
        self.alerts_model.set_rows(
            [
                (a.state, a.severity, a.rule,
                 ", ".join(f"{k}={v}" for k, v in sorted(a.labels.items())),
                 f"{a.value:.4g}", f"{a.threshold:g}", _when(a.fired_at), _when(a.resolved_at),
                 a.acknowledged_by or "-", _when(a.silenced_until))
                for a in alerts
            ]
        )  # fmt: skip
        if selected is not None:
            for row, alert in enumerate(alerts):
                if alert.id == selected.id:
                    self.alerts_table.selectRow(row)
        self._on_alert_selected()

    def current_alert(self) -> Alert | None:
        row = selected_row(self.alerts_table, self.vm.alerts)
        return self.vm.alerts[row] if row is not None else None

    def _on_alert_selected(self, *_args: object) -> None:
        alert = self.current_alert()
        history = alert.history if alert else ()
        self.history_model.set_rows(
            [(e.kind, f"{e.value:.4g}", _when(e.time), e.actor or "-", e.note) for e in history]
        )
        self.apply(self.vm.session.permissions)

    def acknowledge(self) -> None:
        alert = self.current_alert()
        if alert is not None:
            self.vm.acknowledge(alert, self.note_edit.text())
            self.note_edit.clear()

    def silence(self) -> None:
        alert = self.current_alert()
        if alert is None:
            return
        until = datetime.fromtimestamp(self.until_edit.dateTime().toSecsSinceEpoch(), UTC)
        text = (
            f"No notification of {alert.rule} will be sent until "
            f"{until.astimezone():%Y-%m-%d %H:%M}, even if it fires again."
        )
        if confirm(self, "Silence alert", text, "Silence"):
            self.vm.silence(alert, until, self.note_edit.text())
            self.note_edit.clear()

    def lift_silence(self) -> None:
        alert = self.current_alert()
        if alert is not None:
            self.vm.silence(alert, datetime.now(UTC), self.note_edit.text())

    # --- rules ----------------------------------------------------------------------------

    def _build_rules(self) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        left = QVBoxLayout()
        self.rules_model = RowsModel(
            ("Rule", "Condition", "Scope", "Severity", "Channels", "State"), self
        )
        self.rules_table = table_view(self.rules_model)
        self.rules_table.doubleClicked.connect(lambda _index: self.edit_rule())
        self.rules_table.selectionModel().selectionChanged.connect(
            lambda *_: self.apply(self.vm.session.permissions)
        )
        left.addWidget(self.rules_table, 1)
        buttons = QHBoxLayout()
        self.edit_button = tool_button("Edit", "Load the selected rule into the form")
        self.edit_button.clicked.connect(self.edit_rule)
        self.delete_rule_button = tool_button("Delete rule…", "Delete the selected rule")
        self.delete_rule_button.clicked.connect(self.delete_rule)
        buttons.addWidget(self.edit_button)
        buttons.addWidget(self.delete_rule_button)
        buttons.addStretch(1)
        left.addLayout(buttons)
        row.addLayout(left, 3)
        self.rule_form = RuleForm()
        self.rule_form.save_button.clicked.connect(
            lambda: self.vm.save_rule(self.rule_form.draft())
        )
        form_column = QVBoxLayout()
        form_column.addWidget(self.rule_form)
        form_column.addStretch(1)  # the form keeps its height; space goes below it
        row.addLayout(form_column, 2)
        return box

    def show_rules(self, rules: list[AlertRule]) -> None:
        self.rules_model.set_rows(
            [
                (r.name, describe_rule(r), describe_scope(r.environment, r.deployment, r.agent_id),
                 r.severity, ", ".join(r.channels) or "-", "disabled" if r.disabled else "on")
                for r in rules
            ]
        )  # fmt: skip
        self.apply(self.vm.session.permissions)

    def current_rule(self) -> AlertRule | None:
        row = selected_row(self.rules_table, self.vm.rules)
        return self.vm.rules[row] if row is not None else None

    def edit_rule(self) -> None:
        rule = self.current_rule()
        if rule is not None:
            self.rule_form.edit(rule)

    def delete_rule(self) -> None:
        rule = self.current_rule()
        text = "Delete rule {0}? Its alerts stop being evaluated and notified."
        if rule is not None and confirm(self, "Delete rule", text.format(rule.name), "Delete"):
            self.vm.delete_rule(rule)

    # --- channels -------------------------------------------------------------------------

    def _build_channels(self) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        left = QVBoxLayout()
        self.channels_model = RowsModel(
            ("Channel", "Kind", "Target", "Secret", "Created by", "Created"), self
        )
        self.channels_table = table_view(self.channels_model)
        self.channels_table.selectionModel().selectionChanged.connect(self._on_channel_selected)
        left.addWidget(self.channels_table, 2)
        buttons = QHBoxLayout()
        self.test_button = tool_button("Send test", "Send a test notification through the channel")
        self.test_button.clicked.connect(self.test_channel)
        self.delete_channel_button = tool_button("Delete channel…", "Delete the selected channel")
        self.delete_channel_button.clicked.connect(self.delete_channel)
        self.test_label = styled_label("", "Muted")
        self.test_label.setWordWrap(True)
        buttons.addWidget(self.test_button)
        buttons.addWidget(self.delete_channel_button)
        buttons.addWidget(self.test_label, 1)
        left.addLayout(buttons)
        left.addWidget(styled_label("Delivery log", "Muted"))
        self.deliveries_model = RowsModel(
            ("Channel", "Event", "Status", "Attempts", "Error", "Created", "Delivered"), self
        )
        self.deliveries_table = table_view(self.deliveries_model)
        left.addWidget(self.deliveries_table, 3)
        row.addLayout(left, 3)
        self.channel_form = ChannelForm()
        self.channel_form.add_button.clicked.connect(
            lambda: self.vm.create_channel(self.channel_form.take_draft())
        )
        form_column = QVBoxLayout()
        form_column.addWidget(self.channel_form)
        form_column.addStretch(1)
        row.addLayout(form_column, 2)
        return box

    def show_channels(self, channels: list[Channel]) -> None:
        # The hub never sends a secret back: only whether one is set.
        self.channels_model.set_rows(
            [
                (c.name, c.kind, c.target or "-", "set (write-only)" if c.secret_set else "none",
                 c.created_by, _when(c.created_at))
                for c in channels
            ]
        )  # fmt: skip
        self.rule_form.set_channels(channels)
        self.apply(self.vm.session.permissions)

    def current_channel(self) -> Channel | None:
        row = selected_row(self.channels_table, self.vm.channels)
        return self.vm.channels[row] if row is not None else None

    def _on_channel_selected(self, *_args: object) -> None:
        channel = self.current_channel()
        self.vm.refresh_deliveries(channel.name if channel else "")
        self.apply(self.vm.session.permissions)

    def test_channel(self) -> None:
        channel = self.current_channel()
        if channel is not None:
            self.test_label.setText(f"Sending a test through {channel.name}…")
            self.vm.test_channel(channel)

    def show_test(self, name: str, result: ChannelTest) -> None:
        self.test_label.setText(describe_test(name, result))

    def delete_channel(self) -> None:
        channel = self.current_channel()
        text = "Delete channel {0}? Rules that notify it will no longer reach it."
        if channel is not None and confirm(
            self, "Delete channel", text.format(channel.name), "Delete"
        ):
            self.vm.delete_channel(channel)

    def show_deliveries(self, deliveries: list[Delivery]) -> None:
        self.deliveries_model.set_rows(
            [
                (d.channel, d.event, d.status, str(d.attempts), d.last_error or "-",
                 _when(d.created_at), _when(d.delivered_at))
                for d in deliveries
            ]
        )  # fmt: skip

    # --- permissions and refresh --------------------------------------------------------

    def apply(self, permissions: Permissions) -> None:
        """Enable what the role allows and the selection makes sense for."""
        edit, manage = can_edit_rules(permissions), can_manage_channels(permissions)
        alert = self.current_alert()
        for button in (self.ack_button, self.silence_button, self.unsilence_button):
            button.setEnabled(edit and alert is not None)
        self.rule_form.save_button.setEnabled(edit)
        has_rule = self.current_rule() is not None
        self.edit_button.setEnabled(edit and has_rule)
        self.delete_rule_button.setEnabled(edit and has_rule)
        has_channel = self.current_channel() is not None
        self.test_button.setEnabled(edit and has_channel)
        self.delete_channel_button.setEnabled(manage and has_channel)
        self.channel_form.setEnabled(manage)

    def _tick(self) -> None:
        if self.isVisible() and self.vm.session.workspace:
            self.vm.refresh_alerts()

    def shutdown(self) -> None:
        self._timer.stop()
        super().shutdown()
