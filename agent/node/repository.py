"""The model repository on disk: DIR/<model>/<version>/model.onnx (+ modelfleet.json)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
CONFIG_FILE = "modelfleet.json"


class RepositoryError(ValueError):
    """A model folder or its modelfleet.json is not usable."""


@dataclass(frozen=True, slots=True)
class Batching:
    """Dynamic batching settings; max_batch_size 0 or 1 turns batching off."""

    max_batch_size: int = 64
    max_queue_delay_us: int = 0

    @property
    def enabled(self) -> bool:
        return self.max_batch_size > 1


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """What modelfleet.json says about a model version."""

    feature_names: tuple[str, ...] | None = None
    #: batching keys set in the file; they override the agent's defaults
    batching: dict[str, int] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VersionDir:
    """One model version found on disk."""

    name: str
    version: str
    path: Path


def parse_version(text: str) -> int | None:
    """Version folder names are positive integers."""
    return int(text) if text.isascii() and text.isdigit() and int(text) > 0 else None


def scan(models_dir: Path) -> list[VersionDir]:
    """Every DIR/<model>/<version>/ folder; others are skipped with a warning."""
    found: list[VersionDir] = []
    if not models_dir.is_dir():
        raise RepositoryError(f"models directory {models_dir} does not exist")
    for model in sorted(p for p in models_dir.iterdir() if p.is_dir()):
        for folder in sorted(p for p in model.iterdir() if p.is_dir()):
            if parse_version(folder.name) is None:
                log.warning("ignoring %s: version folders are positive integers", folder)
                continue
            found.append(VersionDir(model.name, folder.name, folder))
    found.sort(key=lambda v: (v.name, int(v.version)))
    return found


def latest_version(model_dir: Path) -> str | None:
    """The highest numbered version folder under a model folder."""
    versions = [int(p.name) for p in model_dir.iterdir() if p.is_dir() and parse_version(p.name)]
    return str(max(versions)) if versions else None


def read_config(version_dir: Path) -> ModelConfig:
    """Parse modelfleet.json if present; raise RepositoryError naming the bad field."""
    path = version_dir / CONFIG_FILE
    if not path.is_file():
        return ModelConfig()
    try:
        raw = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise RepositoryError(f"{CONFIG_FILE}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise RepositoryError(f"{CONFIG_FILE}: expected a JSON object")
    names = raw.get("feature_names")
    if names is not None and (
        not isinstance(names, list)
        or not all(isinstance(n, str) for n in names)
        or len(set(names)) != len(names)
    ):
        raise RepositoryError(f"{CONFIG_FILE}: feature_names must be a list of distinct strings")
    metadata = raw.get("metadata", {})
    if not isinstance(metadata, dict):
        raise RepositoryError(f"{CONFIG_FILE}: metadata must be an object")
    return ModelConfig(
        feature_names=tuple(names) if names is not None else None,
        batching=_parse_batching(raw.get("batching")),
        metadata=metadata,
    )


def _parse_batching(raw: Any) -> dict[str, int]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise RepositoryError(f"{CONFIG_FILE}: batching must be an object")
    values: dict[str, int] = {}
    for key in ("max_batch_size", "max_queue_delay_us"):
        if key in raw:
            value = raw[key]
            if type(value) is not int or value < 0:
                raise RepositoryError(
                    f"{CONFIG_FILE}: batching.{key} must be a non-negative integer"
                )
            values[key] = value
    unknown = set(raw) - {"max_batch_size", "max_queue_delay_us"}
    if unknown:
        raise RepositoryError(f"{CONFIG_FILE}: unknown batching keys {sorted(unknown)}")
    return values
