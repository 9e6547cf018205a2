"""Where local mode keeps its hub, agent, admin password, logs and the running stack's record."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelfleet.paths import ensure_private_dir, user_data_dir


@dataclass(frozen=True, slots=True)
class LocalPaths:
    """`<user data dir>/local` unless given another root (tests use a temporary one)."""

    root: Path

    @classmethod
    def default(cls) -> LocalPaths:
        return cls(user_data_dir() / "local")

    @property
    def hub(self) -> Path:
        return self.root / "hub"

    @property
    def agent(self) -> Path:
        return self.root / "agent"

    @property
    def admin_password(self) -> Path:
        return self.root / "admin-password"

    @property
    def init_stamp(self) -> Path:
        """What the hub was last initialised with (package version and migrations)."""
        return self.root / "hub-init.stamp"

    @property
    def ports(self) -> Path:
        """The hub's last ports, asked for again so the enrolled agent can start at once."""
        return self.root / "ports.json"

    @property
    def state(self) -> Path:
        return self.root / "stack.json"

    @property
    def lock(self) -> Path:
        return self.root / "stack.lock"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def hub_ready(self) -> Path:
        return self.run / "hub.ready.json"

    @property
    def agent_ready(self) -> Path:
        return self.run / "agent.ready.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def control_token(self) -> Path:
        """The agent's bearer token for AgentControl and WatchMetrics (kept by the agent)."""
        return self.agent / "control.token"

    def ensure(self) -> None:
        for folder in (self.root, self.run, self.logs):
            ensure_private_dir(folder)
