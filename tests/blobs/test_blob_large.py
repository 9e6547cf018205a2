"""A 3 GiB blob through the store with flat memory: streamed in, streamed out, never held."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from modelfleet.agent.hub.blobs import Keyring, LocalBlobStore

GiB = 1 << 30
CHUNK = 1 << 20


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"{field} missing from /proc/self/status")


def _reset_peak_rss() -> int:
    """Reset the kernel's peak-RSS mark (VmHWM) so earlier tests' peaks do not hide growth."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    return _status_kib("VmRSS")


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_3gib_sparse_file_round_trip_with_flat_memory(tmp_path: Path, keyring: Keyring) -> None:
    size = 3 * GiB + 12345  # not a whole number of blocks
    marker = b"a marker in the middle"
    source = tmp_path / "sparse.bin"
    with open(source, "wb") as handle:
        handle.truncate(size)
        handle.seek(size // 2)
        handle.write(marker)
    # The expected digest from the known content, without a third pass over the file.
    digest = hashlib.sha256()
    zeros = memoryview(bytes(CHUNK))
    for start in range(0, size // 2, CHUNK):
        digest.update(zeros[: min(CHUNK, size // 2 - start)])
    digest.update(marker)
    rest = size - size // 2 - len(marker)
    for start in range(0, rest, CHUNK):
        digest.update(zeros[: min(CHUNK, rest - start)])
    store = LocalBlobStore(tmp_path / "store", keyring)

    base = _reset_peak_rss()
    upload_id = store.begin(digest.hexdigest(), size)
    offset = 0
    with open(source, "rb") as handle:
        while chunk := handle.read(CHUNK):
            offset = store.write(upload_id, offset, chunk)
    stats = store.finish(upload_id)
    upload_growth_mb = (_status_kib("VmHWM") - base) / 1024
    assert stats.size == size

    base = _reset_peak_rss()
    echoed = hashlib.sha256()
    received = 0
    for chunk in store.read(stats.sha256):
        echoed.update(chunk)
        received += len(chunk)
    download_growth_mb = (_status_kib("VmHWM") - base) / 1024
    assert (received, echoed.hexdigest()) == (size, stats.sha256)
    tail = b"".join(store.read(stats.sha256, size // 2 - 3, 30))
    assert tail == b"\0\0\0a marker in the middle\0\0\0\0\0"
    assert upload_growth_mb < 100, f"upload grew peak RSS by {upload_growth_mb:.0f} MB"
    assert download_growth_mb < 100, f"download grew peak RSS by {download_growth_mb:.0f} MB"
