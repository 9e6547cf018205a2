"""The hub's data directory: configuration, database, TLS material and keys."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson

from modelfleet.agent.hub.settings import SCHEMA_VERSION
from modelfleet.paths import ensure_private_dir, write_private_file


class DataDirError(Exception):
    """The data directory is missing, incomplete or configured differently."""


@dataclass(frozen=True, slots=True)
class HubPaths:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "hub.json"

    @property
    def sqlite_db(self) -> Path:
        return self.root / "hub.db"

    @property
    def tls(self) -> Path:
        return self.root / "tls"

    @property
    def ca_cert(self) -> Path:
        return self.tls / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.tls / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.tls / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.tls / "server.key"

    @property
    def serving_ca_cert(self) -> Path:
        """Signs agents' serving certificates only (never the hub CA, which clients pin)."""
        return self.tls / "serving-ca.pem"

    @property
    def serving_ca_key(self) -> Path:
        return self.tls / "serving-ca.key"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def signing_key(self) -> Path:
        return self.keys / "token-signing.key"

    @property
    def blob_keyring(self) -> Path:
        return self.keys / "blobs.keyring"

    @property
    def secrets_keyring(self) -> Path:
        return self.keys / "secrets.keyring"

    @property
    def blobs(self) -> Path:
        return self.root / "blobs"

    @property
    def agent_port(self) -> Path:
        """The agent port the last `hub serve` bound; the next one asks for it again."""
        return self.root / "agent-port"

    def default_db_url(self) -> str:
        return f"sqlite:///{self.sqlite_db}"


@dataclass(frozen=True, slots=True)
class HubConfig:
    db_url: str
    schema: int = SCHEMA_VERSION


def load_config(paths: HubPaths) -> HubConfig:
    try:
        doc = orjson.loads(paths.config.read_bytes())
        return HubConfig(db_url=str(doc["db_url"]), schema=int(doc.get("schema", SCHEMA_VERSION)))
    except FileNotFoundError:
        raise DataDirError(
            f"{paths.root} is not a hub data directory (run `modelfleet hub init` first)"
        ) from None
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise DataDirError(f"{paths.config} is malformed ({exc})") from None


def save_config(paths: HubPaths, config: HubConfig) -> None:
    ensure_private_dir(paths.root)
    # 0600: a PostgreSQL URL may carry a password.
    doc = {"schema": config.schema, "db_url": config.db_url}
    write_private_file(paths.config, orjson.dumps(doc, option=orjson.OPT_INDENT_2))


def load_agent_port(paths: HubPaths) -> int:
    """The agent port saved by the last start, or 0 (none saved, or unreadable)."""
    try:
        port = int(paths.agent_port.read_text().strip())
    except (FileNotFoundError, ValueError):
        return 0
    return port if 0 < port < 65536 else 0


def save_agent_port(paths: HubPaths, port: int) -> None:
    write_private_file(paths.agent_port, f"{port}\n".encode())
