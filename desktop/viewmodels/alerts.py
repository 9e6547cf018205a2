"""The Alerts page's state: rules, firing/resolved alerts with history, channels and deliveries.

Everything reloads when the session's workspace changes; actions run on workers and reload
what they changed. A refused rule or channel comes back as a `FieldError` for the form.
Channel secrets pass through `create_channel` once and are kept nowhere here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from PySide6.QtCore import QObject, Signal

from modelfleet.client import Alert, AlertRule, Channel, ChannelTest, Delivery, HubClient
from modelfleet.desktop.services.alert_forms import (
    ChannelDraft,
    FieldError,
    RuleDraft,
    create_channel,
    save_rule,
)
from modelfleet.desktop.viewmodels.session import SessionViewModel
from modelfleet.desktop.workers import WorkerSlot

# Alerts listed: firing and pending first (the hub sorts newest first), then resolved.
LIVE_STATES = ("pending", "firing")
ALL_STATES = ("pending", "firing", "resolved")
PAGE_SIZE = 200

Action = Callable[[HubClient, str | None], Any]


class AlertsViewModel(QObject):
    rulesChanged = Signal(list)  # list[AlertRule]
    alertsChanged = Signal(list)  # list[Alert], with history
    channelsChanged = Signal(list)  # list[Channel]
    deliveriesChanged = Signal(list)  # list[Delivery]
    ruleSaved = Signal(object)  # AlertRule
    ruleRejected = Signal(object)  # FieldError for the rule form
    channelSaved = Signal(object)  # Channel
    channelRejected = Signal(object)  # FieldError for the channel form
    channelTested = Signal(str, object)  # channel name, ChannelTest
    statusChanged = Signal(str)
    failed = Signal(str)

    def __init__(self, session: SessionViewModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.rules: list[AlertRule] = []
        self.alerts: list[Alert] = []
        self.channels: list[Channel] = []
        self.deliveries: list[Delivery] = []
        self.show_resolved = True
        self.delivery_channel = ""
        names = ("rules", "alerts", "channels", "deliveries", "act", "rule", "channel")
        self._slots = {name: WorkerSlot(self) for name in names}
        session.workspaceChanged.connect(self.reload)
        self.failed.connect(session.errorRaised)

    # --- loading --------------------------------------------------------------------------

    def reload(self, _workspace: str = "") -> None:
        if not self.session.permissions.signed_in or not self.session.workspace:
            for signal, attr in self._lists():
                setattr(self, attr, [])
                signal.emit([])
            return
        self.refresh_rules()
        self.refresh_alerts()
        self.refresh_channels()
        self.refresh_deliveries()

    def _lists(self) -> list[tuple[Any, str]]:
        return [
            (self.rulesChanged, "rules"),
            (self.alertsChanged, "alerts"),
            (self.channelsChanged, "channels"),
            (self.deliveriesChanged, "deliveries"),
        ]

    def _load(self, slot: str, fetch: Action, signal: Any, attr: str) -> None:
        ws = self.session.workspace

        def done(items: list[Any]) -> None:
            setattr(self, attr, items)
            signal.emit(items)

        self.session.run(
            self._slots[slot], f"load {attr}", lambda c, _t, _p: fetch(c, ws), done,
            self.failed.emit,
        )  # fmt: skip

    def refresh_rules(self) -> None:
        self._load("rules", lambda c, ws: c.list_rules(workspace=ws), self.rulesChanged, "rules")

    def refresh_alerts(self) -> None:
        states = ALL_STATES if self.show_resolved else LIVE_STATES

        def fetch(client: HubClient, ws: str | None) -> list[Alert]:
            page = client.list_alerts(
                states=states, history=True, page_size=PAGE_SIZE, workspace=ws
            )
            # Unresolved first, each group newest first as the hub sends them.
            return sorted(page.items, key=lambda a: a.state == "resolved")

        self._load("alerts", fetch, self.alertsChanged, "alerts")

    def refresh_channels(self) -> None:
        self._load(
            "channels", lambda c, ws: c.list_channels(workspace=ws), self.channelsChanged,
            "channels",
        )  # fmt: skip

    def refresh_deliveries(self, channel: str | None = None) -> None:
        """The delivery log, of one channel or (with "") of all."""
        if channel is not None:
            self.delivery_channel = channel
        name = self.delivery_channel
        self._load(
            "deliveries",
            lambda c, ws: list(c.list_deliveries(channel=name, page_size=PAGE_SIZE,
                                                 workspace=ws).items),
            self.deliveriesChanged, "deliveries",
        )  # fmt: skip

    def set_show_resolved(self, show: bool) -> None:
        if show != self.show_resolved:
            self.show_resolved = show
            self.refresh_alerts()

    # --- actions --------------------------------------------------------------------------

    def _act(
        self, name: str, action: Action, done: Callable[[Any], None], slot: str = "act"
    ) -> None:
        ws = self.session.workspace
        self.session.run(
            self._slots[slot], name, lambda c, _t, _p: action(c, ws), done, self.failed.emit
        )

    def save_rule(self, draft: RuleDraft) -> None:
        """Create (or replace, when `draft.editing`) a rule; refusals go to `ruleRejected`."""

        def done(result: AlertRule | FieldError) -> None:
            if isinstance(result, FieldError):
                self.ruleRejected.emit(result)
                return
            verb = "Saved" if draft.editing else "Created"
            self.statusChanged.emit(f"{verb} rule {result.name}.")
            self.ruleSaved.emit(result)
            self.refresh_rules()

        self._act("save rule", lambda c, ws: save_rule(c, draft, ws), done, "rule")

    def delete_rule(self, rule: AlertRule) -> None:
        def done(_result: object) -> None:
            self.statusChanged.emit(f"Deleted rule {rule.name}.")
            self.refresh_rules()
            self.refresh_alerts()

        self._act("delete rule", lambda c, ws: c.delete_rule(rule.id, workspace=ws), done)

    def acknowledge(self, alert: Alert, note: str = "") -> None:
        self._act(
            "acknowledge alert",
            lambda c, ws: c.acknowledge_alert(alert.id, note.strip(), workspace=ws),
            lambda a: self._alert_changed(f"Acknowledged {a.rule} ({_labels(a)})."),
        )

    def silence(self, alert: Alert, until: datetime, note: str = "") -> None:
        """No notifications for `alert` until `until`; a past time lifts the silence."""

        def done(changed: Alert) -> None:
            if changed.silenced_until is not None and changed.silenced_until > datetime.now(
                changed.silenced_until.tzinfo
            ):
                text = f"Silenced {changed.rule} until {changed.silenced_until:%Y-%m-%d %H:%M}."
            else:
                text = f"Lifted the silence of {changed.rule}."
            self._alert_changed(text)

        self._act(
            "silence alert",
            lambda c, ws: c.silence_alert(alert.id, until, note.strip(), workspace=ws),
            done,
        )

    def _alert_changed(self, status: str) -> None:
        self.statusChanged.emit(status)
        self.refresh_alerts()

    def create_channel(self, draft: ChannelDraft) -> None:
        def done(result: Channel | FieldError) -> None:
            if isinstance(result, FieldError):
                self.channelRejected.emit(result)
                return
            self.statusChanged.emit(f"Added {result.kind} channel {result.name}.")
            self.channelSaved.emit(result)
            self.refresh_channels()

        self._act("add channel", lambda c, ws: create_channel(c, draft, ws), done, "channel")

    def delete_channel(self, channel: Channel) -> None:
        def done(_result: object) -> None:
            self.statusChanged.emit(f"Deleted channel {channel.name}.")
            self.refresh_channels()

        self._act("delete channel", lambda c, ws: c.delete_channel(channel.id, workspace=ws), done)

    def test_channel(self, channel: Channel) -> None:
        """Send a test notification now; the result and the delivery log follow."""

        def done(result: ChannelTest) -> None:
            self.channelTested.emit(channel.name, result)
            self.refresh_deliveries(channel.name)

        self._act("test channel", lambda c, ws: c.test_channel(channel.id, workspace=ws), done)

    def shutdown(self) -> None:
        for slot in self._slots.values():
            slot.cancel()


def _labels(alert: Alert) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items())) or "no labels"


def describe_test(name: str, result: ChannelTest) -> str:
    if result.delivered:
        return f"Test notification delivered through {name}."
    return f"Test notification through {name} FAILED: {result.error or 'no details'}."


__all__ = ["AlertsViewModel", "describe_test"]
