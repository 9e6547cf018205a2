"""The Alerts page's forms: a rule editor and a channel form, each showing a refusal next to
the field it names (widgets only, no I/O)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from modelfleet.client import AlertRule, Channel
from modelfleet.desktop.services.alert_forms import (
    CHANNEL_KINDS,
    COMPARATORS,
    SECRET_MEANING,
    SERIES,
    SEVERITIES,
    ChannelDraft,
    FieldError,
    RuleDraft,
)
from modelfleet.desktop.widgets.theme import SPACING, styled_label

MAX_SECONDS = 7 * 86400
USER = Qt.ItemDataRole.UserRole


class FieldForm(QWidget):
    """A form whose rows each carry an error line, shown when a refusal names that field."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.form = QFormLayout(self)
        self.form.setSpacing(SPACING // 2)
        self.errors: dict[str, QLabel] = {}
        self.general_error = styled_label("", "FieldError")
        self.general_error.setWordWrap(True)
        self.general_error.hide()

    def add(self, key: str, label: str, widget: QWidget, tooltip: str) -> None:
        widget.setToolTip(tooltip)
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(widget)
        error = styled_label("", "FieldError")
        error.setWordWrap(True)
        error.hide()
        column.addWidget(error)
        self.errors[key] = error
        self.form.addRow(label, box)

    def show_error(self, error: FieldError | None) -> None:
        """Show `error` next to its field (or under the form); None clears every error."""
        for label in (*self.errors.values(), self.general_error):
            label.hide()
        if error is None:
            return
        label = self.errors.get(error.field, self.general_error)
        label.setText(error.message)
        label.show()

    def error_text(self, key: str) -> str:
        label = self.errors.get(key, self.general_error)
        return label.text() if not label.isHidden() else ""


def _seconds(tooltip_unit: str) -> QSpinBox:
    box = QSpinBox()
    box.setRange(0, MAX_SECONDS)
    box.setSuffix(" s")
    box.setAccelerated(True)
    box.setToolTip(tooltip_unit)
    return box


class RuleForm(FieldForm):
    """Series, scope, condition, durations, severity and channels of one rule."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editing = ""
        self.name_edit = QLineEdit(placeholderText="e.g. slow-fraud-api")
        self.series_combo = QComboBox()
        self.series_combo.setEditable(True)
        self.series_combo.addItems(SERIES)
        series_edit = self.series_combo.lineEdit()
        assert series_edit is not None  # the combo is editable
        series_edit.setToolTip("The series the rule watches (pick or type an extra key)")
        self.environment_edit = QLineEdit(placeholderText="any environment")
        self.deployment_edit = QLineEdit(placeholderText="any deployment")
        self.agent_edit = QLineEdit(placeholderText="any agent (agent_silent_seconds only)")
        scope = QWidget()
        row = QHBoxLayout(scope)
        row.setContentsMargins(0, 0, 0, 0)
        for edit in (self.environment_edit, self.deployment_edit, self.agent_edit):
            edit.setToolTip(f"Scope: {edit.placeholderText()} when empty")
            row.addWidget(edit)
        self.comparator_combo = QComboBox()
        self.comparator_combo.addItems(COMPARATORS)
        self.threshold_spin = QDoubleSpinBox()
        self.threshold_spin.setRange(-1e12, 1e12)
        self.threshold_spin.setDecimals(4)
        condition = QWidget()
        row = QHBoxLayout(condition)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.comparator_combo)
        row.addWidget(self.threshold_spin, 1)
        self.for_spin = _seconds("How long the condition must hold before the alert fires")
        self.window_spin = _seconds("The trailing window each evaluation aggregates (0 = 60 s)")
        self.samples_spin = QSpinBox()
        self.samples_spin.setRange(0, 1_000_000_000)
        self.severity_combo = QComboBox()
        self.severity_combo.addItems(SEVERITIES)
        self.severity_combo.setCurrentText("warning")
        self.channels_list = QListWidget()
        self.channels_list.setMaximumHeight(90)
        self.description_edit = QLineEdit(placeholderText="what to do when it fires (optional)")
        self.disabled_box = QCheckBox("Disabled")
        self.disabled_box.setToolTip("Keep the rule but do not evaluate it")
        self.add("name", "Name", self.name_edit, "A unique name for the rule")
        series_tip = "latency in seconds, error_rate 0-1, requests, or a drift/accuracy series"
        self.add("series", "Series", self.series_combo, series_tip)
        self.add("scope", "Scope", scope, "Environment, deployment and agent the rule watches")
        for key in ("environment", "deployment", "agent_id"):
            self.errors[key] = self.errors["scope"]
        self.add("threshold", "Condition", condition, "Fire when the series compares so")
        self.errors["comparator"] = self.errors["threshold"]
        self.add("for_seconds", "For", self.for_spin, self.for_spin.toolTip())
        self.add("window_seconds", "Window", self.window_spin, self.window_spin.toolTip())
        self.add("min_samples", "Min samples", self.samples_spin,
                 "Fewer samples in the window leave the condition unknown")  # fmt: skip
        self.add("severity", "Severity", self.severity_combo, "How urgent a firing alert is")
        self.add("channels", "Channels", self.channels_list, "Tick the channels to notify")
        self.add("description", "Description", self.description_edit, "Shown with the alert")
        self.form.addRow("", self.disabled_box)
        self.form.addRow("", self.general_error)
        buttons = QHBoxLayout()
        self.save_button = QPushButton("Create rule")
        self.save_button.setToolTip("Create the rule on the hub (or save the edited one)")
        self.new_button = QPushButton("New")
        self.new_button.setToolTip("Clear the form to create another rule")
        self.new_button.clicked.connect(self.clear)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.new_button)
        buttons.addStretch(1)
        self.form.addRow("", _wrap(buttons))

    def set_channels(self, channels: list[Channel]) -> None:
        ticked = set(self.ticked_channels())
        self.channels_list.clear()
        for channel in channels:
            item = QListWidgetItem(f"{channel.name} ({channel.kind})")
            item.setData(USER, channel.name)
            item.setCheckState(_check(channel.name in ticked))
            self.channels_list.addItem(item)

    def ticked_channels(self) -> list[str]:
        items = [self.channels_list.item(i) for i in range(self.channels_list.count())]
        return [str(i.data(USER)) for i in items if i.checkState() == _check(True)]

    def draft(self) -> RuleDraft:
        return RuleDraft(
            name=self.name_edit.text(), series=self.series_combo.currentText(),
            comparator=self.comparator_combo.currentText(), threshold=self.threshold_spin.value(),
            for_seconds=self.for_spin.value(), window_seconds=self.window_spin.value(),
            min_samples=self.samples_spin.value(), severity=self.severity_combo.currentText(),
            environment=self.environment_edit.text(), deployment=self.deployment_edit.text(),
            agent_id=self.agent_edit.text(), channels=tuple(self.ticked_channels()),
            description=self.description_edit.text(), disabled=self.disabled_box.isChecked(),
            editing=self.editing,
        )  # fmt: skip

    def edit(self, rule: AlertRule) -> None:
        """Fill the form with `rule`; saving replaces it."""
        draft = RuleDraft.of(rule)
        self.editing = draft.editing
        self.name_edit.setText(draft.name)
        self.series_combo.setCurrentText(draft.series)
        self.comparator_combo.setCurrentText(draft.comparator)
        self.threshold_spin.setValue(draft.threshold)
        self.for_spin.setValue(draft.for_seconds)
        self.window_spin.setValue(draft.window_seconds)
        self.samples_spin.setValue(draft.min_samples)
        self.severity_combo.setCurrentText(draft.severity)
        self.environment_edit.setText(draft.environment)
        self.deployment_edit.setText(draft.deployment)
        self.agent_edit.setText(draft.agent_id)
        self.description_edit.setText(draft.description)
        self.disabled_box.setChecked(draft.disabled)
        for i in range(self.channels_list.count()):
            item = self.channels_list.item(i)
            item.setCheckState(_check(item.data(USER) in draft.channels))
        self.save_button.setText(f"Save {draft.name}")
        self.show_error(None)

    def clear(self) -> None:
        self.editing = ""
        for edit in (self.name_edit, self.environment_edit, self.deployment_edit,
                     self.agent_edit, self.description_edit):  # fmt: skip
            edit.clear()
        for spin in (self.for_spin, self.window_spin, self.samples_spin):
            spin.setValue(0)
        self.threshold_spin.setValue(0.0)
        self.disabled_box.setChecked(False)
        self.save_button.setText("Create rule")
        self.show_error(None)


class ChannelForm(FieldForm):
    """A new channel. The secret box is write-only: cleared as soon as it is sent."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name_edit = QLineEdit(placeholderText="e.g. oncall-slack")
        self.kind_combo = QComboBox()
        self.kind_combo.addItems(CHANNEL_KINDS)
        self.url_edit = QLineEdit(placeholderText="https://example.com/hooks/modelfleet")
        self.host_edit = QLineEdit(placeholderText="smtp.example.com")
        self.port_spin = QSpinBox()
        self.port_spin.setRange(0, 65535)
        self.port_spin.setSpecialValueText("default (587 / 465)")
        self.username_edit = QLineEdit(placeholderText="SMTP user (optional)")
        self.from_edit = QLineEdit(placeholderText="alerts@example.com")
        self.to_edit = QLineEdit(placeholderText="ops@example.com, oncall@example.com")
        self.tls_box = QCheckBox("TLS from the first byte (port 465) instead of STARTTLS")
        self.tls_box.setToolTip("Implicit TLS; leave off for STARTTLS on port 587")
        self.secret_edit = QLineEdit()
        self.secret_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.add("name", "Name", self.name_edit, "A unique name rules refer to")
        self.add("config", "Kind", self.kind_combo, "Where notifications go")
        self.add("url", "Webhook URL", self.url_edit, "The URL notifications are POSTed to")
        self.add("host", "SMTP host", self.host_edit, "The mail server's host name")
        self.add("port", "SMTP port", self.port_spin, "0 for the default port")
        self.add("username", "SMTP user", self.username_edit, "Sign-in name on the server")
        self.add("from_address", "From", self.from_edit, "The sender address")
        self.add("to", "To", self.to_edit, "Recipients, separated by commas")
        self.form.addRow("", self.tls_box)
        self.add("secret", "Secret", self.secret_edit,
                 "Write-only: sent to the hub once and never shown again")  # fmt: skip
        self.form.addRow("", self.general_error)
        self.add_button = QPushButton("Add channel")
        self.add_button.setToolTip("Create the channel on the hub")
        self.form.addRow("", self.add_button)
        self.kind_combo.currentTextChanged.connect(self._on_kind)
        self._on_kind(self.kind_combo.currentText())

    def _on_kind(self, kind: str) -> None:
        email = kind == "email"
        for key in ("host", "port", "username", "from_address", "to"):
            self.form.setRowVisible(self._row_of(key), email)
        self.form.setRowVisible(self.tls_box, email)
        self.form.setRowVisible(self._row_of("url"), kind == "webhook")
        self.secret_edit.setPlaceholderText(SECRET_MEANING.get(kind, ""))
        label = self.form.labelForField(self._row_of("secret"))
        if isinstance(label, QLabel):
            label.setText(SECRET_MEANING.get(kind, "Secret"))

    def _row_of(self, key: str) -> QWidget:
        box = self.errors[key].parentWidget()
        assert box is not None
        return box

    def take_draft(self) -> ChannelDraft:
        """The form's values; the secret box is emptied here, so it never holds a sent secret."""
        secret = self.secret_edit.text()
        self.secret_edit.clear()
        return ChannelDraft(
            name=self.name_edit.text(), kind=self.kind_combo.currentText(), secret=secret,
            url=self.url_edit.text(), host=self.host_edit.text(), port=self.port_spin.value(),
            username=self.username_edit.text(), from_address=self.from_edit.text(),
            to=self.to_edit.text(), implicit_tls=self.tls_box.isChecked(),
        )  # fmt: skip

    def clear(self) -> None:
        for edit in (self.name_edit, self.url_edit, self.host_edit, self.username_edit,
                     self.from_edit, self.to_edit, self.secret_edit):  # fmt: skip
            edit.clear()
        self.port_spin.setValue(0)
        self.show_error(None)


def _check(on: bool) -> Qt.CheckState:
    return Qt.CheckState.Checked if on else Qt.CheckState.Unchecked


def _wrap(layout: QHBoxLayout) -> QWidget:
    box = QWidget()
    layout.setContentsMargins(0, 0, 0, 0)
    box.setLayout(layout)
    return box
