"""The event loop the agent and the hub run on: uvloop where it exists."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory (a request's hand-offs between gRPC, the loop and database
    threads cost about half as much), or None for asyncio's default loop."""
    try:
        import uvloop
    except ImportError:  # Windows has no uvloop; the default loop works, only slower
        logging.getLogger(__name__).info("uvloop unavailable; using the default event loop")
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory
