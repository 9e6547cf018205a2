"""Where modelfleet keeps per-user files (data dir, credentials, local hub and agent state)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

DATA_DIR_ENV = "MODELFLEET_DATA_DIR"


def user_data_dir() -> Path:
    """`$MODELFLEET_DATA_DIR`, else `$XDG_DATA_HOME/modelfleet`, else ~/.local/share/modelfleet."""
    explicit = os.environ.get(DATA_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "modelfleet"


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) readable by the owner only; return it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


def write_private_file(path: Path, data: bytes) -> None:
    """Atomically write `data` to `path` with mode 0600 (temp file + rename)."""
    if not path.parent.exists():
        ensure_private_dir(path.parent)
    # Unique per thread too: two threads of one process may write the same file at once.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
