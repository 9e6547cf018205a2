"""Layering: services are Qt-free, view-models use QtCore only; neither touches widgets."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

DESKTOP = Path(__file__).resolve().parents[2] / "desktop"
SERVICE_FILES = sorted((DESKTOP / "services").glob("*.py"))
VIEWMODEL_FILES = [
    *sorted((DESKTOP / "viewmodels").glob("*.py")),
    DESKTOP / "workers.py",
    DESKTOP / "series.py",
    DESKTOP / "heartbeat.py",
]
WIDGET_MODULES = ("PySide6.QtWidgets", "PySide6.QtGui", "pyqtgraph", "modelfleet.desktop.widgets")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_layers_have_files():
    assert len(SERVICE_FILES) >= 3 and len(VIEWMODEL_FILES) >= 6


@pytest.mark.parametrize("path", SERVICE_FILES, ids=lambda p: p.name)
def test_services_import_no_qt(path):
    assert not {m for m in imported_modules(path) if m.startswith(("PySide6", "pyqtgraph"))}


@pytest.mark.parametrize("path", VIEWMODEL_FILES, ids=lambda p: p.name)
def test_viewmodels_import_no_widgets(path):
    forbidden = {m for m in imported_modules(path) if m.startswith(WIDGET_MODULES)}
    assert not forbidden, f"{path.name} imports {forbidden}"


def test_importing_services_and_viewmodels_loads_no_widget_module():
    # Transitive check: a fresh interpreter, so nothing else has loaded QtWidgets yet.
    code = (
        "import sys, modelfleet.desktop.services, modelfleet.desktop.viewmodels, "
        "modelfleet.desktop.workers, modelfleet.desktop.heartbeat\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('PySide6.QtWidgets', "
        "'PySide6.QtGui', 'pyqtgraph', 'modelfleet.desktop.widgets')))\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    code = "import sys, modelfleet.desktop.services; print('PySide6' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
