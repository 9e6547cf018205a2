"""Screenshots of every page under a real X server (Xvfb, xcb platform) into docs/screenshots."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PySide6.QtGui import QImage
from screenshot_app import WITH_HUB_DATA
from xvfb import xcb_env, xvfb

from modelfleet.desktop.viewmodels.shell import PAGES

HERE = Path(__file__).resolve().parent
SCREENSHOTS = HERE.parents[1] / "docs" / "screenshots"


def test_every_page_is_saved_as_a_png(agent):
    for _ in range(20):
        agent.infer()
    with xvfb() as display:
        result = subprocess.run(
            [sys.executable, str(HERE / "screenshot_app.py"), str(SCREENSHOTS),
             agent.grpc_address, str(agent.token_file)],
            env=xcb_env(display, PYTHONPATH=str(HERE)),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    saved = [Path(line) for line in result.stdout.split()]
    assert [p.name for p in saved] == [
        f"{i + 1:02d}-{p.key}.png" for i, p in enumerate(PAGES) if p.key not in WITH_HUB_DATA
    ]
    for path in saved:
        image = QImage(str(path))
        assert (image.width(), image.height()) == (1280, 800), path
        # Not blank: a rendered page has many distinct colours (text, rail, charts).
        colours = {image.pixel(x, y) for x in range(0, 1280, 16) for y in range(0, 800, 16)}
        assert len(colours) > 5, path
