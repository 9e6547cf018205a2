"""Serving limits and defaults, shared by the REST and gRPC front ends."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-request and per-model limits; every one has a safe default."""

    max_body_bytes: int = 64 * 1024 * 1024
    max_batch_rows: int = 4096
    max_in_flight: int = 256
    request_timeout_s: float = 10.0
