"""The agent metrics service against a real agent: events, auth failure, reconnects, cancel."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from modelfleet.desktop.services.cancel import Cancelled, CancelToken
from modelfleet.desktop.services.metrics import (
    AgentEndpoint,
    AgentMetricsClient,
    MetricsSnapshot,
    StreamConnected,
    StreamLost,
    read_token,
)


def take(events, count):
    return [next(events) for _ in range(count)]


def test_watch_yields_connected_then_snapshots_with_request_counts(agent):
    for _ in range(3):
        assert agent.infer() == 200
    assert agent.infer(bad=True) == 400
    token = CancelToken()
    client = AgentMetricsClient(AgentEndpoint(agent.grpc_address, agent.token_file))
    events = client.watch(token, interval_ms=100)
    first, second, third = take(events, 3)
    assert first == StreamConnected(agent.grpc_address)
    assert isinstance(second, MetricsSnapshot) and isinstance(third, MetricsSnapshot)
    assert second.agent == agent.grpc_address and abs(second.time - time.time()) < 60
    model = next(m for m in third.models if m.model == "credit-risk")
    assert model.version == "1"
    assert model.requests_total >= 4 and model.errors_total >= 1
    token.cancel()
    with pytest.raises(Cancelled):
        next(events)


def test_wrong_token_is_reported_as_lost_with_a_readable_reason(agent, tmp_path):
    bad = tmp_path / "token"
    bad.write_text("not-the-token")
    token = CancelToken()
    events = AgentMetricsClient(AgentEndpoint(agent.grpc_address, bad)).watch(token)
    lost = next(e for e in events if isinstance(e, StreamLost))
    assert lost.agent == agent.grpc_address and lost.retry_in_s == 0.5
    assert "Metrics.WatchMetrics" in lost.message and "Traceback" not in lost.message
    token.cancel()


def test_unreachable_agent_backs_off_and_cancel_stops_the_wait(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token_file = tmp_path / "token"
    token_file.write_text("t")
    token = CancelToken()
    client = AgentMetricsClient(AgentEndpoint(f"127.0.0.1:{port}", token_file), 2.0)
    events = client.watch(token)
    first, second = take(events, 2)
    assert isinstance(first, StreamLost) and isinstance(second, StreamLost)
    assert (first.retry_in_s, second.retry_in_s) == (0.5, 1.0)
    threading.Timer(0.1, token.cancel).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        next(events)
    assert time.monotonic() - started < 2.0


def test_missing_token_file_names_the_file(tmp_path):
    missing = tmp_path / "nope" / "control.token"
    with pytest.raises(Exception, match=r"cannot read control token file .*nope/control.token"):
        read_token(missing)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(Exception, match=r"control token file .* is empty"):
        read_token(empty)


def test_agent_restart_is_lost_then_connected_again(models_dir: Path, tmp_path):
    from agent import start_agent

    first = start_agent(models_dir, tmp_path / "a")
    token = CancelToken()
    endpoint = AgentEndpoint(first.grpc_address, first.token_file)
    events = AgentMetricsClient(endpoint, 2.0).watch(token, interval_ms=100)
    try:
        assert next(events) == StreamConnected(first.grpc_address)
        assert isinstance(next(events), MetricsSnapshot)
        assert first.stop() == 0
        lost = next(e for e in events if isinstance(e, StreamLost))
        assert "agent 127.0.0.1" in lost.message
    finally:
        token.cancel()
