"""The main window's state: the pages, the current page, the connection banner and messages."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal


@dataclass(frozen=True)
class PageSpec:
    """A page of the navigation rail; `coming_with` names the service a placeholder waits for."""

    key: str
    title: str
    summary: str
    coming_with: str = ""


PAGES: tuple[PageSpec, ...] = (
    PageSpec(
        "home",
        "Home",
        "Fleet health, deployments with live traffic, firing alerts and recent activity.",
        "the hub's Fleet, Deployments and Alerts services",
    ),
    PageSpec(
        "experiments",
        "Experiments",
        "Runs, metric charts and side-by-side comparison of runs.",
        "the hub's Tracking service",
    ),
    PageSpec(
        "models",
        "Models",
        "Registered models, versions, aliases, signatures and lineage.",
        "the hub's Registry service",
    ),
    PageSpec(
        "deployments",
        "Deployments",
        "Deploy, promote, canary and roll back model versions on agents.",
        "the hub's Deployments and Fleet services",
    ),
    PageSpec(
        "monitoring",
        "Monitoring",
        "Live throughput, latency percentiles and errors streamed from agents.",
    ),
    PageSpec(
        "alerts",
        "Alerts",
        "Alert rules, firing and resolved alerts, notification channels.",
        "the hub's Alerts service",
    ),
    PageSpec(
        "audit",
        "Audit",
        "The hash-chained audit log: search, export and verify.",
        "the hub's Audit service",
    ),
    PageSpec(
        "admin",
        "Admin",
        "Users, workspaces, roles, API keys and agent enrolment.",
        "the hub's Auth, Users and Workspaces services",
    ),
    PageSpec(
        "notebooks",
        "Notebooks",
        "JupyterLab with the SDK connected to the current hub and workspace.",
        "sign-in to a hub (the SDK needs a hub to connect to)",
    ),
)


class ShellViewModel(QObject):
    """Which page shows, which sources lost their connection, and the latest error message."""

    currentChanged = Signal(int)
    bannerChanged = Signal(str)  # empty: hide the banner
    messageChanged = Signal(str)  # empty: hide the message bar
    pageEnabledChanged = Signal(int, bool, str)  # index, enabled, why not (for the tooltip)

    def __init__(self, pages: tuple[PageSpec, ...] = PAGES, parent: QObject | None = None):
        super().__init__(parent)
        self.pages = pages
        self.current = 0
        self.message = ""
        self._lost: dict[str, str] = {}
        self.disabled: dict[int, str] = {}

    def select(self, index: int) -> None:
        if not 0 <= index < len(self.pages) or index == self.current:
            return
        self.current = index
        self.currentChanged.emit(index)

    def select_key(self, key: str) -> None:
        self.select([page.key for page in self.pages].index(key))

    def set_page_enabled(self, key: str, enabled: bool, reason: str = "") -> None:
        """Grey out a page the signed-in role may not use; `reason` says what it needs."""
        index = [page.key for page in self.pages].index(key)
        if (index not in self.disabled) == enabled and self.disabled.get(index, "") == reason:
            return
        if enabled:
            self.disabled.pop(index, None)
        else:
            self.disabled[index] = reason
        self.pageEnabledChanged.emit(index, enabled, reason)

    @property
    def banner(self) -> str:
        if not self._lost:
            return ""
        source, reason = next(iter(self._lost.items()))
        more = f" (and {len(self._lost) - 1} more)" if len(self._lost) > 1 else ""
        return f"Connection to {source} lost{more}: {reason}"

    def report_connection(self, source: str, state: str, message: str) -> None:
        """Slot for a source's connection state ("live", "lost", "connecting", "removed")."""
        before = self.banner
        if state == "lost":
            self._lost[source] = message or "no details"
        elif state in ("live", "removed"):
            self._lost.pop(source, None)
        if self.banner != before:
            self.bannerChanged.emit(self.banner)

    def show_message(self, text: str) -> None:
        self.message = text
        self.messageChanged.emit(text)

    def dismiss_message(self) -> None:
        self.show_message("")
