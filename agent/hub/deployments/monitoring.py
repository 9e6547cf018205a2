"""A deployment's monitoring settings: validated on the hub, applied by the agents.

The document is a JSON object with any of `drift` (the drift engine's `DriftConfig` fields:
window size, methods, thresholds, per-feature overrides), `prediction` and `score` (the model
outputs judged as the prediction and as the scores). The hub checks it with the same code the
agent uses, so a setting the agent would refuse never reaches it.
"""

from __future__ import annotations

from typing import Any

import orjson

from modelfleet.agent.hub.errors import InvalidArgument

MAX_BYTES = 64 * 1024
KEYS = ("drift", "prediction", "score")


def parse(field: str, text: str) -> dict[str, Any]:
    """The settings in `text` ({} for "" or "{}"); InvalidArgument naming the bad part."""
    if not text.strip():
        return {}
    if len(text.encode()) > MAX_BYTES:
        raise InvalidArgument(field, f"a JSON object of at most {MAX_BYTES} bytes")
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(field, "a JSON object", got=str(exc)) from None
    if not isinstance(document, dict):
        raise InvalidArgument(field, "a JSON object with drift, prediction or score")
    unknown = sorted(set(document) - set(KEYS))
    if unknown:
        raise InvalidArgument(f"{field}.{unknown[0]}", f"one of {', '.join(KEYS)}")
    for key in ("prediction", "score"):
        value = document.get(key)
        if value is not None and (not isinstance(value, str) or not 0 < len(value) <= 128):
            raise InvalidArgument(f"{field}.{key}", "the name of a model output")
    drift = document.get("drift")
    if drift is not None:
        if not isinstance(drift, dict):
            raise InvalidArgument(f"{field}.drift", "an object of drift settings")
        from modelfleet.drift import DriftConfig, DriftError  # the engine, only when used

        try:
            DriftConfig.from_dict(drift)
        except DriftError as exc:
            raise InvalidArgument(f"{field}.drift", "valid drift settings", got=str(exc)) from None
    return dict(document)


def to_json(settings: dict[str, Any]) -> str:
    return orjson.dumps(settings).decode() if settings else ""
