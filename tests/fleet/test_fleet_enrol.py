"""Enrolment over real processes: join pins the hub by the token's CA fingerprint, stores a
private key and an identity certificate; reused, expired, tampered or mis-pinned tokens are
refused (and the hub audits the refusals); revoke cuts a running agent off at once."""

from __future__ import annotations

import base64
import stat
import time

import orjson
from cryptography import x509

from modelfleet.fleet.jointoken import PREFIX, decode
from tests.fleet.conftest import EnrolAgent
from tests.fleet.fleethelp import Admin, HubProcess, join, wait_for
from tests.fleet.hubdb import denied_joins


def _retoken(token: str, **changes: str) -> str:
    body = orjson.loads(base64.urlsafe_b64decode(token[len(PREFIX) :] + "=="))
    body.update(changes)
    raw = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_join_and_every_refusal(hub: HubProcess, admin: Admin, tmp_path) -> None:  # type: ignore[no-untyped-def]
    token = admin.join_token("staging", {"region": "eu", "gpu": "false"})
    ok = join(hub, token, tmp_path / "a")
    assert ok.returncode == 0, ok.stderr
    agent_id = ok.stdout.strip()
    key_file = tmp_path / "a" / "agent.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    cert_pem = key_file.read_bytes().split(b"-----END PRIVATE KEY-----")[1]
    cert = x509.load_pem_x509_certificate(cert_pem)
    uris = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = set(uris.get_values_for_type(x509.UniformResourceIdentifier))
    assert f"urn:modelfleet:agent:{agent_id}" in names
    assert {"urn:modelfleet:environment:staging", "urn:modelfleet:label:region=eu"} <= names
    assert (tmp_path / "a" / "manifest-key.pem").read_bytes().startswith(b"-----BEGIN PUBLIC KEY")

    # Enrolled data dirs are not overwritten.
    again = join(hub, admin.join_token("staging"), tmp_path / "a")
    assert again.returncode == 1 and "already holds agent" in again.stderr

    reused = join(hub, token, tmp_path / "b")
    assert reused.returncode == 1 and "refused the join token" in reused.stderr

    expiring = admin.join_token("staging", ttl=1)
    time.sleep(2.0)
    expired = join(hub, expiring, tmp_path / "c")
    assert expired.returncode == 1 and "refused the join token" in expired.stderr

    fresh = admin.join_token("staging")
    forged_secret = base64.urlsafe_b64encode(bytes(32)).rstrip(b"=").decode()
    tampered = join(hub, _retoken(fresh, secret=forged_secret), tmp_path / "d")
    assert tampered.returncode == 1 and "refused the join token" in tampered.stderr
    # The same message for all three: no oracle for which one it was.
    assert len({r.stderr.split(": ", 2)[-1] for r in (reused, expired, tampered)}) == 1

    wrong_pin = join(hub, _retoken(fresh, ca="sha256:" + "0" * 64), tmp_path / "e")
    assert wrong_pin.returncode == 1 and "cannot trust the hub" in wrong_pin.stderr
    garbage = join(hub, "mfjt1_not-a-token", tmp_path / "f")
    assert garbage.returncode == 1 and "--token" in garbage.stderr
    for folder in "bcdef":
        assert not (tmp_path / folder / "identity.json").exists()

    # The untampered token is still good: refusals did not consume it.
    assert join(hub, fresh, tmp_path / "g").returncode == 0
    assert len(denied_joins(hub.db_url)) >= 3
    assert decode(fresh).ca_fingerprint == hub.ca_fingerprint


def test_revoke_cuts_a_running_agent_off(admin: Admin, enrol_agent: EnrolAgent) -> None:
    agent = enrol_agent("r", "production").start()
    wait_for(lambda: admin.agent(agent.agent_id).state == "online", 30, "the agent online")
    admin.revoke(agent.agent_id)
    wait_for(lambda: "UNAUTHENTICATED" in agent.log() or "PERMISSION_DENIED" in agent.log(),
             30, "the agent's stream to be refused")  # fmt: skip
    assert admin.agent(agent.agent_id).state == "revoked"
    # Serving does not depend on the hub; the agent keeps running and keeps being refused.
    assert agent.process is not None and agent.process.poll() is None
