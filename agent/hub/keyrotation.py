"""`modelfleet hub rotate-keys`: a new current key, every sealed secret re-encrypted to it.

A rotation (1) adds a fresh key to `keys/secrets.keyring` and to `keys/blobs.keyring` and
makes each current (atomic rename, 0600), (2) re-seals every sealed value in the database
(channel secrets, OIDC client secrets, pending device codes, TOTP seeds) under the new key,
a batch per short transaction. Blobs are not re-encrypted (no envelope keys): new blobs use
the new blob key, older blobs keep theirs, so blob keys are never retired.

A running hub keeps serving throughout: its keyrings follow their files (`KeyringFile`), so
it opens values under either key and seals new ones under the new key. A re-seal only
replaces the exact value it read, so a secret changed meanwhile is not overwritten.

An interrupted rotation leaves every value under the old or the new key, both in the
keyring; running the command again finishes it (no further key is added while values under
older keys remain). `--retire-old` then removes the older secrets keys, refusing while any
stored value still uses one. No key material is printed, logged or audited: only key ids.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import InstrumentedAttribute

from modelfleet.agent.hub import audit
from modelfleet.agent.hub.alerts.delivery import secret_context
from modelfleet.agent.hub.blobs import Keyring, KeyringError, load_keyring, retire_keys
from modelfleet.agent.hub.blobs import rotate_keyring as add_key
from modelfleet.agent.hub.datadir import DataDirError, HubPaths, load_config
from modelfleet.agent.hub.db import Database, current_revision, head_revision, make_engine
from modelfleet.agent.hub.db.alerts_models import AlertChannel
from modelfleet.agent.hub.db.security_models import SsoLogin, SsoProviderRow, UserMfa
from modelfleet.agent.hub.mfa.factors import seed_context
from modelfleet.agent.hub.secrets import SecretBox, SecretError, sealed_key_id

DEFAULT_BATCH = 200
# A hub that read the current key id just before the keyring changed may still commit a
# value under the old key after the pass went by; a further pass picks those up.
_MAX_PASSES = 5


class RotationError(Exception):
    """The rotation cannot start or finish; the message says why and what to do."""


@dataclass(frozen=True)
class SealedColumn:
    """A column holding values sealed by the secrets box, and the context each is bound to."""

    table: str
    row_id: InstrumentedAttribute[str]
    sealed: InstrumentedAttribute[Any]
    context: Callable[[str], str]


# Every sealed column of the schema. The contexts must match the ones the services seal with
# (a mismatch cannot go unnoticed: the value would not open, and the rotation stops).
SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    SealedColumn("alert_channels", AlertChannel.id, AlertChannel.secret_sealed, secret_context),
    SealedColumn(
        "sso_providers",
        SsoProviderRow.id,
        SsoProviderRow.client_secret_sealed,
        lambda row_id: f"sso_provider:{row_id}",
    ),
    SealedColumn(
        "sso_logins", SsoLogin.id, SsoLogin.device_code_sealed, lambda row_id: f"sso_login:{row_id}"
    ),
    SealedColumn("user_mfa", UserMfa.user_id, UserMfa.totp_seed_sealed, seed_context),
)


@dataclass
class RotationReport:
    secrets_key_id: str
    blobs_key_id: str
    resumed: bool = False
    resealed: dict[str, int] = field(default_factory=dict)
    retired_key_ids: list[str] = field(default_factory=list)
    blob_key_count: int = 0


@contextmanager
def _rotation_lock(paths: HubPaths) -> Iterator[None]:
    """One rotation at a time per data directory (two would each add a key)."""
    fd = os.open(paths.keys / "rotate-keys.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RotationError(
                "another `modelfleet hub rotate-keys` is running on this data directory"
            ) from None
        yield
    finally:
        os.close(fd)


@contextmanager
def _database(paths: HubPaths) -> Iterator[Database]:
    config = load_config(paths)
    engine = make_engine(config.db_url)
    try:
        if current_revision(engine) != head_revision():
            raise DataDirError("the database schema is not current; run `modelfleet hub init`")
        yield Database(engine)
    finally:
        engine.dispose()


def key_usage(db: Database) -> dict[str, dict[str, int]]:
    """Per sealed table, how many stored values use each key id."""
    usage: dict[str, dict[str, int]] = {}
    for col in SEALED_COLUMNS:
        counts: dict[str, int] = {}
        for key_id in _key_ids(db, col):
            counts[key_id] = counts.get(key_id, 0) + 1
        usage[col.table] = counts
    return usage


def _key_ids(db: Database, col: SealedColumn) -> Iterator[str]:
    last = ""
    while True:
        rows = _page(db, col, last, 1000)
        if not rows:
            return
        for _, sealed in rows:
            yield sealed_key_id(sealed)
        last = rows[-1][0]


def _page(db: Database, col: SealedColumn, after: str, limit: int) -> list[tuple[str, bytes]]:
    """Up to `limit` (row id, sealed value) pairs with a value, ids after `after`, in order."""
    with db.reading() as s:
        rows = s.execute(
            select(col.row_id, col.sealed)
            .where(col.sealed.is_not(None), col.row_id > after)
            .order_by(col.row_id)
            .limit(limit)
        ).all()
    return [(str(row_id), bytes(sealed)) for row_id, sealed in rows]


def _stale(usage: dict[str, dict[str, int]], current: str) -> dict[str, int]:
    """Per table, the number of values under a key other than `current`."""
    counts = {t: sum(n for k, n in ids.items() if k != current) for t, ids in usage.items()}
    return {t: n for t, n in counts.items() if n}


def _reseal_column(
    db: Database,
    box: SecretBox,
    target: str,
    col: SealedColumn,
    batch_size: int,
    after_batch: Callable[[str, int], None] | None,
) -> int:
    """Re-seal `col`'s values that are not under `target`, `batch_size` rows per transaction."""
    done = 0
    last = ""
    while True:
        rows = _page(db, col, last, batch_size)
        if not rows:
            return done
        changes: list[tuple[str, bytes, bytes]] = []
        for row_id, sealed in rows:
            if sealed_key_id(sealed) == target:
                continue
            context = col.context(row_id)
            try:
                plain = box.open(sealed, context)
            except SecretError as exc:
                raise RotationError(
                    f"{col.table} row {row_id}: the stored secret does not open ({exc}); "
                    "nothing of it was changed"
                ) from None
            changes.append((row_id, sealed, box.seal(plain, context)))
        if changes:
            with db.writing() as s:
                for row_id, before, after in changes:
                    # Only the value read: one the hub replaced meanwhile stays as it is.
                    s.execute(
                        update(col.sealed.class_)
                        .where(col.row_id == row_id, col.sealed == before)
                        .values({col.sealed.key: after})
                    )
            done += len(changes)
            if after_batch is not None:
                after_batch(col.table, done)
        last = rows[-1][0]


