"""Loaded model versions: hot load/unload, version routing and reference counting."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any

from modelfleet.agent.node.batcher import Batcher, Inputs, Outputs
from modelfleet.agent.node.errors import InvalidInput, NotFound, Unavailable
from modelfleet.agent.node.metrics import MetricsRegistry, ModelStats
from modelfleet.agent.node.repository import (
    MODEL_FILE,
    Batching,
    ModelConfig,
    latest_version,
    parse_version,
    read_config,
    scan,
)
from modelfleet.agent.node.routing import KeyLookup, Split
from modelfleet.agent.node.session import OnnxModel
from modelfleet.agent.node.workers import ModelWorkers

log = logging.getLogger(__name__)

MODEL_NAME_RULE = (
    "1-255 characters: ASCII letters, digits, '_', '-' or '.', starting with a letter, digit "
    "or '_' (a portable folder name: no '/', '\\', ':' or NUL)"
)
_MODEL_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}")


def check_model_name(field: str, name: str) -> str:
    """`name` if it is a portable folder name (it becomes one); InvalidInput naming `field`."""
    if not _MODEL_NAME.fullmatch(name):
        shown = (
            "empty" if not name else repr(name) if len(name) <= 64 else f"{len(name)} characters"
        )
        raise InvalidInput(f"{field}: expected {MODEL_NAME_RULE} (got {shown})")
    return name


class State(StrEnum):
    LOADING = "LOADING"
    READY = "READY"
    UNLOADING = "UNLOADING"
    FAILED = "FAILED"


@dataclass(eq=False)
class ModelVersion:
    """One version of a model: its session, batcher, counters and in-flight count."""

    name: str
    version: str
    path: Path
    state: State = State.LOADING
    reason: str = ""
    sha256: str = ""
    loaded_at: float = 0.0
    batching: Batching = field(default_factory=Batching)
    config: ModelConfig = field(default_factory=ModelConfig)
    model: OnnxModel | None = None
    batcher: Batcher | None = None
    stats: ModelStats = field(default_factory=ModelStats)
    _idle: asyncio.Event = field(default_factory=asyncio.Event)

    def acquire(self) -> None:
        self.stats.in_flight += 1
        self._idle.clear()

    def release(self) -> None:
        self.stats.in_flight -= 1
        if self.stats.in_flight == 0:
            self._idle.set()

    async def drained(self) -> None:
        if self.stats.in_flight:
            await self._idle.wait()


class ModelManager:
    """Every model version the agent knows, and which one serves each request."""

    def __init__(
        self,
        models_dir: Path | None,
        pool: ModelWorkers,
        concurrency: int,
        default_batching: Batching,
        metrics: MetricsRegistry,
    ) -> None:
        self.models_dir = models_dir
        self._pool = pool
        self._concurrency = concurrency
        self._default_batching = default_batching
        self._metrics = metrics
        #: told about every batch of every version loaded from now on (monitoring); see
        #: batcher.BatchHook, the version comes first
        self.on_batch: (
            Callable[[ModelVersion, list[Any], Inputs, Outputs, list[int | None]], None] | None
        ) = None
        #: serving versions by model name and version
        self._versions: dict[str, dict[str, ModelVersion]] = {}
        #: versions not serving (LOADING, FAILED, UNLOADING), shown by ListModels
        self._others: dict[tuple[str, str], ModelVersion] = {}
        self._latest: dict[str, ModelVersion] = {}
        #: traffic splits of deployments; names without one route to their latest version
        self._splits: dict[str, Split] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def resolve(
        self, name: str, version: str | None, key_of: KeyLookup | None = None
    ) -> ModelVersion:
        """The serving version for a request; NotFound or Unavailable otherwise.

        Without a version, a deployment's split picks one (sticky when the split names a
        request key and `key_of` finds it); other names get their highest loaded version.
        """
        if version:
            found = self._versions.get(name, {}).get(version)
        else:
            split = self._splits.get(name)
            if split is None:
                found = self._latest.get(name)
            else:
                found = self._versions.get(name, {}).get(split.pick(key_of))
                found = found or self._latest.get(name)
        if found is not None:
            return found
        pending = [mv for (n, v), mv in self._others.items() if n == name and v == (version or v)]
        if pending:
            state = pending[-1]
            detail = f": {state.reason}" if state.reason else ""
            raise Unavailable(f"model '{name}' is {state.state.value.lower()}{detail}")
        if version and name in self._versions:
            raise NotFound(f"model '{name}' has no version '{version}'")
        raise NotFound(f"unknown model '{name}'")

    def set_split(self, name: str, split: Split | None) -> None:
        """Switch a deployment's traffic in one step (None: back to the latest version)."""
        if split is None:
            self._splits.pop(name, None)
            return
        missing = [v for v in split.versions if v not in self._versions.get(name, {})]
        if missing:
            raise NotFound(f"model '{name}' has no ready version {', '.join(missing)}")
        self._splits[name] = split

    def split_of(self, name: str) -> Split | None:
        return self._splits.get(name)

    def sticky_keys(self) -> frozenset[str]:
        """Request keys (header / metadata names) that some split routes by."""
        return frozenset(s.sticky_key for s in self._splits.values() if s.sticky_key)

    def versions_of(self, name: str) -> list[str]:
        return sorted(self._versions.get(name, {}), key=int)

    def statuses(self) -> list[ModelVersion]:
        every = [mv for versions in self._versions.values() for mv in versions.values()]
        every += self._others.values()
        return sorted(every, key=lambda mv: (mv.name, int(mv.version), mv.state))

    async def load_repository(self) -> None:
        """Load every version found on disk; failures are recorded, not raised."""
        if self.models_dir is None:
            return
        for found in scan(self.models_dir):
            try:
                await self.load(found.name, found.version, found.path, None)
            except InvalidInput as exc:  # a folder name no client could address portably
                log.warning("ignoring %s: %s", found.path, exc)

    async def load(
        self, name: str, version: str, path: Path | None, batching: Batching | None
    ) -> ModelVersion:
        """Load (or replace) one version beside the others; returns it READY or FAILED."""
        check_model_name("model name", name)
        if path is not None and "\x00" in str(path):
            raise InvalidInput("path: expected a folder path without NUL characters")
        if path is None and self.models_dir is None:
            raise NotFound("this agent has no model repository; pass the version's path")
        models_dir = self.models_dir or Path()
        if not version:
            base = path.parent if path is not None else models_dir / name
            version = (latest_version(base) if base.is_dir() else None) or ""
            if not version:
                raise NotFound(f"no version folders under {base}")
        if parse_version(version) is None:
            raise InvalidInput(f"version {version!r} must be a positive integer")
        path = path or models_dir / name / version
        async with self._locks.setdefault(name, asyncio.Lock()):
            mv = ModelVersion(name, version, path, stats=self._metrics.stats_for(name, version))
            self._others[(name, version)] = mv
            try:
                await asyncio.get_running_loop().run_in_executor(None, self._open, mv, batching)
            except Exception as exc:  # any load failure is reported, never fatal
                mv.state, mv.reason = State.FAILED, _reason(exc)
                log.error("[LoadModel] model=%s version=%s failed: %s", name, version, mv.reason)
                return mv
            assert mv.model is not None  # set by _open
            mv.batcher = Batcher(
                mv.model.run,
                self._pool,
                mv.batching,
                mv.stats,
                self._concurrency,
                partial(self.on_batch, mv) if self.on_batch is not None else None,
            )
            del self._others[(name, version)]
            previous = self._versions.setdefault(name, {}).get(version)
            mv.state, mv.loaded_at = State.READY, time.time()
            self._versions[name][version] = mv
            self._route(name)
            log.info(
                "[LoadModel] model=%s version=%s ready (batching %s)", name, version, mv.batching
            )
        if previous is not None:
            await self._retire(previous)
        return mv

    def _open(self, mv: ModelVersion, batching: Batching | None) -> None:
        """Worker thread: read config, create the session and warm it up."""
        model_file = mv.path / MODEL_FILE
        if not model_file.is_file():
            raise FileNotFoundError(f"{MODEL_FILE} not found in {mv.path.name}")
        mv.config = read_config(mv.path)
        model = OnnxModel(model_file)
        if mv.config.feature_names is not None:
            _check_features(model, mv.config.feature_names)
        settings = batching or dataclasses.replace(self._default_batching, **mv.config.batching)
        if not model.signature.batchable:
            settings = dataclasses.replace(settings, max_batch_size=0)
        model.warm_up()
        mv.model, mv.sha256, mv.batching = model, model.sha256, settings

    async def unload(self, name: str, version: str | None) -> list[ModelVersion]:
        """Stop routing to the version(s), wait for their in-flight requests, drop them."""
        async with self._locks.setdefault(name, asyncio.Lock()):
            versions = self._versions.get(name, {})
            chosen = [versions[version]] if version in versions else []
            if not version:
                chosen = list(versions.values())
            failed = [k for k in self._others if k[0] == name and (not version or k[1] == version)]
            if not chosen and not failed:
                raise NotFound(f"model '{name}' has no loaded version {version or ''}".rstrip())
            for key in failed:
                del self._others[key]
            for mv in chosen:
                del versions[mv.version]
            if not versions:
                self._versions.pop(name, None)
            split = self._splits.get(name)
            if split is not None and any(mv.version in split.versions for mv in chosen):
                del self._splits[name]
            self._route(name)
        for mv in chosen:
            await self._retire(mv)
        return chosen

    async def _retire(self, mv: ModelVersion) -> None:
        mv.state = State.UNLOADING
        await mv.drained()
        if mv.batcher is not None:
            mv.batcher.close()
        mv.model, mv.batcher = None, None
        log.info("[UnloadModel] model=%s version=%s unloaded", mv.name, mv.version)

    def _route(self, name: str) -> None:
        versions = self._versions.get(name)
        if versions:
            self._latest[name] = versions[max(versions, key=int)]
        else:
            self._latest.pop(name, None)

    def in_flight(self) -> int:
        return sum(mv.stats.in_flight for vs in self._versions.values() for mv in vs.values())


def _check_features(model: OnnxModel, names: tuple[str, ...]) -> None:
    inputs = model.signature.inputs
    if len(inputs) != 1 or len(inputs[0].shape) != 2 or inputs[0].shape[1] not in (-1, len(names)):
        raise ValueError(
            f"feature_names lists {len(names)} columns but the model input is not a "
            f"single 2-D tensor with {len(names)} columns"
        )


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
