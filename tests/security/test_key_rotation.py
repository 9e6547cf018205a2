"""`modelfleet hub rotate-keys` against a running hub (a real `hub serve` process).

The hub keeps opening sealed secrets (channel deliveries, TOTP confirmation) before, during
and after a rotation without a restart; every sealed value ends under the new key, so after
`--retire-old` the old key opens none of them; an interrupted rotation leaves everything
openable and a rerun finishes it; the keyring stays 0600 and no key material reaches the
hub's log, the command's output or the audit log.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import orjson
import pytest
from sqlalchemy import select

from modelfleet.agent.hub.blobs import (
    BlobStats,
    Keyring,
    KeyringFile,
    LocalBlobStore,
    load_keyring,
)
from modelfleet.agent.hub.datadir import HubPaths
from modelfleet.agent.hub.db import Database, make_engine
from modelfleet.agent.hub.db.models import AuditEvent
from modelfleet.agent.hub.keyrotation import SEALED_COLUMNS, key_usage, rotate_keys
from modelfleet.agent.hub.mfa import totp
from modelfleet.agent.hub.secrets import SecretBox, SecretError
from modelfleet.proto.v1 import alerts_pb2, alerts_pb2_grpc, auth_pb2, auth_pb2_grpc
from tests.alerts.receivers import HttpReceiver
from tests.conftest import RunningHub, modelfleet_command

CHANNELS = 5
CLIENT_SECRET = "oidc-client-secret-Zq81vX"
ROTATION_ACTIONS = ["Hub.RotateKeys", "Hub.RetireKeys"]


class Boom(Exception):
    """Stands for a crash in the middle of a rotation."""


@pytest.fixture
def hub_env() -> dict[str, str]:
    # The test receiver listens on 127.0.0.1: the explicit opening for it.
    return {"MODELFLEET_HUB_OUTBOUND_ALLOWED_NETWORKS": "127.0.0.1/32"}


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    http = HttpReceiver()
    http.start()
    yield http
    http.stop()


class Client:
    """A signed-in admin of the running hub, over its pinned TLS."""

    def __init__(self, hub: RunningHub) -> None:
        creds = grpc.ssl_channel_credentials(hub.ca_pem.read_bytes())
        self.channel = grpc.secure_channel(hub.address, creds)
        tokens = auth_pb2_grpc.AuthStub(self.channel).Login(
            auth_pb2.LoginRequest(username=hub.admin_username, password=hub.admin_password),
            timeout=10,
        )
        self.token = tokens.access_token
        self.md = [("authorization", f"Bearer {self.token}"), ("x-modelfleet-workspace", "default")]
        self.channels = alerts_pb2_grpc.ChannelsStub(self.channel)

    def add_channel(self, http: HttpReceiver, name: str) -> None:
        request = alerts_pb2.CreateChannelRequest(
            name=name, slack=alerts_pb2.SlackConfig(), secret=http.url(f"/slack/{name}")
        )
        self.channels.CreateChannel(request, metadata=self.md, timeout=10)

    def deliver(self, http: HttpReceiver, name: str) -> None:
        """A test notification: the hub must open the channel's sealed URL to send it."""
        before = len(http.to(f"/slack/{name}"))
        result = self.channels.TestChannel(
            alerts_pb2.TestChannelRequest(channel=name), metadata=self.md, timeout=30
        )
        assert result.delivered, (name, result.error)
        assert len(http.to(f"/slack/{name}")) == before + 1

    def deliver_all(self, http: HttpReceiver, names: list[str]) -> None:
        for name in names:
            self.deliver(http, name)


def _add_secrets(client: Client, http: HttpReceiver) -> tuple[list[str], str]:
    """Channels, an OIDC provider with a client secret and a pending TOTP enrolment."""
    names = [f"ch{i}" for i in range(CHANNELS)]
    for name in names:
        client.add_channel(http, name)
    auth_pb2_grpc.SsoStub(client.channel).CreateSsoProvider(
        auth_pb2.CreateSsoProviderRequest(
            spec=auth_pb2.SsoProviderSpec(
                name="corp", issuer="https://idp.example.com", client_id="modelfleet-hub"
            ),
            client_secret=CLIENT_SECRET,
        ),
        metadata=client.md[:1],
        timeout=10,
    )
    enrolled = auth_pb2_grpc.MfaStub(client.channel).EnrollTotp(
        auth_pb2.EnrollTotpRequest(), metadata=client.md[:1], timeout=10
    )
    return names, enrolled.secret