def _audit(db: Database, action: str, outcome: str, details: dict[str, Any]) -> None:
    record = audit.AuditRecord(
        actor_kind="system",
        actor_id="",
        actor_name="hub rotate-keys",
        source="local",
        workspace_id="",
        action=action,
        target="keyring:secrets",
        outcome=outcome,
        details_json=audit.details_json(details),
    )
    db.write_sync(lambda s: audit.append(s, record))


def rotate_keys(
    paths: HubPaths,
    *,
    batch_size: int = DEFAULT_BATCH,
    after_batch: Callable[[str, int], None] | None = None,
) -> RotationReport:
    """Add and switch to new keys and re-seal every stored secret (or finish an interrupted
    rotation). `after_batch(table, resealed_so_far)` runs after each committed batch."""
    if batch_size < 1:
        raise RotationError(f"--batch-size: expected a positive number, got {batch_size}")
    with _database(paths) as db, _rotation_lock(paths):
        keyring = _load(paths.secrets_keyring)
        stale = _stale(key_usage(db), keyring.current_id)
        resumed = bool(stale) and len(keyring.keys) > 1
        if resumed:
            blob_key = _load(paths.blob_keyring).current_id
        else:
            # Blob keyring first: stopped between the two, a rerun simply starts afresh.
            blob_key = _add_key(paths.blob_keyring).current_id
            keyring = _add_key(paths.secrets_keyring)
        report = RotationReport(keyring.current_id, blob_key, resumed=resumed)
        details: dict[str, Any] = {
            "key_id": keyring.current_id,
            "blob_key_id": blob_key,
            "resumed": resumed,
        }
        _audit(db, "Hub.RotateKeys", "started", details)
        box = SecretBox(keyring)
        try:
            for _ in range(_MAX_PASSES):
                for col in SEALED_COLUMNS:
                    n = _reseal_column(db, box, keyring.current_id, col, batch_size, after_batch)
                    report.resealed[col.table] = report.resealed.get(col.table, 0) + n
                if not _stale(key_usage(db), keyring.current_id):
                    break
            else:
                left = _stale(key_usage(db), keyring.current_id)
                raise RotationError(
                    f"values under older keys keep appearing ({_describe(left)}); "
                    "run `modelfleet hub rotate-keys` again"
                )
        except BaseException as exc:
            # Best effort: the original error is the one to report.
            with contextlib.suppress(Exception):
                _audit(db, "Hub.RotateKeys", "failed", {**details, "error": type(exc).__name__})
            raise
        _audit(db, "Hub.RotateKeys", "ok", {**details, "resealed": report.resealed})
        return report


def retire_old_keys(paths: HubPaths) -> RotationReport:
    """Remove every secrets key but the current one, refusing while a stored value uses one.

    Blob keys are kept: blobs are not re-encrypted, so older blobs need theirs."""
    with _database(paths) as db, _rotation_lock(paths):
        keyring = _load(paths.secrets_keyring)
        stale = _stale(key_usage(db), keyring.current_id)
        if stale:
            raise RotationError(
                f"--retire-old: {sum(stale.values())} stored secret(s) still use an older key "
                f"({_describe(stale)}); run `modelfleet hub rotate-keys` to finish "
                "re-encrypting them first. No key was removed."
            )
        retired = sorted(set(keyring.keys) - {keyring.current_id})
        if retired:
            retire_keys(paths.secrets_keyring, keep=set())
        blobs = _load(paths.blob_keyring)
        report = RotationReport(
            keyring.current_id,
            blobs.current_id,
            retired_key_ids=retired,
            blob_key_count=len(blobs.keys),
        )
        _audit(
            db,
            "Hub.RetireKeys",
            "ok",
            {"key_id": keyring.current_id, "retired_key_ids": retired},
        )
        return report


def _load(path: os.PathLike[str]) -> Keyring:
    try:
        return load_keyring(path)
    except KeyringError as exc:
        raise RotationError(str(exc)) from None


def _add_key(path: os.PathLike[str]) -> Keyring:
    try:
        return add_key(path)
    except KeyringError as exc:
        raise RotationError(str(exc)) from None


def _describe(counts: dict[str, int]) -> str:
    return ", ".join(f"{table}: {n}" for table, n in sorted(counts.items()))
