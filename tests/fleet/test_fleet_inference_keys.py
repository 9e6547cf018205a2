"""Inference keys managed on the hub, enforced by a real enrolled agent: a key created with
the client protects the deployment, revoking it locks its holder out, and no other change
(redeploy, traffic, rollback) brings a revoked key back or drops a live one."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select

from modelfleet.agent.hub.db import AuditEvent
from modelfleet.client import InvalidArgument, NotFound
from tests.fleet.conftest import EnrolAgent
from tests.fleet.fleethelp import WORKSPACE, Admin, HubProcess, wait_for

SETTLE_S = 30.0


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_keys_from_the_hub_protect_the_deployment_on_the_agent(
    hub: HubProcess, admin: Admin, enrol_agent: EnrolAgent
) -> None:
    agent = enrol_agent("eu", "production").start()
    client = admin.client
    admin.deploy("fraud", "production", "credit", 1)
    wait_for(lambda: agent.serving("fraud", "1"), SETTLE_S, "v1 served openly")

    key, secret = client.create_inference_key(
        "fraud", "production", "checkout", rate_per_s=500, burst=50, workspace=WORKSPACE
    )
    assert secret.startswith(f"mfk_{key.id}_") and len(secret) > 40
    assert (key.name, key.rate_per_s, key.burst) == ("checkout", 500.0, 50)
    wait_for(lambda: agent.infer("fraud")[0] == 401, SETTLE_S, "the agent to require a key")
    assert agent.infer("fraud", _bearer(secret))[0] == 200
    assert agent.infer("fraud", _bearer(secret[:-2] + "xx"))[0] == 401

    # Listing shows ids, names and limits only; the timeline records a "keys" revision.
    listed = client.list_inference_keys("fraud", "production", workspace=WORKSPACE)
    assert [k.id for k in listed] == [key.id]
    assert secret not in repr(listed)
    events = client.deployment_events("fraud", "production", workspace=WORKSPACE)
    assert [e.kind for e in events] == ["deploy", "keys"]

    # A second key; then other changes keep both keys.
    other, other_secret = client.create_inference_key(
        "fraud", "production", "batch-job", workspace=WORKSPACE
    )
    admin.traffic("fraud", "production", {1: 50, 2: 50})
    admin.deploy("fraud", "production", "credit", 2)
    wait_for(lambda: agent.infer("fraud", _bearer(secret))[1] == "2", SETTLE_S, "v2 served")
    assert agent.infer("fraud")[0] == 401
    assert agent.infer("fraud", _bearer(other_secret))[0] == 200

    # Revoking locks out that key's holder; a rollback to a revision that had the key does
    # not bring it back.
    revoked = client.revoke_inference_key(
        "fraud", "production", key.id, reason="leaked", workspace=WORKSPACE
    )
    assert revoked.id == key.id
    wait_for(lambda: agent.infer("fraud", _bearer(secret))[0] == 401, SETTLE_S, "revocation")
    # Revision 3 served v1 with both keys.
    client.rollback("fraud", "production", 3, "back to v1", workspace=WORKSPACE)
    wait_for(lambda: agent.infer("fraud", _bearer(other_secret))[1] == "1", SETTLE_S, "rollback")
    assert agent.infer("fraud", _bearer(secret))[0] == 401
    listed = client.list_inference_keys("fraud", "production", workspace=WORKSPACE)
    assert [k.id for k in listed] == [other.id]

    # Revoking the last key opens the deployment again (as one without keys).
    client.revoke_inference_key("fraud", "production", other.id, workspace=WORKSPACE)
    wait_for(lambda: agent.infer("fraud")[0] == 200, SETTLE_S, "the open deployment")

    # The audit rows name the keys, never their secrets or hashes.
    engine = create_engine(hub.db_url)
    with engine.connect() as db:
        rows = db.execute(
            select(AuditEvent.action, AuditEvent.details_json).where(
                AuditEvent.action.like("%InferenceKey%")
            )
        ).all()
    engine.dispose()
    assert len(rows) == 4
    for _, details in rows:
        assert secret not in details and other_secret not in details
        assert "sha256" not in details


def test_bad_key_requests_name_the_field(admin: Admin) -> None:
    client = admin.client
    admin.deploy("fraud", "staging", "credit", 1)
    cases: list[tuple[str, float, str]] = [
        ("", 0.0, "name"),
        ("x" * 65, 0.0, "name"),
        ("caller", -1.0, "rate_per_s"),
        ("caller", float("nan"), "rate_per_s"),
    ]
    for name, rate, field in cases:
        with pytest.raises(InvalidArgument) as bad:
            client.create_inference_key(
                "fraud", "staging", name, rate_per_s=rate, workspace=WORKSPACE
            )
        assert bad.value.field == field, str(bad.value)
    with pytest.raises(NotFound, match="deployment"):
        client.create_inference_key("nowhere", "staging", "caller", workspace=WORKSPACE)
    with pytest.raises(NotFound, match="id"):
        client.revoke_inference_key("fraud", "staging", "nokey", workspace=WORKSPACE)
    # Nothing was stored by the refused calls.
    assert client.list_inference_keys("fraud", "staging", workspace=WORKSPACE) == []
    events = client.deployment_events("fraud", "staging", workspace=WORKSPACE)
    assert [e.kind for e in events] == ["deploy"]
