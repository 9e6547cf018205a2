"""Writing an audit export stream to a file: chunk by chunk, complete or not at all."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from modelfleet.desktop.services.cancel import CancelToken

# File suffix -> the hub's export format (JSON Lines: one JSON object per event).
FORMATS = {".csv": "csv", ".jsonl": "jsonl"}


def export_format(path: Path) -> str:
    """The hub format for `path`'s suffix, or ValueError naming the field."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"Export file: expected a .csv or .jsonl name, got {path.name!r}")
    return fmt


def write_stream(
    chunks: Iterable[bytes],
    path: Path,
    cancel: CancelToken,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write `chunks` to `path` via a temporary file renamed at the end; the bytes written.

    A cancelled or failed export leaves no partial file behind (and any older file intact).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    written = 0
    try:
        with tmp.open("wb") as out:
            for chunk in chunks:
                cancel.raise_if_cancelled()
                out.write(chunk)
                written += len(chunk)
                if progress is not None:
                    progress(written)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return written
