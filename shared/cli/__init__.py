"""The `modelfleet` command line: the hub, experiments, models, deployments, agents and audit.

(That first line is the description `modelfleet --help` prints.) The sub-commands are listed
in `COMMANDS`, each with the module that adds it.

Each module has `register(subparsers)` that adds its parsers and sets `func` on them; it is
imported only when one of its commands runs, and heavy imports (database, ONNX Runtime,
Qt) happen inside the handlers, so that `modelfleet --help` stays fast and works without
the optional extras.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from modelfleet._version import __version__
from modelfleet.cli._common import CliError, exit_quietly_on_closed_pipe

# The sub-commands in the order of --help: (name, one-line help, module that registers it).
# A module's `register(subparsers)` adds its commands, with these help lines, and their
# options; `modelfleet NAME` imports only NAME's module (the others' import client, grpc,
# protobuf and numpy, about a second of a start).
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("hub", "create and run the control-plane hub", "hub"),
    ("login", "sign in to a hub and remember it", "auth"),
    ("logout", "sign out and forget the saved sign-in", "auth"),
    ("whoami", "who the hub thinks you are, and your roles", "auth"),
    ("mfa", "two-step sign-in with an authenticator app (TOTP)", "signin_security"),
    ("sso", "single sign-on (OpenID Connect) providers", "signin_security"),
    ("network", "IP allow-lists (CIDR, IPv4 and IPv6)", "signin_security"),
    ("workspaces", "list, create and administer workspaces", "workspaces"),
    ("users", "administer the hub's users (system admins)", "users"),
    ("api-keys", "create, list and revoke API keys", "api_keys"),
    ("audit", "query, export and verify the audit log", "audit"),
    ("models", "registered models, versions and aliases", "models"),
    ("push", "upload an ONNX file and register it as a new version", "models"),
    ("alerts", "alert rules and alerts", "alerts"),
    ("channels", "notification channels", "alerts"),
    ("experiments", "experiments of the workspace", "tracking"),
    ("runs", "search, show and compare runs", "tracking"),
    ("agents", "enrol, list and revoke serving agents", "fleet"),
    ("deploy", "deploy a model version", "deployments"),
    ("promote", "copy a deployment to another env", "deployments"),
    ("rollback", "back to an earlier revision", "deployments"),
    ("traffic", "split traffic: v3=90 v4=10", "deployments"),
    ("deployments", "list deployments and their timelines", "deployments"),
    ("desktop", "open the desktop app", "desktop"),
    (
        "quickstart",
        "run the sample project on a local hub and agent (no display needed)",
        "quickstart",
    ),
    ("drift", "data drift reports", "drift"),
)
HELP = {name: help_line for name, help_line, _ in COMMANDS}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser; with `argv`, only the module of the command it names is imported
    and the other commands are their name and help line (same --help, same errors)."""
    parser = argparse.ArgumentParser(prog="modelfleet", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"modelfleet {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    named = next((arg for arg in argv if not arg.startswith("-")), None) if argv else None
    wanted = {module for name, _, module in COMMANDS if argv is None or name == named}
    registered: set[str] = set()
    for name, help_line, module in COMMANDS:
        if module not in wanted:
            subparsers.add_parser(name, help=help_line)
        elif module not in registered:  # a module's commands are next to each other
            importlib.import_module(f"modelfleet.cli.{module}").register(subparsers)
            registered.add(module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return exit_quietly_on_closed_pipe(lambda: _main(argv))


def _main(argv: Sequence[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
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
