"""Loaded by Python processes the tests start (PYTHONPATH is set by tests/secret_watch.py).

With MODELFLEET_TEST_DEBUG_LOGS=1, a server's `logging.basicConfig(level=INFO)` becomes
DEBUG, so the secret leak check reads hub and agent logs at their most verbose. Other levels
(a CLI asking for warnings only) are left alone.
"""

from __future__ import annotations

import os

if os.environ.get("MODELFLEET_TEST_DEBUG_LOGS") == "1":
    import logging
    from typing import Any

    _basic_config = logging.basicConfig

    def _debug_basic_config(**kwargs: Any) -> None:
        if kwargs.get("level") in (logging.INFO, "INFO"):
            kwargs["level"] = logging.DEBUG
        _basic_config(**kwargs)

    logging.basicConfig = _debug_basic_config
