"""Per-key rate limits: a token bucket per API key holding ``rate_limit_per_min`` requests, refilled evenly
over a minute. A request finding the bucket empty is answered 429 with ``Retry-After`` (whole seconds until a
token is back). The buckets live in each API process (a limit is per process when several serve)."""

from __future__ import annotations

import math
import threading
import time

from vidstruct.service.errors import RateLimitedError


class RateLimiter:
    def __init__(self, clock: object = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}  # key id -> (tokens, when)
        self._lock = threading.Lock()

    def check(self, key_id: int, per_minute: int | None) -> None:
        """Take one token of key ``key_id``; RateLimitedError when none is left (no limit: always fine)."""
        if not per_minute:
            return
        rate = per_minute / 60.0
        with self._lock:
            now = self._clock()  # type: ignore[operator]
            tokens, when = self._buckets.get(key_id, (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - when) * rate)
            if tokens < 1.0:
                self._buckets[key_id] = (tokens, now)
                retry = max(1, math.ceil((1.0 - tokens) / rate))
                raise RateLimitedError(f"rate limit of {per_minute} requests per minute reached", retry_after=retry)
            self._buckets[key_id] = (tokens - 1.0, now)
