"""Run an Agent on a uvloop event loop (the `serve` command and the quickstart)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

from modelfleet.agent.loop import loop_factory
from modelfleet.agent.node.config import AgentConfig
from modelfleet.agent.node.server import Agent, AgentExtension

_SWITCH_INTERVAL_S = 0.0005


def run_agent(
    config: AgentConfig,
    on_ready: Callable[[Agent], None] | None = None,
    extension: AgentExtension | None = None,
) -> int:
    """Serve until SIGTERM/SIGINT and drain; returns the process exit code."""
    # Background threads (drift, model runs) hold the GIL for up to the switch interval while
    # the event loop waits to run; 5 ms (the default) stalls serving in bursts.
    sys.setswitchinterval(_SWITCH_INTERVAL_S)

    async def main() -> None:
        agent = Agent(config, extension)
        await agent.serve(on_ready)

    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(main())
    return 0
