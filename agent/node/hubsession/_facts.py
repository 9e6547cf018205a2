"""Host facts for heartbeats: CPU, memory, operating system."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass

import psutil  # type: ignore[import-untyped]


@dataclass(frozen=True, slots=True)
class HostFacts:
    cpu_percent: float
    memory_rss_bytes: int
    memory_total_bytes: int
    cpu_count: int
    os: str


class HostProbe:
    """CPU percent is measured between two calls, so keep one probe for the process."""

    def __init__(self) -> None:
        self._process = psutil.Process(os.getpid())
        self._process.cpu_percent(None)
        self._os = f"{platform.system()} {platform.release()} ({platform.machine()})"

    def facts(self) -> HostFacts:
        return HostFacts(
            cpu_percent=self._process.cpu_percent(None),
            memory_rss_bytes=self._process.memory_info().rss,
            memory_total_bytes=psutil.virtual_memory().total,
            cpu_count=os.cpu_count() or 1,
            os=self._os,
        )
