"""`modelfleet desktop`: open the desktop app (needs a display and the `desktop` extra)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelfleet.cli import HELP
from modelfleet.cli._common import CliError

NO_DISPLAY = (
    "modelfleet desktop: no display found (DISPLAY and WAYLAND_DISPLAY are unset); "
    "run it in a graphical session"
)


def has_display(environ: Mapping[str, str], platform: str = sys.platform) -> bool:
    """Whether Qt can open a window: macOS/Windows always, else an X11/Wayland display or an
    explicit QT_QPA_PLATFORM (e.g. offscreen)."""
    if platform in ("darwin", "win32"):
        return True
    return any(environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "desktop", help=HELP["desktop"], description=__doc__
    )
    parser.add_argument(
        "--agent",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="watch this agent's live metrics (repeatable)",
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        default=None,
        help="the agents' control token file (default: <user data dir>/agent/control.token)",
    )
    parser.add_argument(
        "--interval-ms", type=int, default=1000, help="metrics snapshot period (100..60000)"
    )
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning"])
    parser.set_defaults(func=run_desktop)


def run_desktop(args: argparse.Namespace) -> int:
    if not has_display(os.environ):
        print(NO_DISPLAY, file=sys.stderr)
        return 1
    if not 100 <= args.interval_ms <= 60_000:
        raise CliError(f"--interval-ms: expected 100..60000, got {args.interval_ms}")
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    try:
        # Qt is an optional extra and slow to import: only this command loads it.
        from modelfleet.desktop.app import default_token_file, run
        from modelfleet.desktop.services.metrics import AgentEndpoint
        from modelfleet.desktop.widgets.monitoring_page import parse_address
    except ImportError as exc:
        raise CliError(
            f"the desktop app needs the desktop extra (pip install 'modelfleet[desktop]'): {exc}"
        ) from exc
    token_file = args.token_file or default_token_file()
    try:
        agents = [AgentEndpoint(parse_address(a), token_file) for a in args.agent]
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    return run(agents, args.interval_ms)
