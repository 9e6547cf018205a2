"""The `modelfleet` command line: one sub-command group per module in `COMMAND_GROUPS`.

Each group module has `register(subparsers)` that adds its parsers and sets `func` on
them; heavy imports (database, ONNX Runtime, Qt) happen inside the handlers so that
`modelfleet --help` stays fast and works without the optional extras.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from modelfleet._version import __version__
from modelfleet.cli._common import CliError, exit_quietly_on_closed_pipe

# Modules that add sub-commands, in the order they appear in --help.
COMMAND_GROUPS: tuple[str, ...] = (
    "modelfleet.cli.hub",
    "modelfleet.cli.auth",
    "modelfleet.cli.signin_security",
    "modelfleet.cli.workspaces",
    "modelfleet.cli.users",
    "modelfleet.cli.api_keys",
    "modelfleet.cli.audit",
    "modelfleet.cli.models",
    "modelfleet.cli.alerts",
    "modelfleet.cli.tracking",
    "modelfleet.cli.fleet",
    "modelfleet.cli.deployments",
    "modelfleet.cli.desktop",
    "modelfleet.cli.quickstart",
    "modelfleet.cli.drift",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelfleet", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"modelfleet {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_GROUPS:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return exit_quietly_on_closed_pipe(lambda: _main(argv))


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except CliError as exc:
        print(f"modelfleet: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


__all__ = ["build_parser", "main"]
