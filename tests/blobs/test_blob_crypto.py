"""Encryption at rest: tamper detection, ranged reads across block edges, keyring and rotation."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from blobhelp import SMALL_BLOCK, read_all, sha, upload

from modelfleet.agent.hub.blobs import (
    BlobCorrupted,
    InvalidBlobArgument,
    KeyringError,
    LocalBlobStore,
    create_keyring,
    load_keyring,
    rotate_keyring,
)

RECORD = SMALL_BLOCK + 28  # nonce + plaintext block + GCM tag


def _blob_file(store: LocalBlobStore, digest: str) -> Path:
    return store.root / "blobs" / digest[:2] / digest


def _records_start(path: Path) -> int:
    raw = path.read_bytes()
    (length,) = struct.unpack(">I", raw[8:12])
    return 12 + length


DATA = os.urandom(5 * SMALL_BLOCK + 555)


@pytest.mark.parametrize(
    "offset", [0, 1, SMALL_BLOCK - 1, SMALL_BLOCK, SMALL_BLOCK + 1, 5 * SMALL_BLOCK, len(DATA) - 1]
)
@pytest.mark.parametrize("length", [None, 0, 1, SMALL_BLOCK - 1, SMALL_BLOCK, 2 * SMALL_BLOCK + 1])
def test_ranged_reads_at_block_edges(
    store: LocalBlobStore, offset: int, length: int | None
) -> None:
    if not store.exists(sha(DATA)):
        upload(store, DATA)
    end = None if length is None else offset + length
    assert read_all(store, sha(DATA), offset, length) == DATA[offset:end]


def test_read_at_end_and_beyond(store: LocalBlobStore) -> None:
    upload(store, DATA)
    assert read_all(store, sha(DATA), len(DATA)) == b""
    for bad in (len(DATA) + 1, -1):
        with pytest.raises(InvalidBlobArgument) as info:
            store.read(sha(DATA), bad)
        assert info.value.field == "offset"
    with pytest.raises(InvalidBlobArgument):
        store.read(sha(DATA), 0, -5)


def test_corrupted_ciphertext_detected_at_its_block(store: LocalBlobStore) -> None:
    upload(store, DATA)
    path = _blob_file(store, sha(DATA))
    raw = bytearray(path.read_bytes())
    raw[_records_start(path) + 2 * RECORD + 500] ^= 0x01
    path.write_bytes(raw)
    # Blocks before the damage still read; the damaged one is named.
    assert read_all(store, sha(DATA), 0, 2 * SMALL_BLOCK) == DATA[: 2 * SMALL_BLOCK]
    with pytest.raises(BlobCorrupted, match="block 2 failed authentication") as info:
        read_all(store, sha(DATA))
    assert info.value.field == "block[2]"


def test_swapped_blocks_detected(store: LocalBlobStore) -> None:
    upload(store, DATA)
    path = _blob_file(store, sha(DATA))
    raw = bytearray(path.read_bytes())
    start = _records_start(path)
    first = raw[start : start + RECORD]
    raw[start : start + RECORD] = raw[start + RECORD : start + 2 * RECORD]
    raw[start + RECORD : start + 2 * RECORD] = first
    path.write_bytes(raw)
    with pytest.raises(BlobCorrupted, match="block 0"):
        read_all(store, sha(DATA))
    with pytest.raises(BlobCorrupted, match="block 1"):
        read_all(store, sha(DATA), SMALL_BLOCK)


def test_block_from_another_blob_detected(store: LocalBlobStore) -> None:
    other = os.urandom(len(DATA))
    upload(store, DATA)
    upload(store, other)
    path, donor = _blob_file(store, sha(DATA)), _blob_file(store, sha(other))
    raw, donor_raw = bytearray(path.read_bytes()), donor.read_bytes()
    start = _records_start(path)
    raw[start : start + RECORD] = donor_raw[start : start + RECORD]
    path.write_bytes(raw)
    with pytest.raises(BlobCorrupted, match="block 0"):
        read_all(store, sha(DATA))


def test_truncated_and_edited_header_detected(store: LocalBlobStore) -> None:
    upload(store, DATA)
    path = _blob_file(store, sha(DATA))
    original = path.read_bytes()
    path.write_bytes(original[:-RECORD])
    with pytest.raises(BlobCorrupted, match="truncated") as info:
        store.stat(sha(DATA))
    assert info.value.field == "stored_size"
    # Same length, different declared block size: every record's binding breaks.
    edited = original.replace(b'"block_size":1000', b'"block_size":1001')
    assert len(edited) == len(original)
    path.write_bytes(edited)
    with pytest.raises(BlobCorrupted):
        read_all(store, sha(DATA))


def test_blob_renamed_to_another_digest_detected(store: LocalBlobStore) -> None:
    upload(store, DATA)
    fake = "f" * 64
    target = _blob_file(store, fake)
    target.parent.mkdir(exist_ok=True)
    os.link(_blob_file(store, sha(DATA)), target)
    with pytest.raises(BlobCorrupted, match="header names digest"):
        read_all(store, fake)


def test_keyring_file_is_private_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    keyring = create_keyring(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert "key_ids" in repr(keyring) and keyring.keys[keyring.current_id].hex() not in repr(
        keyring
    )
    with pytest.raises(KeyringError, match="already exists"):
        create_keyring(path)
    for mode in (0o640, 0o604, 0o660, 0o644):
        path.chmod(mode)
        with pytest.raises(KeyringError, match=f"{mode:04o}") as info:
            load_keyring(path)
        assert info.value.field == "mode"
    path.chmod(0o600)
    assert load_keyring(path) == keyring
    link = tmp_path / "link.json"
    link.symlink_to(path)
    with pytest.raises(KeyringError, match="symbolic link"):
        load_keyring(link)
    with pytest.raises(KeyringError, match="does not exist"):
        load_keyring(tmp_path / "absent.json")


def test_malformed_keyring_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    for content in (b"{", b'{"format": 1, "current": "a", "keys": {"a": "c2hvcnQ="}}'):
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, content)
        os.close(fd)
        with pytest.raises(KeyringError):
            load_keyring(path)


def test_key_rotation(tmp_path: Path, keyring_path: Path) -> None:
    old_store = LocalBlobStore(tmp_path / "s", load_keyring(keyring_path), block_size=SMALL_BLOCK)
    old_blob = upload(old_store, DATA)
    rotated = rotate_keyring(keyring_path)
    assert rotated.current_id != old_blob.key_id and old_blob.key_id in rotated.keys
    assert keyring_path.stat().st_mode & 0o777 == 0o600

    new_store = LocalBlobStore(tmp_path / "s", load_keyring(keyring_path), block_size=SMALL_BLOCK)
    new_data = os.urandom(2222)
    new_blob = upload(new_store, new_data)
    assert new_blob.key_id == rotated.current_id
    assert new_store.stat(sha(DATA)).key_id == old_blob.key_id
    assert read_all(new_store, sha(DATA)) == DATA
    assert read_all(new_store, sha(new_data)) == new_data

    # A keyring without the old key cannot read old blobs, and says which key is missing.
    create_keyring(tmp_path / "other.json")
    stranger = LocalBlobStore(tmp_path / "s", load_keyring(tmp_path / "other.json"))
    with pytest.raises(KeyringError, match=old_blob.key_id):
        read_all(stranger, sha(DATA))


def test_upload_begun_before_rotation_finishes_with_its_key(
    make_store: Callable[..., LocalBlobStore], keyring_path: Path
) -> None:
    store = make_store()
    upload_id = store.begin(sha(DATA), len(DATA))
    store.write(upload_id, 0, DATA[:2500])
    store.committed_offset(upload_id)
    store.close()
    rotated = rotate_keyring(keyring_path)
    resumed = LocalBlobStore(store.root, rotated, block_size=SMALL_BLOCK)
    resumed.write(upload_id, 2500, DATA[2500:])
    stats = resumed.finish(upload_id)
    assert stats.key_id != rotated.current_id and read_all(resumed, sha(DATA)) == DATA
