"""Artifact throughput and peak RSS: the blob store as a library, then a real hub over gRPC.

Library level: upload feeds `write()` one chunk at a time from a reused in-memory buffer, as a
streaming RPC handler would with received messages; the digest is computed beforehand (the
client knows it). Download iterates `read()` after evicting the blob from the page cache.

gRPC level: `modelfleet hub init` + `hub serve` as a subprocess (SQLite, TLS on loopback), and
`HubClient.upload_artifact` / `download_artifact` with a file of the same size (digest passed
in, as above; the download verifies it while writing). Hub peak RSS growth is the rise of the
hub process's VmHWM (reset before each phase) over its RSS at the start of the phase.
Prints one JSON line. MB = 10**6 bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from modelfleet.agent.hub.blobs import LocalBlobStore, create_keyring
from modelfleet.client import ClientSettings, HubClient

MiB = 1 << 20


def _status_kib(field: str, pid: str = "self") -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} missing from /proc/{pid}/status")


def _reset_peak_rss(pid: str = "self") -> int:
    """Reset the kernel's peak-RSS mark (VmHWM) and return the current RSS in KiB."""
    with open(f"/proc/{pid}/clear_refs", "w") as refs:
        refs.write("5")
    return _status_kib("VmRSS", pid)


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


def _modelfleet(*args: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        "import sys; from modelfleet.cli import main; sys.exit(main())",
        *args,
    ]


def _start_hub(workdir: Path) -> tuple[subprocess.Popen[bytes], dict[str, object], str]:
    password = secrets.token_urlsafe(16)
    secret = workdir / "admin-password"
    secret.write_text(password)
    data_dir = workdir / "hub"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELFLEET_HUB")}
    init = ["hub", "init", "--data-dir", str(data_dir), "--admin-password-file", str(secret)]
    subprocess.run(_modelfleet(*init), check=True, capture_output=True, env=env)
    ready = workdir / "ready.json"
    serve = ["hub", "serve", "--data-dir", str(data_dir), "--port", "0", "--ready-file", str(ready)]
    log = open(workdir / "hub.log", "wb")  # noqa: SIM115 - the hub writes it until stopped
    hub = subprocess.Popen(_modelfleet(*serve), stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while not ready.exists():
        if hub.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError((workdir / "hub.log").read_text()[-2000:])
        time.sleep(0.05)
    return hub, orjson.loads(ready.read_bytes()), password


def run_grpc(size: int, workdir: Path) -> dict[str, object]:
    pattern = os.urandom(64 * MiB)
    source = workdir / "artifact.bin"
    digest = hashlib.sha256()
    with open(source, "wb") as out:
        for start in range(0, size, len(pattern)):
            piece = pattern[: min(len(pattern), size - start)]
            out.write(piece)
            digest.update(piece)
    hub, info, password = _start_hub(workdir)
    pid = str(hub.pid)
    settings = ClientSettings(
        hub=f"127.0.0.1:{info['port']}", hub_ca=str(info["ca_fingerprint"]), workspace="default"
    )
    try:
        with HubClient.connect(settings) as client:
            client.login("admin", password)
            base_kib = _reset_peak_rss(pid)
            started = time.perf_counter()
            client.upload_artifact(source, sha256=digest.hexdigest())
            upload_s = time.perf_counter() - started
            upload_peak_kib = _status_kib("VmHWM", pid) - base_kib
            source.unlink()
            base_kib = _reset_peak_rss(pid)
            started = time.perf_counter()
            client.download_artifact(digest.hexdigest(), workdir / "downloaded.bin")
            download_s = time.perf_counter() - started
            download_peak_kib = _status_kib("VmHWM", pid) - base_kib
            hub_rss_kib = _status_kib("VmRSS", pid)
    finally:
        hub.send_signal(signal.SIGTERM)
        hub.wait(timeout=30)
    return {
        "grpc_upload_MBps": round(size / upload_s / 1e6, 1),
        "grpc_download_MBps": round(size / download_s / 1e6, 1),
        "grpc_hub_upload_peak_rss_growth_MB": round(upload_peak_kib * 1024 / 1e6, 1),
        "grpc_hub_download_peak_rss_growth_MB": round(download_peak_kib * 1024 / 1e6, 1),
        "grpc_hub_rss_after_MB": round(hub_rss_kib * 1024 / 1e6, 1),
        "load_average_1m": round(os.getloadavg()[0], 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--chunk-kib", type=int, default=1024, help="bytes per write()")
    parser.add_argument("--dir", type=Path, default=None, help="where the store is created")
    parser.add_argument("--no-grpc", action="store_true", help="library level only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="artifacts-bench-") as workdir:
        result = run(args.size_mib * MiB, args.chunk_kib * 1024, Path(workdir))
    if not args.no_grpc:
        with tempfile.TemporaryDirectory(dir=args.dir, prefix="artifacts-bench-") as workdir:
            result.update(run_grpc(args.size_mib * MiB, Path(workdir)))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
