"""The notebook SDK: `connect`, `start_run`, the run's logging calls, and `log_model`."""

from modelfleet.sdk._connect import connect
from modelfleet.sdk._model import log_model
from modelfleet.sdk._run import ActiveRun, active_run, start_run
from modelfleet.sdk._sender import DeliveryError, SenderPolicy

__all__ = [
    "ActiveRun",
    "DeliveryError",
    "SenderPolicy",
    "active_run",
    "connect",
    "log_model",
    "start_run",
]
