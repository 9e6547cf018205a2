"""Registry data for the Models page: reference-profile histograms and version downloads."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from modelfleet.client import HubClient, ModelVersion
from modelfleet.desktop.services.cancel import CancelToken
from modelfleet.profile import NUMERICAL, ProfileError, ReferenceProfile

FloatArray = npt.NDArray[np.float64]
# The profile keeps 1800 fine bins; a chart reads better with a few dozen.
DISPLAY_BINS = 40


@dataclass(frozen=True)
class FeatureHistogram:
    """One feature of a reference profile, ready to draw: bar edges (numerical) or labels."""

    name: str
    kind: str
    counts: FloatArray
    edges: FloatArray | None
    labels: tuple[str, ...]
    summary: str


def _coarse(counts: npt.NDArray[np.int64], lo: float, hi: float) -> tuple[FloatArray, FloatArray]:
    groups = np.array_split(counts.astype(np.float64), min(DISPLAY_BINS, len(counts)))
    sums = np.array([g.sum() for g in groups])
    sizes = np.cumsum([0] + [len(g) for g in groups])
    edges = lo + (hi - lo) * sizes / len(counts)
    return sums, edges


def profile_histograms(document: str) -> list[FeatureHistogram]:
    """Histograms of every feature in a version's profile JSON ([] when it has none).

    Raises ValueError naming the first bad field when the document is not a valid profile.
    """
    if not document.strip():
        return []
    try:
        profile = ReferenceProfile.from_dict(json.loads(document))
    except (json.JSONDecodeError, ProfileError) as exc:
        raise ValueError(f"reference profile: {exc}") from exc
    out = []
    for f in profile.features:
        if f.kind == NUMERICAL and f.histogram is not None and f.minimum is not None:
            counts, edges = _coarse(f.histogram, f.minimum, float(f.maximum or f.minimum))
            summary = (
                f"mean {f.mean:.4g}, std {f.std:.4g}, min {f.minimum:.4g}, max {f.maximum:.4g}"
            )
            out.append(FeatureHistogram(f.name, f.kind, counts, edges, (), summary))
        else:
            values = tuple(str(v) for v in f.values or ())
            counts = np.array([*f.value_counts, f.other_count], dtype=np.float64)
            out.append(
                FeatureHistogram(f.name, f.kind, counts, None, (*values, "other"),
                                 f"{f.n_unique} distinct values")
            )  # fmt: skip
    return out


@dataclass(frozen=True)
class Downloaded:
    path: Path
    size: int


def download_version(
    client: HubClient,
    version: ModelVersion,
    target: Path,
    token: CancelToken,
    progress: Callable[[object], None],
    workspace: str | None = None,
) -> Downloaded:
    """The version's ONNX file into `target`, digest-verified; `progress((done, total))`."""

    def report(done: int, total: int) -> None:
        token.raise_if_cancelled()  # stops the stream between chunks
        progress((done, total))

    info = client.download_artifact(
        version.artifact_sha256, target, progress=report, workspace=workspace
    )
    return Downloaded(target, info.size)