def _confirm_totp(client: Client, seed: str) -> None:
    """The hub opens the sealed TOTP seed to check the code."""
    codes = auth_pb2_grpc.MfaStub(client.channel).ConfirmTotp(
        auth_pb2.ConfirmTotpRequest(code=totp.code_at(seed, totp.current_step())),
        metadata=client.md[:1],
        timeout=10,
    )
    assert codes.codes


def _database(hub: RunningHub) -> Database:
    return Database(make_engine(hub.db_url))


def _sealed_values(db: Database) -> list[tuple[str, str, bytes]]:
    """(table, row id, sealed value) of every sealed value stored."""
    out: list[tuple[str, str, bytes]] = []
    with db.reading() as s:
        for col in SEALED_COLUMNS:
            rows = s.execute(select(col.row_id, col.sealed).where(col.sealed.is_not(None)))
            out += [(col.table, str(r), bytes(v)) for r, v in rows]
    return out


def _opens(keyring: Keyring, db: Database) -> list[bool]:
    box = SecretBox(keyring)
    contexts = {c.table: c.context for c in SEALED_COLUMNS}
    results = []
    for table, row_id, sealed in _sealed_values(db):
        try:
            box.open(sealed, contexts[table](row_id))
            results.append(True)
        except SecretError:
            results.append(False)
    return results


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELFLEET_HUB_")}
    return subprocess.run(
        modelfleet_command("hub", "rotate-keys", *args),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def _key_material(paths: HubPaths) -> list[str]:
    """Every key ever seen in the keyrings, as the base64 the files hold (and raw hex)."""
    return _key_material_of(paths.secrets_keyring) + _key_material_of(paths.blob_keyring)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _assert_no_key_material(texts: list[str], keys: list[str]) -> None:
    for text in texts:
        for key in keys:
            assert key not in text


def test_rotation_while_the_hub_serves(
    running_hub: RunningHub, receiver: HttpReceiver, tmp_path: Path
) -> None:
    paths = HubPaths(running_hub.data_dir)
    client = Client(running_hub)
    names, seed = _add_secrets(client, receiver)
    client.deliver_all(receiver, names)
    old = load_keyring(paths.secrets_keyring)
    keys_seen = _key_material(paths)
    db = _database(running_hub)
    try:
        during: list[str] = []

        def serve_meanwhile(table: str, done: int) -> None:
            # Mid-rotation some channels are under the old key, some under the new one.
            if table == "alert_channels" and not during:
                usage = key_usage(db)["alert_channels"]
                assert len(usage) == 2, usage
                client.add_channel(receiver, "added-during")
                names.append("added-during")
            during.append(table)
            client.deliver_all(receiver, names)

        report = rotate_keys(paths, batch_size=2, after_batch=serve_meanwhile)
        assert during.count("alert_channels") == 3  # five channels, two per batch
        assert report.resealed["alert_channels"] == CHANNELS
        assert report.resealed["sso_providers"] == report.resealed["user_mfa"] == 1
        keys_seen += _key_material(paths)
        new = load_keyring(paths.secrets_keyring)
        assert new.current_id == report.secrets_key_id != old.current_id
        assert set(new.keys) == {old.current_id, new.current_id}
        # Everything, including the channel the hub sealed mid-rotation, is under the new key.
        usage = key_usage(db)
        assert {k for ids in usage.values() for k in ids} == {new.current_id}
        assert sum(usage["alert_channels"].values()) == CHANNELS + 1

        client.deliver_all(receiver, names)
        _confirm_totp(client, seed)

        retired = _cli("--data-dir", str(paths.root), "--retire-old")
        assert retired.returncode == 0, retired.stderr
        assert old.current_id in retired.stdout
        final = load_keyring(paths.secrets_keyring)
        assert set(final.keys) == {new.current_id}
        for keyring_path in (paths.secrets_keyring, paths.blob_keyring):
            assert _mode(keyring_path) == 0o600
        # The old key alone opens nothing stored any more; the new one alone opens all of it.
        only_old = Keyring(old.current_id, {old.current_id: old.keys[old.current_id]})
        assert _opens(only_old, db) == [False] * (CHANNELS + 3)
        assert _opens(final, db) == [True] * (CHANNELS + 3)
        client.deliver_all(receiver, names)

        with db.reading() as s:
            rows = s.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.in_(ROTATION_ACTIONS))
                .order_by(AuditEvent.seq)
            ).all()
        assert [(r.action, r.outcome) for r in rows] == [
            ("Hub.RotateKeys", "started"),
            ("Hub.RotateKeys", "ok"),
            ("Hub.RetireKeys", "ok"),
        ]
        assert new.current_id in rows[1].details_json
        secrets = [CLIENT_SECRET, seed, receiver.url("/slack/")]
        _assert_no_key_material(
            [(tmp_path / "hub.log").read_text(), retired.stdout, retired.stderr]
            + [r.details_json for r in rows],
            keys_seen + secrets,
        )
    finally:
        db.dispose()
        client.channel.close()


