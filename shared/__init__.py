"""modelfleet: track experiments, register models, deploy and monitor them on servers you own."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from modelfleet._version import __version__

if TYPE_CHECKING:
    from modelfleet.sdk import (
        ActiveRun,
        DeliveryError,
        SenderPolicy,
        active_run,
        connect,
        log_model,
        start_run,
    )

__all__ = [
    "ActiveRun",
    "DeliveryError",
    "SenderPolicy",
    "__version__",
    "active_run",
    "connect",
    "log_model",
    "start_run",
]


def __getattr__(name: str) -> Any:
    # The SDK (gRPC, numpy) loads on first use, so `import modelfleet` stays light.
    if name in __all__ and name != "__version__":
        return getattr(importlib.import_module("modelfleet.sdk"), name)
    raise AttributeError(f"module 'modelfleet' has no attribute {name!r}")
