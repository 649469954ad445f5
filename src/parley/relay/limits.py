"""Per-device request rate limits: one token bucket per device key.

The relay calls ``RateLimiter.take(device_key_id)`` once per authenticated
request, after the RFC 9421 signature checked out (so an anonymous flood cannot
drain a member's bucket: it is refused before, with 401). A bucket holds at
most ``burst`` tokens and refills at ``rate`` tokens per second; an empty
bucket answers ``RateLimitError`` (HTTP 429) with the seconds until the next
token as ``Retry-After``. ``rate <= 0`` disables the limit.

In-process only: several relay processes behind a load balancer each keep
their own buckets, so the effective limit is per process (see docs/security.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from parley.errors import LimitError, RateLimitError


class SlowRequestError(LimitError):
    """The client took longer than ``Limits.max_body_seconds`` to send its request body."""

    http_status = 408
    code = "request_timeout"


#: buckets kept before idle ones (full again) are forgotten
MAX_BUCKETS = 100_000


class RateLimiter:
    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = float(rate)
        self.burst = max(1, int(burst))
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill time)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key: str, cost: float = 1.0) -> None:
        """Spend ``cost`` tokens of ``key``'s bucket.

        Raises:
            RateLimitError: the bucket is empty; ``retry_after`` says when it has ``cost`` tokens again.
        """
        if not self.enabled:
            return
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens < cost:
                self._buckets[key] = (tokens, now)
                wait = (cost - tokens) / self.rate
                raise RateLimitError(
                    f"too many requests from this device: at most {self.rate:g} per second "
                    f"(bursts of {self.burst}); retry in {wait:.1f} s", retry_after=wait)
            self._buckets[key] = (tokens - cost, now)
            if len(self._buckets) > MAX_BUCKETS:
                self._forget_full(now)

    def _forget_full(self, now: float) -> None:
        full_after = self.burst / self.rate
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full_after}
