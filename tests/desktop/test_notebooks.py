"""The Notebooks page with a real JupyterLab (the `notebooks` extra) and a real hub: a server
started for the signed-in workspace with the SDK connected through its environment only,
listed, a kernel started in it, stopped from the page (kernel gone, key revoked), and a
server left running stopped when the app shuts down. The browser is not opened in tests:
`open_in_browser` is replaced with a recorder."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil
import pytest
from PySide6.QtCore import Qt

from modelfleet.desktop.app import Desktop
from modelfleet.desktop.services.notebooks import NotebookServer
from modelfleet.desktop.widgets import notebooks_page
from modelfleet.desktop.widgets.notebooks_page import NotebooksPage
from modelfleet.desktop.widgets.prompts import Prompts
from tests.conftest import RunningHub
from tests.desktop import test_signin as _signin
from tests.desktop.test_admin import Confirmations
from tests.desktop.test_signin import admin_client, sign_in

desktop = _signin.desktop
hub_db_url = _signin.hub_db_url
private_data_dir = _signin.private_data_dir
START_MS = 120_000  # JupyterLab's cold start on a busy 2-core machine


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def _api(server: NotebookServer, path: str, method: str = "GET") -> object:
    base, token = server.url.split("/lab?token=")
    request = urllib.request.Request(
        f"{base}{path}", method=method, headers={"Authorization": f"token {token}"},
        data=b"{}" if method == "POST" else None,
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_jupyterlab_starts_connected_lists_and_stops_without_orphans(
    running_hub: RunningHub, desktop: Desktop, qtbot, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    opened: list[str] = []
    monkeypatch.setattr(notebooks_page, "open_in_browser", opened.append)
    confirmations = Confirmations()
    monkeypatch.setattr(Prompts, "confirm_hook", confirmations)
    sign_in(desktop, qtbot, running_hub)
    page = desktop.window.page(8)
    assert isinstance(page, NotebooksPage)
    desktop.shell.select_key("notebooks")
    vm = desktop.notebooks
    folder = tmp_path / "notebooks"
    folder.mkdir()
    page.folder_edit.setText(str(folder))

    with qtbot.waitSignal(vm.started, timeout=START_MS) as started:
        qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    server: NotebookServer = started.args[0]
    assert opened == [server.url] and server.url.startswith("http://127.0.0.1:")
    assert server.workspace == "default" and server.root_dir == folder
    assert _api(server, "/api/status") is not None  # it answers, with its own token
    assert page.model.rows[0][:3] == (server.address, "default", str(folder))

    # The SDK settings reach the server (and its kernels) through the environment only.
    env = _environ(server.pid)
    assert env["MODELFLEET_HUB"] == running_hub.address
    assert env["MODELFLEET_HUB_CA"] == running_hub.ca_fingerprint
    assert env["MODELFLEET_WORKSPACE"] == "default"
    key = env["MODELFLEET_API_KEY"]
    probe = subprocess.run(
        [sys.executable, "-c", "import modelfleet; c = modelfleet.connect(); "
         "p = c.whoami(); print(p.kind, c.list_rules() == [])"],
        env={**env, "MODELFLEET_DATA_DIR": str(tmp_path / "empty")}, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert probe.stdout.split() == ["api_key", "True"], probe.stderr
    runtime = Path(env["JUPYTER_RUNTIME_DIR"])
    for path in [*folder.rglob("*"), *runtime.rglob("*")]:
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path

    # A kernel in the server: it inherits the connection, and stops with the server.
    kernel = _api(server, "/api/kernels", "POST")
    assert isinstance(kernel, dict) and kernel["id"]
    kernels = [p for p in psutil.Process(server.pid).children(recursive=True)
               if "ipykernel" in " ".join(p.cmdline())]  # fmt: skip
    assert len(kernels) == 1
    assert _environ(kernels[0].pid)["MODELFLEET_API_KEY"] == key

    # Stop from the page: asked first; server and kernel gone; the key revoked.
    page.table.selectRow(0)
    with qtbot.waitSignal(vm.serversChanged, timeout=60_000):
        qtbot.mouseClick(page.stop_button, Qt.MouseButton.LeftButton)
    assert confirmations.asked == ["Stop notebook server"]
    assert vm.servers == [] and page.model.rows == []
    qtbot.waitUntil(lambda: _gone(server.pid) and _gone(kernels[0].pid), timeout=10_000)
    assert not runtime.exists()
    with admin_client(running_hub, "default") as client:
        (made,) = [k for k in client.list_api_keys(include_revoked=True)
                   if k.id == server.api_key_id]  # fmt: skip
    assert made.revoked_at is not None and made.expires_at is not None

    # A server still running when the app shuts down stops with it.
    with qtbot.waitSignal(vm.started, timeout=START_MS) as started:
        vm.start(folder)
    second = started.args[0]
    assert [s.pid for s in vm.launcher.running()] == [second.pid]
    desktop.shutdown()
    assert _gone(second.pid) and vm.launcher.running() == []


def test_a_folder_that_does_not_exist_is_refused_and_nothing_starts(
    running_hub: RunningHub, desktop: Desktop, qtbot, tmp_path: Path
) -> None:
    sign_in(desktop, qtbot, running_hub)
    vm = desktop.notebooks
    with qtbot.waitSignal(vm.failed, timeout=30_000) as failed:
        vm.start(tmp_path / "missing")
    assert failed.args[0].startswith("Notebook folder: expected an existing folder")
    assert vm.launcher.running() == []
    with admin_client(running_hub, "default") as client:
        keys = client.list_api_keys(include_revoked=True)
    assert keys and all(k.revoked_at is not None for k in keys)  # its key did not outlive it
