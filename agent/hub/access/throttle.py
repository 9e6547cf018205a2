"""Login back-off per username and per source address, kept in this replica's memory."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from modelfleet.agent.hub.errors import Throttled
from modelfleet.agent.hub.settings import HubSettings

_MAX_ENTRIES = 100_000


@dataclass(slots=True)
class _Failures:
    count: int
    last: float
    blocked_until: float


class LoginThrottle:
    """After `throttle_free_attempts` failures a key waits base * 2**n seconds (capped).

    Keys are the submitted username (whether or not such a user exists, so answers never
    reveal that) and the caller's address. Success clears the username's record only, so
    one valid account cannot reset an address that is guessing others' passwords.
    """

    def __init__(self, settings: HubSettings) -> None:
        self._s = settings
        self._entries: dict[str, _Failures] = {}
        self._lock = threading.Lock()

    @staticmethod
    def keys(username: str, address: str) -> tuple[str, str]:
        return f"user:{username.lower()[:128]}", f"addr:{address.rsplit(':', 1)[0]}"

    def check(self, keys: tuple[str, ...], now: float | None = None) -> None:
        """Raise `Throttled` when any key is still waiting."""
        current = time.monotonic() if now is None else now
        wait = 0.0
        with self._lock:
            for key in keys:
                entry = self._entries.get(key)
                if entry is not None:
                    wait = max(wait, entry.blocked_until - current)
        if wait > 0:
            raise Throttled(wait)

    def failed(self, keys: tuple[str, ...], now: float | None = None) -> None:
        current = time.monotonic() if now is None else now
        with self._lock:
            if len(self._entries) >= _MAX_ENTRIES:
                self._forget_old(current)
            for key in keys:
                entry = self._entries.get(key)
                if entry is None or current - entry.last > self._s.throttle_forget_after:
                    entry = self._entries[key] = _Failures(0, current, 0.0)
                entry.count += 1
                entry.last = current
                over = entry.count - self._s.throttle_free_attempts
                if over >= 0:
                    delay = min(self._s.throttle_base_delay * 2**over, self._s.throttle_max_delay)
                    entry.blocked_until = current + delay

    def succeeded(self, user_key: str) -> None:
        with self._lock:
            self._entries.pop(user_key, None)

    def _forget_old(self, now: float) -> None:
        horizon = self._s.throttle_forget_after
        stale = [k for k, e in self._entries.items() if now - e.last > horizon]
        for key in stale:
            del self._entries[key]
        if len(self._entries) >= _MAX_ENTRIES:
            self._entries.clear()
