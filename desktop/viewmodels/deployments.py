"""The Deployments page's state: deployments with per-agent status, the selected one's
revision timeline, the deploy dialog's agent preview, and the actions on deployments.

Actions take effect on the hub; the page confirms destructive ones first (with the text
from `services.deployments_view`) and every action reloads what it changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from modelfleet.client import HubClient
from modelfleet.client._fleet import Agent, Deployment, DeploymentEvent
from modelfleet.desktop.services.cancel import CancelToken
from modelfleet.desktop.viewmodels.session import Progress, SessionViewModel
from modelfleet.desktop.workers import WorkerSlot

Call = Callable[[HubClient, str | None], Any]


class DeploymentsViewModel(QObject):
    deploymentsChanged = Signal(list)  # list[Deployment]
    agentsChanged = Signal(list)  # list[Agent] of the workspace
    selectedChanged = Signal(object)  # Deployment | None
    eventsChanged = Signal(list)  # list[DeploymentEvent] of the selected, newest first
    previewChanged = Signal(list)  # list[Agent] a deployment would reach
    deployed = Signal(object)  # Deployment
    statusChanged = Signal(str)
    failed = Signal(str)

    def __init__(self, session: SessionViewModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.deployments: list[Deployment] = []
        self.agents: list[Agent] = []
        self.selected: Deployment | None = None
        self.events: list[DeploymentEvent] = []
        self.preview: list[Agent] = []
        names = ("list", "agents", "events", "preview", "act")
        self._slots = {name: WorkerSlot(self) for name in names}
        session.workspaceChanged.connect(self.reload)
        self.failed.connect(session.errorRaised)

    def _call(self, slot: str, name: str, call: Call, done: Callable[[Any], None]) -> None:
        ws = self.session.workspace

        def task(client: HubClient, _t: CancelToken, _p: Progress) -> Any:
            return call(client, ws)

        self.session.run(self._slots[slot], name, task, done, self.failed.emit)

    # --- loading ----------------------------------------------------------------------------

    def reload(self, _workspace: str = "") -> None:
        if not self.session.permissions.signed_in:
            self._on_deployments([])
            self._on_agents([])
            return
        self._call(
            "list",
            "list deployments",
            lambda c, ws: c.list_deployments(workspace=ws),
            self._on_deployments,
        )
        self._call("agents", "list agents",
                   lambda c, ws: c.list_agents(workspace=ws), self._on_agents)  # fmt: skip

    def _on_deployments(self, deployments: list[Deployment]) -> None:
        self.deployments = deployments
        self.deploymentsChanged.emit(deployments)
        if self.selected is not None:
            key = (self.selected.name, self.selected.environment)
            match = next((d for d in deployments if (d.name, d.environment) == key), None)
            self.select(match)

    def _on_agents(self, agents: list[Agent]) -> None:
        self.agents = agents
        self.agentsChanged.emit(agents)

    def environments(self) -> list[str]:
        """Environments with agents or deployments, plus the usual two."""
        known = {a.environment for a in self.agents} | {d.environment for d in self.deployments}
        return sorted(known | {"staging", "production"})

    def select(self, deployment: Deployment | None) -> None:
        self.selected = deployment
        self.selectedChanged.emit(deployment)
        if deployment is None:
            self.events = []
            self.eventsChanged.emit([])
            return
        name, env = deployment.name, deployment.environment
        self._call("events", "deployment events",
                   lambda c, ws: c.deployment_events(name, env, workspace=ws),
                   self._on_events)  # fmt: skip

    def _on_events(self, events: list[DeploymentEvent]) -> None:
        self.events = sorted(events, key=lambda e: e.revision, reverse=True)
        self.eventsChanged.emit(self.events)

    def preview_agents(self, environment: str, selector: str) -> None:
        """The agents a deployment to `environment` with `selector` would reach (live)."""
        env, sel = environment.strip(), selector.strip()
        if not env:
            self.preview = []
            self.previewChanged.emit([])
            return

        def done(agents: list[Agent]) -> None:
            self.preview = [a for a in agents if a.state != "revoked"]
            self.previewChanged.emit(self.preview)

        self._call("preview", "preview agents",
                   lambda c, ws: c.list_agents(env, sel, workspace=ws), done)  # fmt: skip

    # --- actions ----------------------------------------------------------------------------

    def _act(self, name: str, call: Call, status: Callable[[Deployment], str]) -> None:
        def done(deployment: Deployment) -> None:
            self.statusChanged.emit(status(deployment))
            self.deployed.emit(deployment)
            self.reload()

        self._call("act", name, call, done)

    def deploy(
        self, name: str, environment: str, model: str, version: int = 0, alias: str = "",
        selector: str = "", reason: str = "",
    ) -> None:  # fmt: skip
        for label, value in (("Deployment name", name), ("Environment", environment),
                             ("Model", model)):  # fmt: skip
            if not value.strip():
                self.failed.emit(f"{label}: expected a value.")
                return
        if not version and not alias.strip():
            self.failed.emit("Version: expected a version number or an alias.")
            return
        self._act(
            "deploy",
            lambda c, ws: c.deploy(
                name.strip(), environment.strip(), model.strip(), version=version,
                alias=alias.strip(), selector=selector.strip(), reason=reason, workspace=ws,
            ),
            lambda d: f"Deployed '{d.name}' to {d.environment} (revision {d.revision}).",
        )  # fmt: skip

    def promote(self, deployment: Deployment, to_environment: str) -> None:
        self._act(
            "promote",
            lambda c, ws: c.promote(deployment.name, deployment.environment, to_environment,
                                    "promoted from the desktop", workspace=ws),
            lambda d: f"Promoted '{d.name}' to {d.environment} (revision {d.revision}).",
        )  # fmt: skip

    def set_traffic(self, deployment: Deployment, split: list[tuple[int, int]]) -> None:
        self._act(
            "set traffic",
            lambda c, ws: c.set_traffic(deployment.name, deployment.environment, split,
                                        reason="canary from the desktop", workspace=ws),
            lambda d: f"Traffic of '{d.name}' set (revision {d.revision}).",
        )  # fmt: skip

    def rollback(self, deployment: Deployment) -> None:
        self._act(
            "rollback",
            lambda c, ws: c.rollback(deployment.name, deployment.environment,
                                     reason="rolled back from the desktop", workspace=ws),
            lambda d: f"Rolled back '{d.name}' in {d.environment} (now revision {d.revision}).",
        )  # fmt: skip

    def undeploy(self, deployment: Deployment) -> None:
        self._act(
            "undeploy",
            lambda c, ws: c.undeploy(deployment.name, deployment.environment,
                                     "undeployed from the desktop", workspace=ws),
            lambda d: f"Undeployed '{d.name}' from {d.environment}.",
        )  # fmt: skip

    def shutdown(self) -> None:
        for slot in self._slots.values():
            slot.cancel()
