"""Per-host backoff: a host that answers 429 or 503 gets no new request for a while.

A retry waits for its own request only; without this, the other requests to a host that
said "too many requests" would go on at full speed.  The n-th such answer in a row from a
host pauses it for `base * 2**(n-1)` seconds, jittered 0.5x to 1.5x, or for its
Retry-After if that is longer, and never for more than `cap`.  A page fetched from the
host resets the count.

Pure logic: no I/O, no clock.  One entry per host that is backing off.
"""

from __future__ import annotations

import random


class HostBackoff:
    """Consecutive "slow down" answers per host, and how long each one pauses the host."""

    def __init__(self, base: float, cap: float) -> None:
        self.base = base
        self.cap = cap
        self.strikes: dict[str, int] = {}

    def slowed(self, host: str, retry_after: float) -> float:
        """Seconds to pause `host` after a 429 or 503 (with `retry_after`, 0 if none)."""
        strikes = self.strikes[host] = self.strikes.get(host, 0) + 1
        backoff = self.base * 2.0 ** min(strikes - 1, 30) * random.uniform(0.5, 1.5)
        return min(max(backoff, retry_after), self.cap)

    def recovered(self, host: str) -> None:
        """A page came from `host`: its next 429 starts the backoff again from `base`."""
        self.strikes.pop(host, None)
