"""The `modelfleet-agent` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from modelfleet._version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelfleet-agent", description=__doc__)
    parser.add_argument("--version", action="version", version=f"modelfleet-agent {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    return int(func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
