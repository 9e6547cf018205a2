"""The desktop's local-mode hook (offscreen): with no connection profile the app starts the
local stack on a worker, signs in through its own session with the "local" profile, watches
the local agent, runs the Quick Start from its action, and stops the children on quit."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from modelfleet.client import FileStore, Profile
from modelfleet.desktop.app import Desktop, _local_mode, build_desktop
from modelfleet.desktop.services.hub_session import HubSessionService, ProfileBook
from modelfleet.desktop.viewmodels.local_mode import LOCAL_PROFILE, LocalModeViewModel
from modelfleet.desktop.widgets.local_mode_bar import LocalModeBar
from modelfleet.desktop.workers import live_workers
from modelfleet.local import QuickStartResult, StackInfo
from tests.local.localhelp import gone, running_children, wait_for

pytestmark = [pytest.mark.gui, pytest.mark.timeout(240)]


def make_desktop(qtbot: QtBot, folder: Path) -> Desktop:
    service = HubSessionService(FileStore(folder / "credentials.json"))
    desktop = build_desktop(session_service=service, profiles=ProfileBook(folder / "profiles"))
    qtbot.addWidget(desktop.window)
    return desktop


def test_with_a_team_profile_the_app_stays_out_of_local_mode(qtbot: QtBot, tmp_path: Path) -> None:
    desktop = make_desktop(qtbot, tmp_path)
    desktop.session.book.save("team", Profile(hub="hub.example.com:7443", username="ann"))
    try:
        assert _local_mode(desktop) is None
        assert desktop.window.findChild(LocalModeBar) is None
    finally:
        desktop.shutdown()


def test_without_a_profile_the_app_runs_local_mode_and_the_quick_start(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELFLEET_DATA_DIR", str(tmp_path))
    desktop = make_desktop(qtbot, tmp_path)
    local = _local_mode(desktop)
    assert isinstance(local, LocalModeViewModel)
    bar = desktop.window.findChild(LocalModeBar)
    assert bar is not None and not bar.quick_start.isEnabled()
    steps: list[str] = []
    local.stepped.connect(lambda step: steps.append(f"{step.name}:{step.state}"))
    info: StackInfo | None = None
    try:
        with qtbot.waitSignals([local.stackReady, desktop.session.signedIn], timeout=180_000):
            local.start()
        info = local.info
        assert info is not None and local.stack.owned
        assert "hub:done" in steps and "agent:done" in steps
        # Signed in through the app's own session, with the saved "local" profile.
        assert desktop.session.profile_name == LOCAL_PROFILE
        assert desktop.session.book.names() == [LOCAL_PROFILE]
        assert desktop.session.book.load(LOCAL_PROFILE).hub == info.hub_address
        assert desktop.session.principal is not None
        assert desktop.session.principal.username == "admin"
        assert info.grpc_target in desktop.monitoring.sources()
        assert bar.quick_start.isEnabled()
        with qtbot.waitSignal(local.quickStartFinished, timeout=120_000) as finished:
            bar.quick_start.trigger()
        result = finished.args[0]
        assert isinstance(result, QuickStartResult) and result.version == 1
        assert "traffic:done" in steps
        assert "Quick Start live" in bar.status.text()
        assert desktop.shell.pages[desktop.shell.current].key == "monitoring"
    finally:
        desktop.shutdown()
        local.shutdown()
    assert info is not None
    wait_for(lambda: gone(info.hub_pid) and gone(info.agent_pid), 30.0, "children to stop")
    assert not [w for w in live_workers() if w.isRunning()]


def test_quitting_while_the_stack_starts_leaves_nothing_running(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELFLEET_DATA_DIR", str(tmp_path))
    desktop = make_desktop(qtbot, tmp_path)
    local = _local_mode(desktop)
    assert local is not None
    failures: list[str] = []
    local.failed.connect(failures.append)
    with qtbot.waitSignal(local.stepped, timeout=60_000):  # the hub is being created
        local.start()
    desktop.shutdown()
    local.shutdown()  # what the app does on quit: cancel, wait, stop
    assert not [w for w in live_workers() if w.isRunning()]
    assert not running_children(tmp_path)
    assert local.info is None and not local.stack.owned
    assert failures == []  # a cancelled start is not an error to show
    local.start()  # a closed local mode starts nothing
    assert not [w for w in live_workers() if w.isRunning()]
