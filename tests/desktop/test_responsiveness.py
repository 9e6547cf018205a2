"""The GUI stays responsive while 20 streams push at 10 Hz and 1e6 points are drawn.

One stream comes from a real agent; the other 19 are local generator workers producing the
same events at 10 Hz (running 19 more agent processes would measure the 2-core machine, not
the app). The heartbeat is the app's own `GuiHeartbeat`.

What is asserted is the behaviour that keeps frames short: every stream keeps flowing, the
heavy curve draws a few points per pixel instead of 1e6, and the event loop never freezes
(a stall of `MAX_FREEZE_MS` means work that belongs on a worker, or undecimated drawing).
The 50 ms stall target itself is a timing figure of a shared machine: it is measured by
`benchmarks/desktop_responsiveness.py` and reported in docs/benchmarks.md, not asserted here.
"""

from __future__ import annotations

import pytest
from feeds import history, simulated_agent

from modelfleet.desktop.app import build_desktop
from modelfleet.desktop.heartbeat import GuiHeartbeat
from modelfleet.desktop.series import TIME
from modelfleet.desktop.services.metrics import AgentEndpoint
from modelfleet.desktop.viewmodels.monitoring import SeriesKey

STREAMS = 20
HZ = 10
POINTS = 1_000_000
MEASURE_S = 6.0
MAX_FREEZE_MS = 250.0


@pytest.fixture
def desktop(qtbot):
    built = build_desktop(interval_ms=1000 // HZ)
    qtbot.addWidget(built.window)
    built.window.resize(1280, 800)
    built.window.show()
    qtbot.waitExposed(built.window)
    yield built
    built.shutdown()


def test_gui_keeps_ticking_with_20_streams_and_a_million_points(desktop, agent, qtbot, capsys):
    vm = desktop.monitoring
    page = desktop.window.page(4)
    vm.add_agent(AgentEndpoint(agent.grpc_address, agent.token_file))
    for i in range(STREAMS - 1):
        vm.add_stream(f"sim-{i}", simulated_agent(f"sim-{i}", hz=HZ))
    real = SeriesKey(agent.grpc_address, "credit-risk", "1")
    qtbot.waitUntil(lambda: len(vm.series_keys()) == STREAMS, timeout=20000)
    assert real in vm.series_keys()

    # A million stored points in front of a live series, charted over the full range.
    heavy = vm.series_keys()[0]
    first_live = vm.series(heavy).buffer.column(TIME)[0]
    vm.merge_history(history(heavy.agent, heavy.model, POINTS, end=first_live))
    page.table_model.set_shown(heavy, True)
    page.window_combo.setCurrentIndex(page.window_combo.count() - 1)  # "Everything loaded"
    assert vm.series(heavy).history_points == POINTS
    curve = page.throughput_chart.curve(heavy, None, "#000")
    qtbot.waitUntil(
        lambda: curve.xData is not None and curve.xData[0] == vm.series(heavy).display()[0, 0],
        timeout=5000,
    )

    # What keeps the frame cheap: the curve draws about a few points per pixel, not 1e6.
    drawn = curve.curve.xData
    assert drawn is not None and len(drawn) <= 20 * page.throughput_chart.width()

    heartbeat = GuiHeartbeat(interval_ms=10)
    before = vm.revision
    heartbeat.start()
    qtbot.wait(int(MEASURE_S * 1000))
    heartbeat.stop()
    delivered = vm.revision - before

    with capsys.disabled():
        print(
            f"\n[responsiveness] longest GUI gap {heartbeat.longest_gap_ms:.1f} ms over "
            f"{heartbeat.ticks} ticks, {delivered} snapshots in {MEASURE_S:g} s"
        )
    # Every stream kept flowing (at least half its rate) while we measured.
    assert delivered >= STREAMS * HZ * MEASURE_S / 2
    assert heartbeat.ticks >= MEASURE_S * 1000 / 10 / 2
    assert heartbeat.longest_gap_ms <= MAX_FREEZE_MS
