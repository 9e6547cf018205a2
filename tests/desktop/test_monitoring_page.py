"""The Monitoring page: agent form validation, live curves from streams, visibility toggles."""

from __future__ import annotations

import pytest
from feeds import simulated_agent

from modelfleet.desktop.series import TIME
from modelfleet.desktop.viewmodels.monitoring import MonitoringViewModel, SeriesKey
from modelfleet.desktop.widgets.monitoring_page import MonitoringPage, parse_address


@pytest.fixture
def page(qtbot, tmp_path):
    vm = MonitoringViewModel(interval_ms=100)
    widget = MonitoringPage(vm, tmp_path / "control.token")
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    widget.show()
    yield widget
    widget.shutdown()
    vm.shutdown()


@pytest.mark.parametrize("text", ["", "localhost", "host:", ":50051", "h:0", "h:70000", "h:x"])
def test_bad_addresses_are_rejected_naming_the_field(text):
    with pytest.raises(ValueError, match=r"^Agent address: expected host:port"):
        parse_address(text)


def test_connect_with_a_bad_address_shows_an_inline_error(page, qtbot):
    page.address_edit.setText("no-port")
    page.connect_button.click()
    assert page.field_error.isVisible()
    assert page.field_error.text().startswith("Agent address: expected host:port")
    assert page.vm.sources() == []


def test_real_agent_stream_fills_table_and_curves(page, agent, qtbot):
    for _ in range(5):
        assert agent.infer() == 200
    page.token_edit.setText(str(agent.token_file))
    page.address_edit.setText(agent.grpc_address)
    page.connect_button.click()
    assert page.field_error.isHidden() and page.vm.sources() == [agent.grpc_address]
    key = SeriesKey(agent.grpc_address, "credit-risk", "1")
    qtbot.waitUntil(
        lambda: key in page.vm.series_keys() and len(page.vm.series(key).buffer) >= 3, timeout=10000
    )
    qtbot.waitUntil(lambda: page.throughput_chart.has_curve(key), timeout=2000)
    curve = page.throughput_chart.curve(key, None, "#000")
    qtbot.waitUntil(lambda: curve.xData is not None and len(curve.xData) >= 3, timeout=2000)
    assert curve.xData[-1] <= page.vm.series(key).buffer.column(TIME)[-1]
    assert page.table_model.index(0, 0).data() == "credit-risk"
    assert page.table_model.index(0, 7).data() == "0"
    assert "1 live" in page.agents_label.text()


def test_hiding_a_series_hides_its_curves(page, qtbot):
    page.vm.add_stream("sim", simulated_agent("sim", models=2, hz=20))
    qtbot.waitUntil(lambda: len(page.vm.series_keys()) == 2, timeout=5000)
    key = page.vm.series_keys()[0]
    qtbot.waitUntil(lambda: page.latency_chart.has_curve((key, 4)), timeout=2000)
    page.table_model.set_shown(key, False)
    assert not page.throughput_chart.curve(key, None, "#000").isVisible()
    assert not page.latency_chart.curve((key, 4), None, "#000").isVisible()
    page.table_model.set_shown(key, True)
    assert page.errors_chart.curve(key, None, "#000").isVisible()