def test_interrupted_rotation_stays_openable_and_a_rerun_finishes(
    running_hub: RunningHub, receiver: HttpReceiver, tmp_path: Path
) -> None:
    paths = HubPaths(running_hub.data_dir)
    client = Client(running_hub)
    names, seed = _add_secrets(client, receiver)
    old = load_keyring(paths.secrets_keyring)
    db = _database(running_hub)
    try:

        def crash(table: str, done: int) -> None:
            raise Boom

        with pytest.raises(Boom):
            rotate_keys(paths, batch_size=2, after_batch=crash)
        halfway = load_keyring(paths.secrets_keyring)
        assert set(halfway.keys) == {old.current_id, halfway.current_id}
        usage = key_usage(db)["alert_channels"]
        assert usage == {halfway.current_id: 2, old.current_id: CHANNELS - 2}
        # The running hub opens both halves.
        client.deliver_all(receiver, names)
        assert _opens(halfway, db) == [True] * (CHANNELS + 2)

        # Retiring now would strand values: refused, nothing removed.
        refused = _cli("--data-dir", str(paths.root), "--retire-old")
        assert refused.returncode != 0
        assert "still use an older key" in refused.stderr
        assert "alert_channels: 3" in refused.stderr
        assert load_keyring(paths.secrets_keyring) == halfway

        # A rerun finishes the same rotation instead of starting another.
        rerun = _cli("--data-dir", str(paths.root))
        assert rerun.returncode == 0, rerun.stderr
        assert f"resumed the unfinished rotation to {halfway.current_id}" in rerun.stdout
        assert set(load_keyring(paths.secrets_keyring).keys) == set(halfway.keys)
        usage_after = key_usage(db)
        assert {k for ids in usage_after.values() for k in ids} == {halfway.current_id}

        client.deliver_all(receiver, names)
        _confirm_totp(client, seed)
        assert _cli("--data-dir", str(paths.root), "--retire-old").returncode == 0
        assert _mode(paths.secrets_keyring) == 0o600
        client.deliver_all(receiver, names)

        with db.reading() as s:
            outcomes = s.execute(
                select(AuditEvent.action, AuditEvent.outcome)
                .where(AuditEvent.action.in_(ROTATION_ACTIONS))
                .order_by(AuditEvent.seq)
            ).all()
        assert [tuple(o) for o in outcomes] == [
            ("Hub.RotateKeys", "started"),
            ("Hub.RotateKeys", "failed"),
            ("Hub.RotateKeys", "started"),
            ("Hub.RotateKeys", "ok"),
            ("Hub.RetireKeys", "ok"),
        ]
        _assert_no_key_material(
            [(tmp_path / "hub.log").read_text(), rerun.stdout, refused.stderr],
            _key_material(paths) + [base64.b64encode(k).decode() for k in old.keys.values()],
        )
    finally:
        db.dispose()
        client.channel.close()


KILL_MIDWAY = """
import os, signal, sys
from pathlib import Path
from modelfleet.agent.hub.datadir import HubPaths
from modelfleet.agent.hub.keyrotation import rotate_keys

def die(table, done):
    os.kill(os.getpid(), signal.SIGKILL)

rotate_keys(HubPaths(Path(sys.argv[1])), batch_size=2, after_batch=die)
"""


