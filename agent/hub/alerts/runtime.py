"""The alerting tasks of one hub replica: the rule evaluator and the delivery queue."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from modelfleet.agent.hub.alerts.delivery import DeliveryQueue, RetryPolicy
from modelfleet.agent.hub.alerts.evaluator import Evaluator
from modelfleet.agent.hub.alerts.outbound import OutboundPolicy, parse_networks
from modelfleet.agent.hub.alerts.senders import Senders
from modelfleet.agent.hub.alerts.series import SeriesSource, SqlSeriesSource
from modelfleet.agent.hub.db import utcnow
from modelfleet.agent.hub.secrets import SecretBox
from modelfleet.agent.hub.state import HubState

log = logging.getLogger(__name__)

# Deliveries are also polled this often, for retries claimed back from a replica that died.
DELIVERY_POLL = 5.0
MIN_SLEEP = 0.02


class AlertsRuntime:
    def __init__(self, hub: HubState, source: SeriesSource | None = None) -> None:
        settings = hub.settings
        if hub.secrets is None:
            raise RuntimeError("the hub state has no secrets keyring (HubState.open loads it)")
        self.policy = OutboundPolicy(parse_networks(settings.outbound_allowed_networks))
        self.senders = Senders(self.policy, settings.outbound_timeout)
        if source is None:
            heartbeats = hub.fleet.heartbeats if hub.fleet is not None else None
            source = SqlSeriesSource(hub.db, heartbeats.last_seen if heartbeats else None)
        self.evaluator = Evaluator(hub.db, source)
        retry = RetryPolicy(
            settings.alert_delivery_attempts, settings.alert_retry_base, settings.alert_retry_max
        )
        lease = settings.outbound_timeout * 3 + 10
        self.queue = DeliveryQueue(hub.db, self.senders, hub.secrets, retry, lease)
        self.secrets: SecretBox = hub.secrets
        self._interval = settings.alert_eval_interval
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start evaluating and delivering on the running loop (idempotent)."""
        if self._tasks:
            return
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._loop("evaluate", self._evaluate), name="alerts-evaluate"),
            loop.create_task(self._loop("deliver", self._deliver), name="alerts-deliver"),
        ]

    def wake_delivery(self) -> None:
        self._wake.set()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.senders.close()

    async def _evaluate(self) -> float:
        queued, next_due = await self.evaluator.evaluate(utcnow())
        if queued:
            self._wake.set()
        return _until(next_due, self._interval)

    async def _deliver(self) -> float:
        self._wake.clear()
        _, next_due = await self.queue.run_due()
        return _until(next_due, DELIVERY_POLL)

    async def _loop(self, name: str, step: Callable[[], Awaitable[float]]) -> None:
        while True:
            try:
                pause = await step()
            except Exception:
                log.exception("[Alerts] %s failed; retrying", name)
                pause = self._interval
            if name == "deliver":
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), pause)
            else:
                await asyncio.sleep(pause)


def _until(when: datetime | None, longest: float) -> float:
    """Seconds to sleep: until `when` (a pending deadline or a retry), at most `longest`."""
    if when is None:
        return longest
    return max(MIN_SLEEP, min(longest, (when - utcnow()).total_seconds()))
