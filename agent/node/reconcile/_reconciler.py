"""Reconcile: desired deployments -> pulled, verified, loaded, warm versions -> traffic switch.

A new version serves only once it is loaded and warm; the switch is one reference swap. A
version leaving the split stays loaded for a grace period, so rolling back to it is instant.
A version that fails to pull, verify or load never receives traffic; its reason is reported.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from modelfleet.agent.node.access import InferenceAccess
from modelfleet.agent.node.models import ModelManager, State
from modelfleet.agent.node.monitor import PROFILE_FILE
from modelfleet.agent.node.reconcile._artifacts import ArtifactCache, ArtifactError, Source
from modelfleet.agent.node.reconcile._spec import Deployment, DesiredState, Target
from modelfleet.agent.node.repository import CONFIG_FILE, MODEL_FILE
from modelfleet.agent.node.routing import Split
from modelfleet.agent.node.state import Outbox

log = logging.getLogger(__name__)
_SORTED = orjson.OPT_SORT_KEYS
DEFAULT_GRACE_S = 60.0


@dataclass(frozen=True, slots=True)
class VersionStatus:
    """Where one version of one deployment stands on this agent."""

    deployment: str
    model_name: str
    model_version: int
    #: "pulling", "loading", "ready", "failed", "draining"
    state: str
    reason: str = ""
    traffic_percent: int = 0


class Reconciler:
    """Applies the latest desired state, one at a time, on the agent's event loop."""

    def __init__(
        self,
        manager: ModelManager,
        cache: ArtifactCache,
        serving_dir: Path,
        outbox: Outbox,
        manifest_key: Ed25519PublicKey | None,
        grace_s: float = DEFAULT_GRACE_S,
    ) -> None:
        self.manager = manager
        self.cache = cache
        self.serving_dir = serving_dir
        self.outbox = outbox
        self.manifest_key = manifest_key
        self.grace_s = grace_s
        #: set by the hub session while connected; None: pulls wait for the hub
        self.source: Source | None = None
        #: told about every status change (the session turns it into a DeploymentReport)
        self.on_report: Callable[[], None] | None = None
        #: told when sticky keys change (the HTTP server keeps those headers)
        self.on_routes: Callable[[], None] | None = None
        #: the agent's inference keys; each deployment's keys are set before it gets traffic
        self.access: InferenceAccess | None = None
        self.revision = 0
        self._statuses: dict[tuple[str, str], VersionStatus] = {}
        #: (artifact sha256, monitoring settings) loaded per (deployment, version)
        self._loaded: dict[tuple[str, str], tuple[str, bytes]] = {}
        self._retiring: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._deployments: dict[str, Deployment] = {}
        self._latest: DesiredState | None = None
        self._wake = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()

    # -- what others read ---------------------------------------------------------------
    def statuses(self) -> list[VersionStatus]:
        return sorted(self._statuses.values(), key=lambda s: (s.deployment, s.model_version))

    def model_of(self, deployment: str, version: str) -> str | None:
        status = self._statuses.get((deployment, version))
        return status.model_name if status else None

    # -- driving ------------------------------------------------------------------------
    def submit(self, desired: DesiredState) -> None:
        """Queue a desired state; a newer one replaces one not yet started."""
        self._latest = desired
        self.idle.clear()
        self._wake.set()

    async def run(self) -> None:
        """Apply desired states as they come, until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            desired, self._latest = self._latest, None
            if desired is not None:
                try:
                    await self.apply(desired)
                except Exception:  # a bug here must not stop serving; the next state retries
                    log.exception("reconcile of revision %d failed", desired.revision)
            if self._latest is None:
                self.idle.set()

    async def apply(self, desired: DesiredState) -> None:
        wanted = {d.name: d for d in desired.deployments}
        for name in [n for n in self._deployments if n not in wanted]:
            await self._remove(name)
        complete = True
        for deployment in desired.deployments:
            complete &= await self._apply_one(deployment)
            self._deployments[deployment.name] = deployment
        self.revision = desired.revision
        self._report()
        if complete and desired.raw:
            # What a restart serves first, before it retries anything newer.
            await asyncio.to_thread(self.outbox.store.save_serving, desired.revision, desired.raw)

    async def _apply_one(self, deployment: Deployment) -> bool:
        """Returns whether every target of the deployment is ready."""
        if self.access is not None:
            self.access.set_deployment_keys(
                deployment.name, deployment.inference_keys, deployment.protected
            )
        ready: list[tuple[str, int]] = []
        for target in deployment.targets:
            if await self._ensure_loaded(deployment, target):
                ready.append((target.version, target.percent))
        name = deployment.name
        complete = len(ready) == len(deployment.targets)
        if not any(percent for _, percent in ready):
            if deployment.targets:
                log.warning("[Reconcile] deployment=%s: no new version is ready", name)
            return complete
        split = Split.of(ready, deployment.sticky_key)
        previous = self.manager.split_of(name)
        if split != previous:
            self.manager.set_split(name, split)
            log.info("[Reconcile] deployment=%s traffic %s", name, _describe(split))
            await self.outbox.audit(
                "Deployment.TrafficSwitched",
                name,
                "ok",
                {"revision": deployment.revision, "split": _describe(split)},
            )
            if self.on_routes is not None and (previous is None or split.sticky_key):
                self.on_routes()
        for target in deployment.targets:
            if target.version in split.versions:
                self._set(name, target, "ready", traffic=split.percent(target.version))
                self._cancel_retire(name, target.version)
        wanted = {t.version for t in deployment.targets}
        for (dep, version), _ in list(self._loaded.items()):
            if dep == name and version not in wanted and version not in split.versions:
                self._schedule_retire(name, version)
        return complete

    async def _ensure_loaded(self, deployment: Deployment, target: Target) -> bool:
        """Pull, verify and load one target unless it is already serving the same bytes."""
        if target.problem:
            await self._failed(deployment.name, target, target.problem)
            return False
        key = (deployment.name, target.version)
        # The same bytes with other monitoring settings are staged and loaded again.
        loaded = (target.artifact_sha256, orjson.dumps(deployment.monitoring, option=_SORTED))
        if self._loaded.get(key) == loaded:
            return True
        try:
            self._set(deployment.name, target, "pulling")
            await self._pull(target)
            self._set(deployment.name, target, "loading")
            folder = await asyncio.to_thread(self._stage, deployment, target)
            started = time.perf_counter()
            mv = await self.manager.load(
                deployment.name, target.version, folder, deployment.batching
            )
            if mv.state is not State.READY:
                raise ArtifactError(mv.reason or "the model did not load")
        except ArtifactError as exc:
            await self._failed(deployment.name, target, str(exc))
            return False
        self._loaded[key] = loaded
        log.info(
            "[Reconcile] deployment=%s version=%s loaded in %.0f ms",
            deployment.name,
            target.version,
            (time.perf_counter() - started) * 1000,
        )
        await self.outbox.audit(
            "Deployment.Loaded",
            deployment.name,
            "ok",
            {
                "model": target.model_name,
                "version": target.model_version,
                "sha256": target.artifact_sha256,
            },
        )
        return True

    async def _pull(self, target: Target) -> None:
        sha, size = target.artifact_sha256, target.artifact_size
        if self.cache.cached(sha) is None:
            if self.source is None:
                raise ArtifactError(f"artifact {sha[:12]} is not cached and the hub is away")
            try:
                await self.cache.fetch(sha, size, self.source)
            except ArtifactError:
                raise
            except Exception as exc:  # transport errors: the next desired state retries
                raise ArtifactError(f"artifact {sha[:12]}: pull failed ({exc})") from exc
        if self.manifest_key is None:
            raise ArtifactError("no hub manifest key is known; enrol again")
        await asyncio.to_thread(
            self.cache.verify, sha, size, target.manifest_signature, self.manifest_key
        )

    def _stage(self, deployment: Deployment, target: Target) -> Path:
        """D/serving/<deployment>/<version>/: a hard link to the cached file, its config and
        its reference profile."""
        folder = self.serving_dir / deployment.name / target.version
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        source = self.cache.folder(target.artifact_sha256) / MODEL_FILE
        try:
            os.link(source, folder / MODEL_FILE)
        except OSError:  # another file system: a copy keeps the cache free to evict
            shutil.copyfile(source, folder / MODEL_FILE)
        config: dict[str, object] = {}
        if target.feature_names:
            config["feature_names"] = list(target.feature_names)
        if deployment.monitoring:
            config["monitoring"] = dict(deployment.monitoring)
        if config:
            (folder / CONFIG_FILE).write_bytes(orjson.dumps(config))
        profile = deployment.reference_profiles.get(f"{target.model_name}:{target.version}")
        if profile:
            (folder / PROFILE_FILE).write_text(profile, encoding="utf-8")
        return folder

    async def _failed(self, deployment: str, target: Target, reason: str) -> None:
        log.error(
            "[Reconcile] deployment=%s version=%s failed: %s", deployment, target.version, reason
        )
        self._set(deployment, target, "failed", reason)
        await self.outbox.audit(
            "Deployment.LoadFailed",
            deployment,
            "error",
            {"model": target.model_name, "version": target.model_version, "reason": reason},
        )

    async def _remove(self, name: str) -> None:
        self.manager.set_split(name, None)
        if self.access is not None:
            self.access.set_deployment_keys(name, ())
        for key in [k for k in self._loaded if k[0] == name]:
            self._cancel_retire(*key)
            del self._loaded[key]
        for key in [k for k in self._statuses if k[0] == name]:
            del self._statuses[key]
        del self._deployments[name]
        try:
            await self.manager.unload(name, None)
        except Exception:  # nothing loaded (every version failed): nothing to unload
            log.debug("deployment %s had no loaded version", name)
        shutil.rmtree(self.serving_dir / name, ignore_errors=True)
        await self.outbox.audit("Deployment.Removed", name, "ok")
        log.info("[Reconcile] deployment=%s removed", name)

    # -- grace period -------------------------------------------------------------------
    def _schedule_retire(self, name: str, version: str) -> None:
        key = (name, version)
        status = self._statuses.get(key)
        if status is not None:
            self._statuses[key] = dataclasses.replace(status, state="draining", traffic_percent=0)
        if key not in self._retiring:
            loop = asyncio.get_running_loop()
            self._retiring[key] = loop.call_later(
                self.grace_s, lambda: asyncio.ensure_future(self._retire(name, version))
            )

    def _cancel_retire(self, name: str, version: str) -> None:
        handle = self._retiring.pop((name, version), None)
        if handle is not None:
            handle.cancel()

    async def _retire(self, name: str, version: str) -> None:
        self._retiring.pop((name, version), None)
        split = self.manager.split_of(name)
        if split is not None and version in split.versions:
            return
        self._loaded.pop((name, version), None)
        self._statuses.pop((name, version), None)
        try:
            await self.manager.unload(name, version)
        except Exception:
            log.debug("deployment %s version %s was already unloaded", name, version)
        self._report()

    # -- status -------------------------------------------------------------------------
    def _set(
        self, deployment: str, target: Target, state: str, reason: str = "", traffic: int = 0
    ) -> None:
        self._statuses[(deployment, target.version)] = VersionStatus(
            deployment, target.model_name, target.model_version, state, reason, traffic
        )
        self._report()

    def _report(self) -> None:
        if self.on_report is not None:
            self.on_report()


def _describe(split: Split) -> str:
    return ", ".join(f"v{v}={split.percent(v)}%" for v in split.versions)
