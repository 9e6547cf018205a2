"""The Models page's state: registered models, a model's versions and aliases, the selected
version's details (signature, lineage, profile histograms, comments), and downloads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from modelfleet.client import Comment, HubClient, ModelVersion, RegisteredModel
from modelfleet.desktop.services.cancel import CancelToken
from modelfleet.desktop.services.registry_view import (
    Downloaded,
    FeatureHistogram,
    download_version,
    profile_histograms,
)
from modelfleet.desktop.viewmodels.session import Progress, SessionViewModel
from modelfleet.desktop.workers import WorkerSlot


@dataclass(frozen=True)
class VersionDetail:
    version: ModelVersion
    histograms: list[FeatureHistogram]
    comments: list[Comment]
    profile_error: str = ""


class ModelsViewModel(QObject):
    modelsChanged = Signal(list)  # list[RegisteredModel]
    versionsChanged = Signal(list)  # list[ModelVersion] of the current model, newest first
    detailChanged = Signal(object)  # VersionDetail | None
    downloadProgress = Signal(int, int)  # bytes done, total
    downloaded = Signal(object)  # Downloaded
    deployRequested = Signal(str, int)  # model name, version
    openRunRequested = Signal(str)  # run id (lineage)
    statusChanged = Signal(str)
    failed = Signal(str)

    def __init__(self, session: SessionViewModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.query = ""
        self.models: list[RegisteredModel] = []
        self.model: RegisteredModel | None = None
        self.versions: list[ModelVersion] = []
        self.detail: VersionDetail | None = None
        names = ("models", "versions", "detail", "act", "download")
        self._slots = {name: WorkerSlot(self) for name in names}
        session.workspaceChanged.connect(self.reload)
        self.failed.connect(session.errorRaised)

    def _run(self, slot: str, name: str, fn: Any, done: Any, progress: Any = None) -> None:
        ws = self.session.workspace
        self.session.run(
            self._slots[slot], name, lambda c, t, p: fn(c, ws, t, p), done, self.failed.emit,
            progress,
        )  # fmt: skip

    # --- models -----------------------------------------------------------------------------

    def reload(self, _workspace: str = "") -> None:
        self.model, self.versions, self.detail = None, [], None
        self.versionsChanged.emit([])
        self.detailChanged.emit(None)
        if not self.session.permissions.signed_in:
            self.models = []
            self.modelsChanged.emit([])
            return
        self.search(self.query)

    def search(self, query: str) -> None:
        """Models whose name contains `query` (on the hub)."""
        self.query = query.strip()
        text = self.query

        def fetch(c: HubClient, ws: str | None, _t: CancelToken, _p: Progress) -> list[Any]:
            return list(c.iter_models(text, workspace=ws))

        self._run("models", "list models", fetch, self._on_models)

    def _on_models(self, models: list[RegisteredModel]) -> None:
        self.models = models
        self.modelsChanged.emit(models)

    def select_model(self, name: str) -> None:
        self.model = next((m for m in self.models if m.name == name), None)
        self.detail = None
        self.detailChanged.emit(None)

        def fetch(c: HubClient, ws: str | None, _t: CancelToken, _p: Progress) -> Any:
            return c.get_model(name, workspace=ws), list(
                c.list_versions(name, page_size=1000, workspace=ws).items
            )

        self._run("versions", "list versions", fetch, self._on_versions)

    def _on_versions(self, result: tuple[RegisteredModel, list[ModelVersion]]) -> None:
        self.model, self.versions = result
        self.versionsChanged.emit(self.versions)

    # --- the selected version ---------------------------------------------------------------

    def select_version(self, number: int) -> None:
        version = next((v for v in self.versions if v.version == number), None)
        if version is None:
            return

        def fetch(c: HubClient, ws: str | None, _t: CancelToken, _p: Progress) -> VersionDetail:
            comments = c.list_comments(version.model_name, version.version, workspace=ws)
            try:
                histograms, error = profile_histograms(version.reference_profile_json), ""
            except ValueError as exc:
                histograms, error = [], str(exc)
            return VersionDetail(version, histograms, comments, error)

        self._run("detail", "version detail", fetch, self._on_detail)

    def _on_detail(self, detail: VersionDetail) -> None:
        self.detail = detail
        self.detailChanged.emit(detail)

    def alias_move(self, alias: str, number: int) -> str:
        """What moving (or setting) `alias` to `number` will do, for the confirmation."""
        current = self.model.aliases.get(alias) if self.model else None
        name = self.model.name if self.model else "?"
        if current is None:
            return f"Point the new alias '{alias}' of {name} at version {number}."
        if current == number:
            return f"'{alias}' already points at version {number}."
        return (
            f"Move the alias '{alias}' of {name} from version {current} to version {number}. "
            f"Deployments following '{alias}' switch to version {number} when redeployed."
        )

    def set_alias(self, alias: str, number: int) -> None:
        text = alias.strip()
        if not text or self.model is None:
            self.failed.emit("Alias: expected a name such as 'production'.")
            return
        name = self.model.name

        def move(c: HubClient, ws: str | None, _t: CancelToken, _p: Progress) -> ModelVersion:
            return c.set_alias(name, text, number, workspace=ws)

        def done(_v: ModelVersion) -> None:
            self.statusChanged.emit(f"Alias '{text}' now points at version {number}.")
            self.select_model(name)

        self._run("act", "set alias", move, done)

    def add_comment(self, body: str) -> None:
        text, detail = body.strip(), self.detail
        if detail is None or not text:
            self.failed.emit("Comment: select a version and write some text.")
            return
        v = detail.version

        def add(c: HubClient, ws: str | None, _t: CancelToken, _p: Progress) -> Comment:
            return c.add_comment(v.model_name, text, v.version, workspace=ws)

        def done(_c: Comment) -> None:
            self.statusChanged.emit("Comment added.")
            self.select_version(v.version)

        self._run("act", "add comment", add, done)

    def download(self, target: Path) -> None:
        """Download the selected version's ONNX file to `target` (digest verified)."""
        if self.detail is None:
            return
        version = self.detail.version

        def fetch(c: HubClient, ws: str | None, t: CancelToken, p: Progress) -> Downloaded:
            return download_version(c, version, target, t, p, ws)

        self._run("download", "download model", fetch, self._on_downloaded,
                  lambda done_total: self.downloadProgress.emit(*done_total))  # fmt: skip

    def _on_downloaded(self, result: Downloaded) -> None:
        self.statusChanged.emit(f"Downloaded {result.size:,} bytes to {result.path}.")
        self.downloaded.emit(result)

    def request_deploy(self) -> None:
        if self.detail is not None:
            self.deployRequested.emit(self.detail.version.model_name, self.detail.version.version)

    def open_source_run(self) -> None:
        if self.detail is not None and self.detail.version.source_run_id:
            self.openRunRequested.emit(self.detail.version.source_run_id)

    def shutdown(self) -> None:
        for slot in self._slots.values():
            slot.cancel()
