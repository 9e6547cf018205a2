"""How many CPUs this process may really use: cgroup v2/v1 quota and CPU affinity."""

from __future__ import annotations

import math
import os
from pathlib import Path

_CGROUP_ROOT = Path("/sys/fs/cgroup")


def parse_cpu_max(text: str) -> float | None:
    """cgroup v2 `cpu.max` ("max 100000" or "150000 100000") -> CPUs, None if unlimited."""
    parts = text.split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    quota, period = int(parts[0]), int(parts[1])
    return quota / period if quota > 0 and period > 0 else None


def parse_cfs(quota_text: str, period_text: str) -> float | None:
    """cgroup v1 cfs quota/period -> CPUs, None if unlimited (quota -1)."""
    quota, period = int(quota_text.strip()), int(period_text.strip())
    return quota / period if quota > 0 and period > 0 else None


def _cgroup_paths(proc_cgroup: str) -> dict[str, str]:
    """Controller name -> cgroup path, from /proc/self/cgroup ("" for cgroup v2)."""
    paths: dict[str, str] = {}
    for line in proc_cgroup.splitlines():
        fields = line.split(":", 2)
        if len(fields) == 3:
            for controller in fields[1].split(","):
                paths[controller] = fields[2]
    return paths


def quota_cpus(root: Path = _CGROUP_ROOT, proc_cgroup: str | None = None) -> float | None:
    """The CPU quota of this process's cgroup, or None when there is none."""
    if proc_cgroup is None:
        try:
            proc_cgroup = Path("/proc/self/cgroup").read_text()
        except OSError:
            return None
    paths = _cgroup_paths(proc_cgroup)
    candidates: list[float] = []
    # A container usually sees its own cgroup mounted at the root, so try both places.
    for rel in {paths.get("", "/").lstrip("/"), ""}:
        cpu_max = root / rel / "cpu.max"
        if cpu_max.is_file():
            value = parse_cpu_max(cpu_max.read_text())
            if value is not None:
                candidates.append(value)
    for mount in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        for rel in {paths.get("cpu", "/").lstrip("/"), ""}:
            folder = root / mount / rel
            quota, period = folder / "cpu.cfs_quota_us", folder / "cpu.cfs_period_us"
            if quota.is_file() and period.is_file():
                value = parse_cfs(quota.read_text(), period.read_text())
                if value is not None:
                    candidates.append(value)
    return min(candidates) if candidates else None


def available_cpus() -> int:
    """CPUs to size worker pools by: affinity, capped by the cgroup quota, at least 1."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    quota = quota_cpus()
    if quota is not None:
        count = min(count, math.ceil(quota))
    return max(1, count)
