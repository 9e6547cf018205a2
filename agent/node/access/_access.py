"""Who may call which model: inference keys (file and per-deployment) and their rate limits.

Runs on the event loop (REST and gRPC share it), so the buckets need no lock.
"""

from __future__ import annotations

import hmac
import logging
import math
import time
from collections.abc import Iterable, Sequence

from modelfleet.agent.node.access._keys import KeyEntry, key_id_of
from modelfleet.agent.node.errors import PermissionDenied, RateLimited, Unauthenticated
from modelfleet.fleet.inference_keys import digest_of

log = logging.getLogger(__name__)

BEARER_HINT = "header 'Authorization: Bearer <inference key>'"
_MISSING = "missing or invalid inference key; send " + BEARER_HINT


class TokenBucket:
    """`burst` requests at once, refilled at `rate` per second."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self, now: float) -> float:
        """0.0 when a request may go now; otherwise the seconds until one may."""
        tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if tokens >= 1.0:
            self.tokens = tokens - 1.0
            return 0.0
        self.tokens = tokens
        return (1.0 - tokens) / self.rate


class InferenceAccess:
    """Checks `Authorization: Bearer <key>` against the keys that protect a model.

    A keys file (`serve --inference-keys`) protects every model; keys a deployment carries
    from the hub protect that deployment. Models protected by neither stay open.
    """

    def __init__(self, file_keys: Sequence[KeyEntry] | None = None) -> None:
        self._file = tuple(file_keys) if file_keys is not None else None
        self._deployments: dict[str, tuple[KeyEntry, ...]] = {}
        self._by_id: dict[str, KeyEntry] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self._index()

    @property
    def active(self) -> bool:
        """Whether any model needs a key (False: requests skip every check)."""
        return self._file is not None or bool(self._deployments)

    @property
    def protects_all(self) -> bool:
        return self._file is not None

    def protects(self, model: str) -> bool:
        return self._file is not None or model in self._deployments

    def set_deployment_keys(
        self, deployment: str, keys: Iterable[KeyEntry], protected: bool | None = None
    ) -> None:
        """Keys the hub sent for one deployment. Without keys the deployment is open again,
        unless `protected` (the hub listed keys, none usable: nothing may call it)."""
        scoped = tuple(
            KeyEntry(k.id, k.digest, frozenset((deployment,)), k.rate_per_s, k.burst) for k in keys
        )
        if scoped or protected:
            self._deployments[deployment] = scoped
        else:
            self._deployments.pop(deployment, None)
        self._index()

    def check(self, model: str, authorization: bytes | None) -> None:
        """Raise Unauthenticated, PermissionDenied or RateLimited; return when allowed."""
        if not self.protects(model):
            return
        entry = self._authenticate(authorization)
        if not entry.allows(model):
            raise PermissionDenied(f"inference key '{entry.id}' may not call model '{model}'")
        bucket = self._buckets.get(entry.id)
        if bucket is not None:
            wait = bucket.take(time.monotonic())
            if wait > 0.0:
                raise RateLimited(
                    f"inference key '{entry.id}' is over its rate limit of "
                    f"{bucket.rate:g} requests/s; retry after {wait:.2f} s",
                    wait,
                )

    def _authenticate(self, authorization: bytes | None) -> KeyEntry:
        if authorization is None or authorization[:7].lower() != b"bearer ":
            raise Unauthenticated(_MISSING)
        key = authorization[7:].strip()
        key_id = key_id_of(key)
        entry = self._by_id.get(key_id) if key_id is not None else None
        # Ids are public; the digest comparison is what must not leak timing.
        if entry is None or not hmac.compare_digest(digest_of(key), entry.digest):
            raise Unauthenticated(_MISSING)
        return entry

    def _index(self) -> None:
        """One entry per key id: a key listed by several deployments may call each."""
        merged: dict[str, KeyEntry] = {}
        sources = [*(self._file or ()), *(k for ks in self._deployments.values() for k in ks)]
        for entry in sources:
            known = merged.get(entry.id)
            if known is None:
                merged[entry.id] = entry
            elif known.digest != entry.digest:
                log.warning("inference key id %s is listed with two digests; kept the first",
                            entry.id)  # fmt: skip
            else:
                merged[entry.id] = KeyEntry(
                    known.id, known.digest, known.models | entry.models, known.rate_per_s,
                    known.burst,
                )  # fmt: skip
        buckets: dict[str, TokenBucket] = {}
        for key_id, entry in merged.items():
            if entry.rate_per_s is None:
                continue
            burst = entry.burst or max(1, math.ceil(entry.rate_per_s))
            old = self._buckets.get(key_id)
            same = old is not None and old.rate == entry.rate_per_s and old.burst == burst
            buckets[key_id] = (
                old if same and old is not None else TokenBucket(entry.rate_per_s, burst)
            )
        self._by_id, self._buckets = merged, buckets


def retry_after_header(seconds: float) -> bytes:
    """Retry-After takes whole seconds; round up so a client that obeys it succeeds."""
    return b"%d" % max(1, math.ceil(seconds))
