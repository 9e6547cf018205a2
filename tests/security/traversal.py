"""The path-traversal corpus: names that try to leave a folder, and names that only look so."""

from __future__ import annotations

import re

#: names that leave the folder on POSIX, on Windows, or after decoding by a careless reader
TRAVERSAL = [
    "..", "../escape", "../../escape", "a/../../escape", "./../escape", "a/b/../../../escape",
    "/etc/passwd", "/", "//server/share/escape",
    "..\\escape", "a\\..\\..\\escape", "\\escape", "\\\\server\\share\\escape",
    "C:\\escape", "C:/escape", "C:escape", "c:..\\escape",
    "%2e%2e/escape", "%2e%2e%2fescape", "..%2fescape", "..%5cescape", "%252e%252e%252fescape",
    "\u2025/escape", "\uff0e\uff0e/escape", "\uff0e\uff0e\uff0fescape", "\u2024\u2024/escape",
    "..\u2215escape", "..\uff3cescape",
    "a\x00/../escape", "escape\x00.onnx", "\x00",
    ".../escape", "..../escape", "....//escape", "../" * 64 + "escape",
    "a/" * 600 + "escape", "x" * 5000,
]  # fmt: skip

_SEPARATORS = re.compile(r"[\\/]")


def climbs(name: str) -> bool:
    """True if the name is absolute or has a '..' segment with either separator (no decoding)."""
    return (
        name.startswith(("/", "\\"))
        or bool(re.match(r"^[A-Za-z]:", name))
        or ".." in _SEPARATORS.split(name)
    )
