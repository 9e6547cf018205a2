"""Uploads: resumable across restarts and crashes, verified, deduplicated, thread-safe."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from blobhelp import read_all, sha, upload

from modelfleet.agent.hub.blobs import (
    BlobNotFound,
    InvalidBlobArgument,
    LocalBlobStore,
    OffsetMismatch,
    UploadBusy,
    UploadNotFound,
    UploadVerificationFailed,
)


def _stored_files(root: Path) -> list[Path]:
    return [p for p in (root / "blobs").rglob("*") if p.is_file()]


def test_round_trip_and_stats(store: LocalBlobStore) -> None:
    data = os.urandom(5555)
    stats = upload(store, data)
    assert (stats.sha256, stats.size, stats.key_id) == (sha(data), 5555, store.keyring.current_id)
    assert store.exists(sha(data))
    assert store.stat(sha(data)) == stats
    assert read_all(store, sha(data)) == data
    assert all(len(c) <= store.chunk_size for c in store.read(sha(data)))


def test_empty_blob(store: LocalBlobStore) -> None:
    stats = upload(store, b"")
    assert stats.size == 0 and read_all(store, sha(b"")) == b""


def test_plaintext_never_on_disk(store: LocalBlobStore) -> None:
    marker = b"CONFIDENTIAL-WEIGHTS" * 200
    upload_id = store.begin(sha(marker), len(marker))
    store.write(upload_id, 0, marker[:2500])
    store.committed_offset(upload_id)  # the partial block is now in the journal too
    on_disk = b"".join(p.read_bytes() for p in store.root.rglob("*") if p.is_file())
    assert b"CONFIDENTIAL" not in on_disk
    store.write(upload_id, 2500, marker[2500:])
    store.finish(upload_id)
    on_disk = b"".join(p.read_bytes() for p in store.root.rglob("*") if p.is_file())
    assert b"CONFIDENTIAL" not in on_disk


def test_offset_must_equal_committed_offset(store: LocalBlobStore) -> None:
    data = os.urandom(3000)
    upload_id = store.begin(sha(data), len(data))
    store.write(upload_id, 0, data[:1200])
    with pytest.raises(OffsetMismatch) as info:
        store.write(upload_id, 1000, data[1000:2000])
    assert info.value.expected_offset == 1200
    assert "resume from offset 1200" in str(info.value)
    assert info.value.field == "offset"
    store.write(upload_id, 1200, data[1200:])
    assert store.finish(upload_id).size == 3000


def test_resume_in_new_instance_keeps_only_committed_bytes(
    make_store: Callable[..., LocalBlobStore],
) -> None:
    data = os.urandom(4321)
    first = make_store()
    upload_id = first.begin(sha(data), len(data))
    first.write(upload_id, 0, data[:1500])
    assert first.committed_offset(upload_id) == 1500
    first.write(upload_id, 1500, data[1500:2600])  # received, never committed
    with pytest.raises(UploadBusy):
        make_store().committed_offset(upload_id)
    first.close()  # the process "restarts": uncommitted bytes are gone

    second = make_store()
    assert second.committed_offset(upload_id) == 1500
    second.write(upload_id, 1500, data[1500:])
    assert second.finish(upload_id).sha256 == sha(data)
    assert read_all(second, sha(data)) == data


def test_automatic_commits_every_interval(make_store: Callable[..., LocalBlobStore]) -> None:
    data = os.urandom(10_000)
    first = make_store(commit_interval=3000)
    upload_id = first.begin(sha(data), len(data))
    offset = 0
    for start in range(0, 7000, 700):
        offset = first.write(upload_id, offset, data[start : start + 700])
    first.close()
    second = make_store()
    resume = second.committed_offset(upload_id)
    assert resume == 7000  # commits happened at 3500 and 7000 received bytes
    second.write(upload_id, resume, data[resume:])
    assert second.finish(upload_id).sha256 == sha(data)


_CRASHING_UPLOADER = textwrap.dedent(
    """
    import os, sys, time
    from modelfleet.agent.hub.blobs import LocalBlobStore, load_keyring
    root, keys, digest, size, path = sys.argv[1:6]
    data = open(path, "rb").read()
    store = LocalBlobStore(root, load_keyring(keys), block_size=1000, chunk_size=300)
    upload_id = store.begin(digest, int(size))
    offset = 0
    for start in range(0, 2345, 469):
        offset = store.write(upload_id, offset, data[start:start + 469])
    committed = store.committed_offset(upload_id)
    store.write(upload_id, offset, data[offset:offset + 1500])
    print(upload_id, committed, flush=True)
    time.sleep(60)
    """
)


def test_upload_resumed_after_process_is_killed(tmp_path: Path, keyring_path: Path) -> None:
    data = os.urandom(6000)
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    root = tmp_path / "store"
    args = [str(root), str(keyring_path), sha(data), str(len(data)), str(source)]
    child = subprocess.Popen(
        [sys.executable, "-c", _CRASHING_UPLOADER, *args], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        upload_id, committed = child.stdout.readline().split()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    from modelfleet.agent.hub.blobs import load_keyring

    store = LocalBlobStore(root, load_keyring(keyring_path), block_size=1000, chunk_size=300)
    offset = store.committed_offset(upload_id)
    assert offset == int(committed) == 2345
    assert not store.exists(sha(data))
    store.write(upload_id, offset, data[offset:])
    assert store.finish(upload_id).size == len(data)
    assert read_all(store, sha(data)) == data


def test_wrong_digest_refused_and_nothing_visible(store: LocalBlobStore) -> None:
    data, other = os.urandom(2500), os.urandom(2500)
    upload_id = store.begin(sha(other), len(data))
    store.write(upload_id, 0, data)
    with pytest.raises(UploadVerificationFailed, match="was discarded") as info:
        store.finish(upload_id)
    assert info.value.field == "sha256"
    assert not store.exists(sha(data)) and not store.exists(sha(other))
    assert _stored_files(store.root) == []
    assert list((store.root / "uploads").iterdir()) == []
    with pytest.raises(UploadNotFound):
        store.committed_offset(upload_id)


def test_wrong_size_refused_and_nothing_visible(store: LocalBlobStore) -> None:
    data = os.urandom(2500)
    upload_id = store.begin(sha(data), 3000)
    store.write(upload_id, 0, data)
    with pytest.raises(
        UploadVerificationFailed, match="received 2500 bytes, declared 3000"
    ) as info:
        store.finish(upload_id)
    assert info.value.field == "size"
    assert _stored_files(store.root) == []

    upload_id = store.begin(sha(data), 2000)
    with pytest.raises(InvalidBlobArgument, match="declared size 2000") as bad:
        store.write(upload_id, 0, data)
    assert bad.value.field == "data"
    assert store.committed_offset(upload_id) == 0  # the refused write changed nothing


def test_dedup_same_content(store: LocalBlobStore) -> None:
    data = os.urandom(3333)
    first = upload(store, data)
    second = upload(store, data, chunk=1000)
    assert first == second
    assert len(_stored_files(store.root)) == 1


def test_concurrent_uploads_of_different_blobs(make_store: Callable[..., LocalBlobStore]) -> None:
    store = make_store(block_size=4096, chunk_size=4096)
    payloads = [os.urandom(200_000 + i * 997) for i in range(8)]
    errors: list[BaseException] = []

    def run(data: bytes) -> None:
        try:
            upload(store, data, chunk=3001)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for data in payloads:
        assert read_all(store, sha(data)) == data


def test_concurrent_finishes_of_same_digest_dedupe(store: LocalBlobStore) -> None:
    data = os.urandom(7777)
    ids = []
    for _ in range(6):
        upload_id = store.begin(sha(data), len(data))
        store.write(upload_id, 0, data)
        ids.append(upload_id)
    barrier = threading.Barrier(len(ids))
    results: list[object] = []

    def finish(upload_id: str) -> None:
        barrier.wait()
        results.append(store.finish(upload_id))

    threads = [threading.Thread(target=finish, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6 and len({r.sha256 for r in results}) == 1  # type: ignore[attr-defined]
    assert len(_stored_files(store.root)) == 1
    assert list((store.root / "uploads").iterdir()) == []
    assert read_all(store, sha(data)) == data


def test_abort_and_delete(store: LocalBlobStore) -> None:
    upload_id = store.begin(sha(b"abc"), 3)
    store.write(upload_id, 0, b"ab")
    store.abort(upload_id)
    with pytest.raises(UploadNotFound):
        store.write(upload_id, 2, b"c")
    assert list((store.root / "uploads").iterdir()) == []

    stats = upload(store, b"abc")
    store.delete(stats.sha256)
    assert not store.exists(stats.sha256)
    with pytest.raises(BlobNotFound):
        read_all(store, stats.sha256)
    with pytest.raises(BlobNotFound):
        store.delete(stats.sha256)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda s: s.begin("ABC", 1), "declared_sha256"),
        (lambda s: s.begin("A" * 64, 1), "declared_sha256"),
        (lambda s: s.begin("a" * 64, -1), "declared_size"),
        (lambda s: s.write("../../etc/passwd", 0, b"x"), "upload_id"),
        (lambda s: s.committed_offset("0" * 31), "upload_id"),
        (lambda s: s.stat("../" + "a" * 61), "sha256"),
    ],
)
def test_malformed_arguments_refused(
    store: LocalBlobStore, call: Callable[[LocalBlobStore], object], field: str
) -> None:
    with pytest.raises(InvalidBlobArgument) as info:
        call(store)
    assert info.value.field == field


def test_unknown_upload_id(store: LocalBlobStore) -> None:
    with pytest.raises(UploadNotFound) as info:
        store.committed_offset("0" * 32)
    assert info.value.field == "upload_id"
