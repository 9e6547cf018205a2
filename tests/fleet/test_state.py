"""The agent's local store: durable outbox, never-reused seqs, acks, roll-up cap, desired state."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from modelfleet.agent.node.state import AUDIT, ROLLUP, StateStore


def test_seqs_are_monotonic_and_never_reused_after_acks(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    first = store.append_many(AUDIT, [b"a", b"b", b"c"])
    assert first == [1, 2, 3]
    assert store.acknowledge(3) == 3
    assert store.pending() == []
    store.close()
    reopened = StateStore(tmp_path / "state.db")
    assert reopened.append(AUDIT, b"d") == 4
    assert [(e.seq, e.body) for e in reopened.pending()] == [(4, b"d")]
    assert reopened.oldest_pending() == 4


def test_partial_ack_keeps_the_rest_in_order(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    store.append_many(ROLLUP, [b"%d" % i for i in range(10)])
    store.acknowledge(4)
    pending = store.pending(after_seq=0, limit=3)
    assert [e.seq for e in pending] == [5, 6, 7]
    assert [e.seq for e in store.pending(after_seq=7)] == [8, 9, 10]
    assert store.pending_count() == 6


def test_rollups_drop_oldest_first_past_the_cap_and_audits_never(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db", rollup_cap=5)
    store.append(AUDIT, b"audit-0")
    store.append_many(ROLLUP, [b"r%d" % i for i in range(8)])
    store.append(AUDIT, b"audit-1")
    kinds = [(e.kind, e.body) for e in store.pending()]
    assert [b for k, b in kinds if k == AUDIT] == [b"audit-0", b"audit-1"]
    assert [b for k, b in kinds if k == ROLLUP] == [b"r3", b"r4", b"r5", b"r6", b"r7"]
    assert store.rollups_dropped() == 3
    assert store.oldest_pending() == 1


def test_unknown_kind_is_refused(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    with pytest.raises(ValueError, match="outbox kind"):
        store.append("metric", b"x")
    assert store.pending_count() == 0


def test_desired_state_is_replaced_whole(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    assert store.load_desired() is None
    store.save_desired(3, b"three")
    store.save_desired(4, b"four")
    assert store.load_desired() == (4, b"four")


def test_committed_appends_survive_kill_9(tmp_path: Path) -> None:
    """A writer killed with SIGKILL right after its commits returned loses none of them."""
    db = tmp_path / "state.db"
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from modelfleet.agent.node.state import StateStore\n"
        "s = StateStore(Path(sys.argv[1]))\n"
        "for i in range(200): s.append('audit', b'e%d' % i)\n"
        "s.save_desired(7, b'desired')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(db)], timeout=60)
    assert result.returncode == -9
    store = StateStore(db)
    assert [e.body for e in store.pending(limit=1000)] == [b"e%d" % i for i in range(200)]
    assert store.load_desired() == (7, b"desired")
