"""Offline comparison of a reference (data or profile) with a current dataset, in one window."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from modelfleet.drift._config import DriftConfig, DriftError
from modelfleet.drift._evaluate import evaluate
from modelfleet.drift._plan import DriftPlan
from modelfleet.drift._report import DriftReport
from modelfleet.drift._window import DriftWindow
from modelfleet.profile import ProfileSettings, ReferenceProfile, compute_profile


def compare(
    reference: Any,
    current: Any,
    *,
    config: DriftConfig | None = None,
    categorical: Collection[str] = (),
    settings: ProfileSettings | None = None,
    seed: int = 0,
) -> DriftReport:
    """Drift of `current` against `reference` (a ReferenceProfile, a DataFrame or arrays).

    The whole current dataset is one window, with the same engine as live monitoring.
    """
    profile = (
        reference
        if isinstance(reference, ReferenceProfile)
        else compute_profile(reference, categorical=categorical, settings=settings)
    )
    base = config or DriftConfig()
    if hasattr(current, "columns"):
        missing = [
            name for name in profile.feature_names if name not in set(map(str, current.columns))
        ]
        if missing:
            raise DriftError(f"current: missing feature(s) {missing} present in the reference")
    window = DriftWindow(DriftPlan(profile, base), seed=seed)
    window.update(current)
    return evaluate(window)
