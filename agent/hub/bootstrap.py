"""`modelfleet hub init`: data directory, schema, TLS, keys, first admin and workspace."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from modelfleet.agent.hub import audit, pki
from modelfleet.agent.hub.accounts import create_user, create_workspace
from modelfleet.agent.hub.datadir import (
    DataDirError,
    HubConfig,
    HubPaths,
    load_config,
    save_config,
)
from modelfleet.agent.hub.db import Database, User, make_engine, upgrade
from modelfleet.agent.hub.passwords import Passwords, one_time_password
from modelfleet.agent.hub.secrets import ensure_secrets_keyring
from modelfleet.agent.hub.settings import HubSettings
from modelfleet.paths import ensure_private_dir

log = logging.getLogger(__name__)

DEFAULT_WORKSPACE = "default"


@dataclass(frozen=True, slots=True)
class InitResult:
    data_dir: Path
    db_url: str
    ca_fingerprint: str
    admin_username: str
    # Set only when this run created the admin; None when it already existed.
    admin_password: str | None
    generated_password: bool


def init_hub(
    data_dir: Path,
    *,
    db_url: str | None = None,
    admin_username: str = "admin",
    admin_password: str | None = None,
    settings: HubSettings | None = None,
) -> InitResult:
    """Create or upgrade a hub in `data_dir`; running it again only upgrades the schema."""
    paths = HubPaths(data_dir)
    ensure_private_dir(paths.root)
    if paths.config.exists():
        config = load_config(paths)
        if db_url is not None and db_url != config.db_url:
            raise DataDirError(
                f"--db: {paths.root} already uses another database; "
                "edit hub.json deliberately to move it"
            )
    else:
        config = HubConfig(db_url=db_url or paths.default_db_url())
    pki.ensure_tls(paths)
    ensure_private_dir(paths.keys)
    pki.ensure_signing_key(paths.signing_key)
    _ensure_blob_keyring(paths)
    ensure_secrets_keyring(paths.secrets_keyring)
    if config.db_url == paths.default_db_url() and not paths.sqlite_db.exists():
        # Created 0600 up front: SQLite gives its -wal and -shm files the same mode.
        paths.sqlite_db.touch(mode=0o600)
    engine = make_engine(config.db_url)
    try:
        upgrade(engine)
        created_password = _ensure_first_admin(
            Database(engine), admin_username, admin_password, settings or HubSettings()
        )
    finally:
        engine.dispose()
    # Written last: a data directory with hub.json is a complete one.
    save_config(paths, config)
    return InitResult(
        data_dir=paths.root,
        db_url=config.db_url,
        ca_fingerprint=pki.fingerprint(paths.ca_cert.read_bytes()),
        admin_username=admin_username,
        admin_password=created_password,
        generated_password=created_password is not None and admin_password is None,
    )


def _ensure_blob_keyring(paths: HubPaths) -> None:
    from modelfleet.agent.hub.blobs import create_keyring

    if not paths.blob_keyring.exists():
        create_keyring(paths.blob_keyring)


def _ensure_first_admin(
    db: Database, username: str, password: str | None, settings: HubSettings
) -> str | None:
    with db.writing() as session:
        if session.scalar(select(func.count()).select_from(User)):
            return None
        secret = password if password is not None else one_time_password()
        user = create_user(
            session,
            username=username,
            password_hash=Passwords(settings).hash(secret),
            system_admin=True,
        )
        workspace = create_workspace(
            session, name=DEFAULT_WORKSPACE, description="", owner_id=user.id
        )
        audit.append(
            session,
            audit.AuditRecord(
                actor_kind="system",
                actor_id="",
                actor_name="hub init",
                source="local",
                workspace_id=workspace.id,
                action="Hub.Init",
                target=f"user:{user.username}",
                outcome="ok",
                details_json=audit.details_json(
                    {"admin": user.username, "workspace": workspace.name}
                ),
            ),
        )
    return secret
