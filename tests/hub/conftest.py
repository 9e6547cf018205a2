"""In-process hub for most hub tests: the real servicers and interceptor on a real port.

The server runs on its own event loop in a thread, on 127.0.0.1:0 without TLS (TLS and
the process boundary are covered by test_process.py); tests use ordinary sync stubs.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from sqlalchemy import Engine, func, select, text

from modelfleet.agent.hub.bootstrap import init_hub
from modelfleet.agent.hub.datadir import HubPaths
from modelfleet.agent.hub.db import AuditEvent
from modelfleet.agent.hub.server import build_server
from modelfleet.agent.hub.settings import HubSettings
from modelfleet.agent.hub.state import HubState
from modelfleet.proto.v1 import (
    audit_pb2_grpc,
    auth_pb2,
    auth_pb2_grpc,
    common_pb2,
    workspaces_pb2,
    workspaces_pb2_grpc,
)

ADMIN_PASSWORD = "admin-password-1"
# Cheap argon2 so sign-ins do not dominate the suite; the hash format is the real one.
TEST_SETTINGS = HubSettings(argon2_time_cost=1, argon2_memory_kib=1024, throttle_free_attempts=3)


@dataclass
class Hub:
    state: HubState
    channel: grpc.Channel
    address: str
    _tokens: dict[str, str] = field(default_factory=dict)

    @property
    def engine(self) -> Engine:
        return self.state.db.engine

    @property
    def auth(self) -> auth_pb2_grpc.AuthStub:
        return auth_pb2_grpc.AuthStub(self.channel)

    @property
    def api_keys(self) -> auth_pb2_grpc.ApiKeysStub:
        return auth_pb2_grpc.ApiKeysStub(self.channel)

    @property
    def users(self) -> workspaces_pb2_grpc.UsersStub:
        return workspaces_pb2_grpc.UsersStub(self.channel)

    @property
    def workspaces(self) -> workspaces_pb2_grpc.WorkspacesStub:
        return workspaces_pb2_grpc.WorkspacesStub(self.channel)

    @property
    def audit(self) -> audit_pb2_grpc.AuditStub:
        return audit_pb2_grpc.AuditStub(self.channel)

    def login(self, username: str = "admin", password: str = ADMIN_PASSWORD) -> auth_pb2.TokenPair:
        return self.auth.Login(auth_pb2.LoginRequest(username=username, password=password))

    def token(self, username: str = "admin", password: str = ADMIN_PASSWORD) -> str:
        if username not in self._tokens:
            self._tokens[username] = self.login(username, password).access_token
        return self._tokens[username]

    def md(self, token: str | None = None, workspace: str | None = None) -> list[tuple[str, str]]:
        out = []
        if token is not None:
            out.append(("authorization", f"Bearer {token}"))
        if workspace is not None:
            out.append(("x-modelfleet-workspace", workspace))
        return out

    def admin_md(self, workspace: str | None = None) -> list[tuple[str, str]]:
        return self.md(self.token(), workspace)

    def add_user(self, username: str, password: str = "password-123") -> str:
        created = self.users.CreateUser(
            workspaces_pb2.CreateUserRequest(username=username, password=password),
            metadata=self.admin_md(),
        )
        return created.user.id

    def add_workspace(self, name: str, owner_token: str | None = None) -> str:
        ws = self.workspaces.CreateWorkspace(
            workspaces_pb2.CreateWorkspaceRequest(name=name),
            metadata=self.md(owner_token or self.token()),
        )
        return ws.id

    def set_member(self, workspace: str, username: str, role: int) -> None:
        self.workspaces.SetMember(
            workspaces_pb2.SetMemberRequest(user=username, role=role),  # type: ignore[arg-type]
            metadata=self.admin_md(workspace),
        )

    def audit_count(self, **where: str) -> int:
        query = select(func.count()).select_from(AuditEvent)
        for column, value in where.items():
            query = query.where(getattr(AuditEvent, column) == value)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def snapshot(self) -> dict[str, list[Any]]:
        """Every row of every hub table except the audit log, to prove nothing changed."""
        tables = ["users", "workspaces", "memberships", "refresh_tokens", "api_keys"]
        with self.engine.connect() as conn:
            return {
                t: sorted(tuple(r) for r in conn.execute(text(f"SELECT * FROM {t}")).all())
                for t in tables
            }


class _ServerThread:
    def __init__(self, state: HubState) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: grpc.aio.Server | None = None
        self.port = self._run(self._start(state))

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    async def _start(self, state: HubState) -> int:
        self.server = build_server(state)
        port = self.server.add_insecure_port("127.0.0.1:0")
        await self.server.start()
        return port

    def stop(self) -> None:
        assert self.server is not None
        self._run(self.server.stop(None))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


def start_hub(
    data_dir: Path, db_url: str, settings: HubSettings = TEST_SETTINGS
) -> tuple[_ServerThread, Hub]:
    init_hub(data_dir, db_url=db_url, admin_password=ADMIN_PASSWORD, settings=settings)
    state = HubState.open(HubPaths(data_dir), settings)
    server = _ServerThread(state)
    address = f"127.0.0.1:{server.port}"
    return server, Hub(state=state, channel=grpc.insecure_channel(address), address=address)


@pytest.fixture
def hub(hub_db_url: str, tmp_path: Path) -> Iterator[Hub]:
    server, handle = start_hub(tmp_path / "hub", hub_db_url)
    try:
        yield handle
    finally:
        handle.channel.close()
        server.stop()
        handle.state.db.dispose()


VIEWER, DEVELOPER, ADMIN = common_pb2.VIEWER, common_pb2.DEVELOPER, common_pb2.ADMIN