def test_rotation_killed_midway_stays_openable_and_a_rerun_finishes(
    running_hub: RunningHub, receiver: HttpReceiver
) -> None:
    paths = HubPaths(running_hub.data_dir)
    client = Client(running_hub)
    names, seed = _add_secrets(client, receiver)
    old = load_keyring(paths.secrets_keyring)
    db = _database(running_hub)
    try:
        killed = subprocess.run(
            [sys.executable, "-c", KILL_MIDWAY, str(paths.root)], capture_output=True, timeout=120
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        halfway = load_keyring(paths.secrets_keyring)
        assert halfway.current_id != old.current_id
        assert key_usage(db)["alert_channels"] == {
            halfway.current_id: 2,
            old.current_id: CHANNELS - 2,
        }
        # No temporary copy of a keyring was left behind.
        assert sorted(p.name for p in paths.keys.iterdir() if "keyring" in p.name) == [
            "blobs.keyring",
            "secrets.keyring",
        ]
        client.deliver_all(receiver, names)
        rerun = _cli("--data-dir", str(paths.root))
        assert rerun.returncode == 0, rerun.stderr
        assert "resumed" in rerun.stdout
        assert {k for ids in key_usage(db).values() for k in ids} == {halfway.current_id}
        assert _cli("--data-dir", str(paths.root), "--retire-old").returncode == 0
        client.deliver_all(receiver, names)
        _confirm_totp(client, seed)
    finally:
        db.dispose()
        client.channel.close()


def test_a_second_rotation_at_the_same_time_is_refused(
    running_hub: RunningHub, receiver: HttpReceiver
) -> None:
    paths = HubPaths(running_hub.data_dir)
    before = load_keyring(paths.secrets_keyring)
    outputs: list[subprocess.CompletedProcess[str]] = []

    def start_another(table: str, done: int) -> None:
        if not outputs:
            outputs.append(_cli("--data-dir", str(paths.root)))

    client = Client(running_hub)
    try:
        client.add_channel(receiver, "one")
    finally:
        client.channel.close()
    rotate_keys(paths, after_batch=start_another)
    assert outputs[0].returncode != 0
    assert "another `modelfleet hub rotate-keys` is running" in outputs[0].stderr
    assert len(load_keyring(paths.secrets_keyring).keys) == len(before.keys) + 1


def test_keyring_file_follows_rotation_and_survives_a_bad_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from modelfleet.agent.hub.blobs import create_keyring, rotate_keyring

    path = tmp_path / "secrets.keyring"
    first = create_keyring(path)
    followed = KeyringFile(path)
    box = SecretBox(followed)
    sealed_old = box.seal("value", "ctx")
    # Another process rotates: the next seal uses the new key, older values still open.
    second = rotate_keyring(path)
    sealed_new = box.seal("value", "ctx")
    assert sealed_new[1:17].decode() == second.current_id != first.current_id
    assert box.open(sealed_old, "ctx") == box.open(sealed_new, "ctx") == "value"
    # A value sealed under a key it has not read yet makes it read the file again.
    third = rotate_keyring(path)
    other = SecretBox(load_keyring(path)).seal("later", "ctx")
    assert SecretBox(KeyringFile(path)).open(other, "ctx") == "later"
    assert box.open(other, "ctx") == "later"
    # The blob store follows its keyring the same way: new blobs get the new key.
    blob_path = tmp_path / "blobs.keyring"
    create_keyring(blob_path)
    store = LocalBlobStore(tmp_path / "blobs", KeyringFile(blob_path))
    before = _put(store, b"before rotation")
    rotated = rotate_keyring(blob_path)
    after = _put(store, b"after rotation")
    assert after.key_id == rotated.current_id != before.key_id
    assert b"".join(store.read(before.sha256)) == b"before rotation"
    # A file made readable by others is refused, the loaded keyring stays, with a warning.
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes())
    with caplog.at_level(logging.WARNING):
        assert followed.current_id == third.current_id
    assert "has mode 0644" in caplog.text
    _assert_no_key_material([caplog.text], _key_material_of(path))


def _put(store: LocalBlobStore, data: bytes) -> BlobStats:
    upload_id = store.begin(hashlib.sha256(data).hexdigest(), len(data))
    store.write(upload_id, 0, data)
    return store.finish(upload_id)


def _key_material_of(path: Path) -> list[str]:
    keys = orjson.loads(path.read_bytes())["keys"].values()
    return [k for key in keys for k in (key, base64.b64decode(key).hex())]
