"""The Alerts page against a real hub (subprocess) whose alert tasks run every 0.2 s and may
notify the loopback HTTP receiver (the hub's outbound allow setting, as the alert tests do):
rules with the hub's refusals shown at their field, channels whose secrets never come back,
test sends and the delivery log, and an alert fired by an agent's roll-ups acknowledged,
silenced, lifted and resolved."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtCore import QDateTime, Qt
from PySide6.QtWidgets import QLabel, QLineEdit

from modelfleet.desktop.app import Desktop
from modelfleet.desktop.widgets.alerts_page import AlertsPage
from modelfleet.desktop.widgets.prompts import Prompts
from tests.alerts.alerthelp import HOOK_SECRET, SLACK_PATH
from tests.alerts.receivers import HttpReceiver
from tests.conftest import RunningHub
from tests.desktop import test_signin as _signin
from tests.desktop.hub_seed import DEPLOYMENT, ENVIRONMENT, SeedAgent, rollup
from tests.desktop.test_admin import Confirmations
from tests.desktop.test_signin import TIMEOUT_MS, admin_client, sign_in

desktop = _signin.desktop
hub_db_url = _signin.hub_db_url
private_data_dir = _signin.private_data_dir


@pytest.fixture
def hub_env() -> dict[str, str]:
    return {
        "MODELFLEET_HUB_ALERT_EVAL_INTERVAL": "0.2",
        "MODELFLEET_HUB_ALERT_RETRY_BASE": "0.2",
        "MODELFLEET_HUB_ALERT_RETRY_MAX": "0.5",
        "MODELFLEET_HUB_OUTBOUND_TIMEOUT": "3",
        # The receiver listens on 127.0.0.1: the explicit opening for it on this hub.
        "MODELFLEET_HUB_OUTBOUND_ALLOWED_NETWORKS": "127.0.0.1/32",
    }


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    http = HttpReceiver()
    http.start()
    try:
        yield http
    finally:
        http.stop()


@pytest.fixture
def confirmations(monkeypatch: pytest.MonkeyPatch) -> Confirmations:
    hook = Confirmations()
    monkeypatch.setattr(Prompts, "confirm_hook", hook)
    return hook


def _page(desktop: Desktop, qtbot, hub: RunningHub) -> AlertsPage:
    sign_in(desktop, qtbot, hub)
    page = desktop.window.page(5)
    assert isinstance(page, AlertsPage)
    desktop.shell.select_key("alerts")
    return page


def _click(qtbot, button) -> None:
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _texts(page: AlertsPage) -> str:
    """Everything the page shows as text: labels, line edits and every table cell."""
    parts = [w.text() for w in page.findChildren(QLabel) + page.findChildren(QLineEdit)]
    for model in (page.channels_model, page.deliveries_model, page.rules_model):
        parts += [str(cell) for row in model.rows for cell in row]
    return "\n".join(parts)


def test_rules_and_channels_with_refusals_at_their_field_and_write_only_secrets(
    running_hub: RunningHub, desktop: Desktop, qtbot, receiver: HttpReceiver,
    confirmations: Confirmations,
) -> None:  # fmt: skip
    page = _page(desktop, qtbot, running_hub)
    vm, channels, rules = page.vm, page.channel_form, page.rule_form
    page.tabs.setCurrentIndex(2)

    # A Slack channel whose secret is not a webhook URL: refused, shown next to the secret.
    channels.name_edit.setText("oncall-slack")
    channels.kind_combo.setCurrentText("slack")
    channels.secret_edit.setText("not-a-url")
    with qtbot.waitSignal(vm.channelRejected, timeout=TIMEOUT_MS) as refused:
        _click(qtbot, channels.add_button)
    assert refused.args[0].field == "secret"
    assert channels.error_text("secret").startswith("Expected")
    assert channels.secret_edit.text() == ""  # emptied as soon as it was sent

    # A webhook channel with a signing key: saved; the key is nowhere on the page after.
    channels.kind_combo.setCurrentText("webhook")
    channels.name_edit.setText("hooks")
    channels.url_edit.setText(receiver.url("/hook"))
    channels.secret_edit.setText(HOOK_SECRET)
    with qtbot.waitSignals([vm.channelSaved, vm.channelsChanged], timeout=TIMEOUT_MS):
        _click(qtbot, channels.add_button)
    assert channels.error_text("secret") == "" and channels.name_edit.text() == ""
    channels.kind_combo.setCurrentText("slack")
    channels.name_edit.setText("oncall-slack")
    channels.secret_edit.setText(receiver.url(SLACK_PATH))
    with qtbot.waitSignals([vm.channelSaved, vm.channelsChanged], timeout=TIMEOUT_MS):
        _click(qtbot, channels.add_button)
    qtbot.waitUntil(lambda: len(page.channels_model.rows) == 2, timeout=TIMEOUT_MS)
    rows = {row[0]: row for row in page.channels_model.rows}
    assert rows["hooks"][1:4] == ("webhook", "127.0.0.1", "set (write-only)")  # host only
    assert rows["oncall-slack"][3] == "set (write-only)"
    shown = _texts(page)
    assert HOOK_SECRET not in shown and SLACK_PATH not in shown

    # Test send through the webhook: the result, the receiver's request, the delivery log.
    page.channels_table.selectRow([c.name for c in vm.channels].index("hooks"))
    with qtbot.waitSignal(vm.channelTested, timeout=TIMEOUT_MS) as tested:
        _click(qtbot, page.test_button)
    assert tested.args[1].delivered, tested.args[1].error
    assert page.test_label.text() == "Test notification delivered through hooks."
    assert any(path == "/hook" for path, _headers, _body in receiver.requests)
    qtbot.waitUntil(
        lambda: any(r[0] == "hooks" and r[2] == "delivered"
                    for r in page.deliveries_model.rows), timeout=TIMEOUT_MS,
    )  # fmt: skip
    assert HOOK_SECRET not in _texts(page)

    # Rules: the hub's refusals land next to the field they name.
    page.tabs.setCurrentIndex(1)
    rules.series_combo.setCurrentText("latency_p95")
    with qtbot.waitSignal(vm.ruleRejected, timeout=TIMEOUT_MS) as refused:
        _click(qtbot, rules.save_button)  # no name
    assert refused.args[0].field == "name" and rules.error_text("name").startswith("Expected")
    rules.name_edit.setText("slow-fraud")
    rules.series_combo.setCurrentText("Latency P95!")
    with qtbot.waitSignal(vm.ruleRejected, timeout=TIMEOUT_MS) as refused:
        _click(qtbot, rules.save_button)
    assert refused.args[0].field == "series" and rules.error_text("name") == ""
    assert "one of latency_p50" in rules.error_text("series")
    rules.series_combo.setCurrentText("latency_p95")
    rules.agent_edit.setText("abc")  # an agent scope is for agent_silent_seconds only
    with qtbot.waitSignal(vm.ruleRejected, timeout=TIMEOUT_MS) as refused:
        _click(qtbot, rules.save_button)
    assert refused.args[0].field == "agent_id" and "agent_silent_seconds" in rules.error_text(
        "scope"
    )
    rules.agent_edit.clear()
    rules.environment_edit.setText(ENVIRONMENT)
    rules.deployment_edit.setText(DEPLOYMENT)
    rules.comparator_combo.setCurrentText(">")
    rules.threshold_spin.setValue(0.05)
    rules.for_spin.setValue(30)
    rules.window_spin.setValue(120)
    rules.samples_spin.setValue(5)
    rules.severity_combo.setCurrentText("critical")
    ticks = {rules.channels_list.item(i).text(): rules.channels_list.item(i)
             for i in range(rules.channels_list.count())}  # fmt: skip
    ticks["hooks (webhook)"].setCheckState(Qt.CheckState.Checked)
    with qtbot.waitSignals([vm.ruleSaved, vm.rulesChanged], timeout=TIMEOUT_MS):
        _click(qtbot, rules.save_button)
    assert rules.error_text("series") == "" and rules.name_edit.text() == ""
    assert page.rules_model.rows == [
        ("slow-fraud", "latency_p95 > 0.05 for 30s (window 2m, >= 5 samples)",
         f"env {ENVIRONMENT}, deployment {DEPLOYMENT}", "critical", "hooks", "on"),
    ]  # fmt: skip

    # Edit: the form fills, saving replaces the rule (same id) on the hub.
    page.rules_table.selectRow(0)
    _click(qtbot, page.edit_button)
    assert rules.name_edit.text() == "slow-fraud" and rules.ticked_channels() == ["hooks"]
    rules.threshold_spin.setValue(0.08)
    rule_id = vm.rules[0].id
    with qtbot.waitSignals([vm.ruleSaved, vm.rulesChanged], timeout=TIMEOUT_MS):
        _click(qtbot, rules.save_button)
    with admin_client(running_hub, "default") as client:
        (stored,) = client.list_rules()
    assert (stored.id, stored.threshold, stored.channels) == (rule_id, 0.08, ("hooks",))

    # Deleting asks first; declining keeps the rule, accepting deletes it.
    page.rules_table.selectRow(0)
    confirmations.answer = False
    _click(qtbot, page.delete_rule_button)
    assert confirmations.asked == ["Delete rule"] and len(vm.rules) == 1
    confirmations.answer = True
    with qtbot.waitSignal(vm.rulesChanged, timeout=TIMEOUT_MS):
        _click(qtbot, page.delete_rule_button)
    assert vm.rules == [] and page.rules_model.rows == []
    page.tabs.setCurrentIndex(2)
    page.channels_table.selectRow(0)
    with qtbot.waitSignal(vm.channelsChanged, timeout=TIMEOUT_MS):
        _click(qtbot, page.delete_channel_button)
    assert confirmations.asked[-1] == "Delete channel" and len(vm.channels) == 1


def test_fired_alert_acknowledged_silenced_lifted_and_resolved(
    running_hub: RunningHub, desktop: Desktop, qtbot, confirmations: Confirmations
) -> None:
    with admin_client(running_hub, "default") as client:
        client.create_rule(
            "slow-fraud", "latency_p95", ">", 0.05, window_seconds=3, severity="critical",
            environment=ENVIRONMENT, deployment=DEPLOYMENT,
        )  # fmt: skip
        agent = SeedAgent(running_hub.address, running_hub.ca_pem, client)
    page = _page(desktop, qtbot, running_hub)
    vm = page.vm
    try:
        agent.send([rollup(datetime.now(UTC), 120, 0.4)])  # 400 ms p95: breached

        def firing() -> bool:
            vm.refresh_alerts()
            qtbot.wait(300)
            return any(a.state == "firing" for a in vm.alerts)

        qtbot.waitUntil(firing, timeout=TIMEOUT_MS)
        page.alerts_table.selectRow(0)
        row = page.alerts_model.rows[0]
        assert row[:3] == ("firing", "critical", "slow-fraud") and row[4] == "0.4"
        assert f"deployment={DEPLOYMENT}" in row[3]
        assert [r[0] for r in page.history_model.rows][-1] == "firing"

        # Acknowledge with a note: who and the note show in the table and the history.
        page.note_edit.setText("looking at the GC pauses")
        with qtbot.waitSignal(vm.alertsChanged, timeout=TIMEOUT_MS):
            _click(qtbot, page.ack_button)
        assert page.status_label.text().startswith("Acknowledged slow-fraud")
        assert page.alerts_model.rows[0][8] == "admin"
        assert ("acknowledged", "admin", "looking at the GC pauses") in {
            (r[0], r[3], r[4]) for r in page.history_model.rows
        }

        # Silence until a chosen time: asked first, then stored on the hub to the minute.
        until = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=2)
        page.until_edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(until.timestamp())))
        with qtbot.waitSignal(vm.alertsChanged, timeout=TIMEOUT_MS):
            _click(qtbot, page.silence_button)
        assert confirmations.asked == ["Silence alert"]
        assert page.alerts_model.rows[0][9] == f"{until:%Y-%m-%d %H:%M:%S}"
        with admin_client(running_hub, "default") as client:
            (stored,) = client.list_alerts(states=["firing"]).items
        assert stored.silenced_until == until and stored.acknowledged_by == "admin"
        with qtbot.waitSignal(vm.alertsChanged, timeout=TIMEOUT_MS):
            _click(qtbot, page.unsilence_button)
        assert page.status_label.text() == "Lifted the silence of slow-fraud."

        # Healthy roll-ups after the 3 s window: resolved, listed below, with its history.
        qtbot.wait(3200)
        agent.send([rollup(datetime.now(UTC), 120, 0.01)])

        def resolved() -> bool:
            vm.refresh_alerts()
            qtbot.wait(300)
            return any(a.state == "resolved" for a in vm.alerts)

        qtbot.waitUntil(resolved, timeout=TIMEOUT_MS)
        page.alerts_table.selectRow(0)
        kinds = [r[0] for r in page.history_model.rows]
        assert kinds[0] == "resolved" and {"firing", "acknowledged", "silenced"} <= set(kinds)
        with qtbot.waitSignal(vm.alertsChanged, timeout=TIMEOUT_MS):
            page.resolved_box.setChecked(False)
        assert vm.alerts == [] and page.alerts_model.rows == []
    finally:
        agent.close()
