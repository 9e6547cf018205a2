"""A 3 GiB artifact up and down through a real hub over gRPC, with the hub's memory flat."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from modelfleet.client import HubClient
from tests.conftest import RunningHub

GiB = 1 << 30
# Peak RSS growth of the hub process allowed for the whole round trip.
MAX_GROWTH_BYTES = 100 * 10**6


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} missing from /proc/{pid}/status")


def sparse_file(path: Path, size: int) -> str:
    """A sparse file of `size` bytes with a little content at both ends and in the middle."""
    with open(path, "wb") as out:
        out.truncate(size)
        for offset in (0, size // 2, size - 4096):
            out.seek(offset)
            out.write(os.urandom(4096))
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@pytest.mark.slow
@pytest.mark.parametrize("hub_db_url", ["sqlite"], indirect=True)
def test_three_gib_round_trip_keeps_hub_memory_flat(
    running_hub: RunningHub, admin: HubClient, tmp_path: Path
) -> None:
    size = 3 * GiB
    source = tmp_path / "big.bin"
    sha256 = sparse_file(source, size)
    # Warm the hub's code paths with a small transfer, then reset its peak-RSS mark.
    small = tmp_path / "small.bin"
    small.write_bytes(os.urandom(3 << 20))
    admin.upload_artifact(small)
    admin.download_artifact(admin.upload_artifact(small).sha256, tmp_path / "small.out")
    Path(f"/proc/{running_hub.pid}/clear_refs").write_text("5")
    base_kib = status_kib(running_hub.pid, "VmRSS")

    info = admin.upload_artifact(source, sha256=sha256)
    assert (info.sha256, info.size) == (sha256, size)
    source.unlink()  # room on disk for the download
    target = tmp_path / "big.out"
    admin.download_artifact(sha256, target)  # the client checks the digest as it writes
    assert target.stat().st_size == size

    growth = (status_kib(running_hub.pid, "VmHWM") - base_kib) * 1024
    assert growth < MAX_GROWTH_BYTES, f"hub peak RSS grew by {growth / 1e6:.1f} MB"
