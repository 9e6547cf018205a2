"""Artifact store throughput at library level: a large upload and download, MB/s and peak RSS.

Upload feeds `write()` one chunk at a time from a reused in-memory buffer, as a streaming RPC
handler would with received messages; the digest is computed beforehand (the client knows it).
Download iterates `read()` after evicting the blob from the page cache, so it reads the disk.
Prints one JSON line. MB = 10**6 bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from modelfleet.agent.hub.blobs import LocalBlobStore, create_keyring

MiB = 1 << 20


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} missing from /proc/self/status")


def _reset_peak_rss() -> int:
    """Reset the kernel's peak-RSS mark (VmHWM) and return the current RSS in KiB."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    return _status_kib("VmRSS")


def _chunks(pattern: memoryview, size: int, chunk: int) -> Iterator[memoryview]:
    sent = 0
    while sent < size:
        n = min(chunk, size - sent)
        start = sent % (len(pattern) - chunk + 1)
        yield pattern[start : start + n]
        sent += n


def run(size: int, chunk: int, workdir: Path) -> dict[str, object]:
    pattern = memoryview(os.urandom(64 * MiB))
    started = time.perf_counter()
    digest = hashlib.sha256()
    for piece in _chunks(pattern, size, chunk):
        digest.update(piece)
    sha256_s = time.perf_counter() - started

    store = LocalBlobStore(workdir / "store", create_keyring(workdir / "keys.json"))
    base_kib = _reset_peak_rss()
    started = time.perf_counter()
    upload_id = store.begin(digest.hexdigest(), size)
    offset = 0
    for piece in _chunks(pattern, size, chunk):
        offset = store.write(upload_id, offset, piece)
    stats = store.finish(upload_id)
    upload_s = time.perf_counter() - started
    upload_peak_kib = _status_kib("VmHWM") - base_kib

    blob = workdir / "store" / "blobs" / stats.sha256[:2] / stats.sha256
    fd = os.open(blob, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
    base_kib = _reset_peak_rss()
    started = time.perf_counter()
    received = sum(len(piece) for piece in store.read(stats.sha256))
    download_s = time.perf_counter() - started
    download_peak_kib = _status_kib("VmHWM") - base_kib
    assert received == size, (received, size)
    return {
        "benchmark": "artifacts",
        "size_bytes": size,
        "chunk_bytes": chunk,
        "block_bytes": store.block_size,
        "upload_MBps": round(size / upload_s / 1e6, 1),
        "download_MBps": round(size / download_s / 1e6, 1),
        "sha256_only_MBps": round(size / sha256_s / 1e6, 1),
        "upload_peak_rss_growth_MB": round(upload_peak_kib * 1024 / 1e6, 1),
        "download_peak_rss_growth_MB": round(download_peak_kib * 1024 / 1e6, 1),
        "cpus": os.cpu_count(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--chunk-kib", type=int, default=1024, help="bytes per write()")
    parser.add_argument("--dir", type=Path, default=None, help="where the store is created")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="artifacts-bench-") as workdir:
        result = run(args.size_mib * MiB, args.chunk_kib * 1024, Path(workdir))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
