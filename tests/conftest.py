"""Shared pytest fixtures.

Hub fixtures (stable; other suites build on them):

- `hub_db_url` -> str: a fresh, empty database URL, parametrised over "sqlite" (a file in
  the test's tmp dir) and "postgresql" (a database `mf_<random>` created on the server at
  `MODELFLEET_TEST_PG`, default postgresql+psycopg://postgres@127.0.0.1:5432/test, and
  dropped afterwards). Tests using it run once per backend.
- `running_hub` -> RunningHub: `modelfleet hub init` + `modelfleet hub serve --port 0` as
  real subprocesses over `hub_db_url`, TLS on 127.0.0.1; stopped with SIGTERM afterwards.
  Fields: address ("127.0.0.1:PORT"), host, port, ca_pem (Path of the CA certificate),
  ca_fingerprint ("sha256:<hex>"), admin_username, admin_password, data_dir, db_url, pid.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

# Suite-wide check that no secret created by a test shows up in logs, audit rows or
# responses (see tests/secret_watch.py; `-p no:secret_watch` turns it off).
pytest_plugins = ("secret_watch",)

PG_ADMIN_URL = os.environ.get(
    "MODELFLEET_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
HUB_START_TIMEOUT = 60.0


@dataclass(frozen=True)
class RunningHub:
    address: str
    host: str
    port: int
    ca_pem: Path
    ca_fingerprint: str
    admin_username: str
    admin_password: str
    data_dir: Path
    db_url: str
    pid: int


def _pg_execute(sql: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(PG_ADMIN_URL)
    with psycopg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        dbname=url.database,
        autocommit=True,
    ) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture
def postgres_db_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    from sqlalchemy.engine import make_url

    name = f"mf_{secrets.token_hex(6)}"
    _pg_execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        _pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def hub_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.db'}"
    return str(request.getfixturevalue("postgres_db_url"))


def modelfleet_command(*args: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        "import sys; from modelfleet.cli import main; sys.exit(main())",
        *args,
    ]


@pytest.fixture
def hub_env() -> dict[str, str]:
    """Extra environment for `running_hub` (e.g. MODELFLEET_HUB_* settings); tests override."""
    return {}


@pytest.fixture
def running_hub(hub_db_url: str, hub_env: dict[str, str], tmp_path: Path) -> Iterator[RunningHub]:
    data_dir = tmp_path / "hub"
    password = "admin-" + secrets.token_urlsafe(12)
    password_file = tmp_path / "admin-password"
    password_file.write_text(password + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELFLEET_HUB_")}
    env.update(hub_env)
    subprocess.run(
        modelfleet_command(
            "hub",
            "init",
            "--data-dir",
            str(data_dir),
            "--db",
            hub_db_url,
            "--admin-password-file",
            str(password_file),
        ),
        check=True,
        capture_output=True,
        env=env,
        timeout=120,
    )
    ready = tmp_path / "hub-ready.json"
    log = (tmp_path / "hub.log").open("wb")
    process = subprocess.Popen(
        modelfleet_command(
            "hub",
            "serve",
            "--data-dir",
            str(data_dir),
            "--port",
            "0",
            "--ready-file",
            str(ready),
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        deadline = time.monotonic() + HUB_START_TIMEOUT
        while not ready.exists():
            if process.poll() is not None:
                raise RuntimeError(
                    f"hub exited with {process.returncode}: "
                    f"{(tmp_path / 'hub.log').read_text()[-2000:]}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError("hub did not become ready")
            time.sleep(0.05)
        info = orjson.loads(ready.read_bytes())
        yield RunningHub(
            address=f"127.0.0.1:{info['port']}",
            host="127.0.0.1",
            port=int(info["port"]),
            ca_pem=data_dir / "tls" / "ca.pem",
            ca_fingerprint=str(info["ca_fingerprint"]),
            admin_username="admin",
            admin_password=password,
            data_dir=data_dir,
            db_url=hub_db_url,
            pid=process.pid,
        )
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
