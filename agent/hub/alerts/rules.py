"""Alert rules: the checked spec, the condition with hysteresis, and alert fingerprints."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from modelfleet.agent.hub import validation
from modelfleet.agent.hub.errors import InvalidArgument

# Series read from the roll-ups' own columns; anything else matching the pattern is a key
# of their `extra` map (drift_share, accuracy, ...).
ROLLUP_SERIES = ("latency_p50", "latency_p95", "latency_p99", "error_rate", "requests")
AGENT_SERIES = "agent_silent_seconds"
_EXTRA_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
COMPARATORS = (">", ">=", "<", "<=")
DEFAULT_WINDOW = 60
MAX_SECONDS = 7 * 86400
# Hysteresis when no resolve threshold is given: 5% of the threshold on the safe side.
DEFAULT_MARGIN = 0.05
SEVERITIES = {1: "info", 2: "warning", 3: "critical"}


@dataclass(frozen=True, slots=True)
class RuleSpec:
    name: str
    description: str
    series: str
    environment: str
    deployment: str
    agent_id: str
    comparator: str
    threshold: float
    resolve_threshold: float | None
    for_seconds: int
    window_seconds: int
    min_samples: int
    severity: int
    disabled: bool

    @property
    def is_agent_rule(self) -> bool:
        return self.series == AGENT_SERIES

    @property
    def effective_resolve_threshold(self) -> float:
        if self.resolve_threshold is not None:
            return self.resolve_threshold
        margin = abs(self.threshold) * DEFAULT_MARGIN
        return self.threshold - margin if self.comparator[0] == ">" else self.threshold + margin

    def breached(self, value: float) -> bool:
        """The firing condition."""
        return _compare(value, self.comparator, self.threshold)

    def recovered(self, value: float) -> bool:
        """A firing alert resolves only once the value is past the resolve threshold."""
        return not _compare(value, self.comparator, self.effective_resolve_threshold)


def _compare(value: float, comparator: str, threshold: float) -> bool:
    if comparator == ">":
        return value > threshold
    if comparator == ">=":
        return value >= threshold
    if comparator == "<":
        return value < threshold
    return value <= threshold


def check_spec(
    *,
    name: str,
    description: str,
    series: str,
    environment: str,
    deployment: str,
    agent_id: str,
    comparator: str,
    threshold: float,
    resolve_threshold: float | None,
    for_seconds: int,
    window_seconds: int,
    min_samples: int,
    severity: int,
    disabled: bool = False,
) -> RuleSpec:
    """A RuleSpec from request fields; InvalidArgument names the first bad field."""
    validation.name("spec.name", name)
    validation.text("spec.description", description, 1024)
    if series != AGENT_SERIES and series not in ROLLUP_SERIES and not _EXTRA_KEY.fullmatch(series):
        raise InvalidArgument(
            "spec.series",
            f"one of {', '.join((*ROLLUP_SERIES, AGENT_SERIES))} or an extra series key "
            "(lowercase letters, digits, '_'), e.g. drift_share or accuracy",
            got=repr(series[:64]) if series else "empty",
        )
    if environment:
        validation.name("spec.scope.environment", environment)
    if series == AGENT_SERIES:
        if deployment:
            raise InvalidArgument(
                "spec.scope.deployment", f"empty for {AGENT_SERIES} (scope by agent_id)"
            )
        if agent_id and not re.fullmatch(r"[0-9a-f]{32}", agent_id):
            raise InvalidArgument("spec.scope.agent_id", "an agent id (32 hex digits) or empty")
    else:
        if agent_id:
            raise InvalidArgument("spec.scope.agent_id", f"empty except for {AGENT_SERIES}")
        if deployment:
            validation.name("spec.scope.deployment", deployment)
    if comparator not in COMPARATORS:
        raise InvalidArgument("spec.comparator", "GREATER, GREATER_OR_EQUAL, LESS or LESS_OR_EQUAL")
    for field, value in (
        ("spec.threshold", threshold),
        ("spec.resolve_threshold", resolve_threshold),
    ):
        if value is not None and not math.isfinite(value):
            raise InvalidArgument(field, "a finite number", got=str(value))
    spec = RuleSpec(
        name=name,
        description=description,
        series=series,
        environment=environment,
        deployment=deployment,
        agent_id=agent_id,
        comparator=comparator,
        threshold=threshold,
        resolve_threshold=resolve_threshold,
        for_seconds=for_seconds,
        window_seconds=window_seconds or DEFAULT_WINDOW,
        min_samples=min_samples,
        severity=severity or 2,
        disabled=disabled,
    )
    if resolve_threshold is not None and spec.breached(resolve_threshold):
        raise InvalidArgument(
            "spec.resolve_threshold",
            f"a value on the safe side of the threshold ({comparator} {threshold} must not "
            "hold for it), so a firing alert can resolve",
            got=str(resolve_threshold),
        )
    if for_seconds > MAX_SECONDS:
        raise InvalidArgument("spec.for_seconds", f"at most {MAX_SECONDS} (7 days)")
    if not 1 <= spec.window_seconds <= MAX_SECONDS:
        raise InvalidArgument("spec.window_seconds", f"1 to {MAX_SECONDS} seconds, or 0 for 60")
    if severity not in (0, *SEVERITIES):
        raise InvalidArgument("spec.severity", "INFO, WARNING or CRITICAL", got=str(severity))
    return spec


def fingerprint(rule_id: str, labels: Mapping[str, str]) -> str:
    """One alert per (rule, label set): the same labels always give the same alert."""
    doc = orjson.dumps({"rule": rule_id, "labels": dict(labels)}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(doc).hexdigest()
