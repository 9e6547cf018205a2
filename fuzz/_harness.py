"""What every harness shares: atheris set-up and the one entry point run.py calls."""

from __future__ import annotations

import sys
from collections.abc import Callable

import atheris


def fuzz(test_one_input: Callable[[bytes], None]) -> None:
    """Run libFuzzer over `test_one_input` with the command-line options of sys.argv."""
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
