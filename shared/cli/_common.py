"""Helpers every CLI group shares: the error type and output formatting."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import orjson


class CliError(Exception):
    """A user-facing failure: printed as one line, no traceback."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


#: 128 + SIGPIPE: what a shell reports for a Unix tool whose reader went away (`| head`).
EXIT_CLOSED_PIPE = 141


def exit_quietly_on_closed_pipe(body: Callable[[], int]) -> int:
    """Run a command line's body; a reader that closed its end of standard output ends the
    command quietly (no traceback) with status `EXIT_CLOSED_PIPE`, like `yes | head -1`."""
    try:
        try:
            return body()
        finally:
            # Output still buffered must fail here, inside the guard, not at interpreter exit.
            sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes standard output once more at exit; /dev/null keeps that quiet.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_CLOSED_PIPE


def print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def print_table(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """Print rows as a plain aligned table with a header."""
    materialised = [[_cell(row.get(col)) for col in columns] for row in rows]
    widths = [max([len(col), *(len(r[i]) for r in materialised)]) for i, col in enumerate(columns)]
    print("  ".join(col.upper().ljust(w) for col, w in zip(columns, widths, strict=True)).rstrip())
    for r in materialised:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
