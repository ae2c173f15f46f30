"""Auto-throttle: each host's delay follows its latency, like Scrapy's AutoThrottle.

On each response of a host, with latency L and target concurrency N:

- target = L / N (one request every L/N seconds keeps N in flight);
- new delay = max(target, (old delay + target) / 2): it rises to the target at once and
  falls halfway towards it;
- a non-2xx status, or an error (status 0), may raise the delay but never lower it
  (error pages are fast, and would otherwise speed the crawl up against a failing host);
- 429 and 503 double the delay (at least to `start_delay`);
- the delay stays within [floor, max_delay], where the floor is `base_delay` or the host's
  robots.txt Crawl-delay (`set_floor`); a floor above max_delay wins over it.

Pure logic: no I/O, no clock.  O(1) per call; one entry per host.
"""

from __future__ import annotations

from crawler.settings.schema import ThrottleSettings

_BACKOFF_STATUSES = frozenset({429, 503})
_MIN_BACKOFF = 0.1  # seconds: the least delay after a 429/503, even with start_delay = 0


class AutoThrottle:
    """Per-host delays adapted to latency and errors; see the module docstring."""

    def __init__(self, settings: ThrottleSettings, base_delay: float = 0.0) -> None:
        self.target_concurrency = settings.target_concurrency
        self.start_delay = settings.start_delay
        self.max_delay = settings.max_delay
        self.base_delay = max(0.0, base_delay)
        self._delays: dict[str, float] = {}
        self._floors: dict[str, float] = {}

    def floor(self, host: str) -> float:
        """The least delay of `host`: `base_delay`, or its Crawl-delay if larger."""
        return self._floors.get(host, self.base_delay)

    def set_floor(self, host: str, seconds: float) -> None:
        """Keep the delay of `host` at `seconds` or more (and `base_delay` or more)."""
        floor = max(self.base_delay, seconds)
        if floor == self.base_delay:
            self._floors.pop(host, None)
        else:
            self._floors[host] = floor
        if host in self._delays:
            self._delays[host] = self._clamp(host, self._delays[host])

    def delay(self, host: str) -> float:
        """The current delay of `host`: `start_delay` (within bounds) until it has responded."""
        delay = self._delays.get(host)
        return self._clamp(host, self.start_delay) if delay is None else delay

    def observe(self, host: str, latency: float, status: int) -> float:
        """Adjust the delay of `host` after a response (status 0: an error or timeout).

        `latency` is the seconds from sending the request to receiving the response headers
        (or to the error).  Returns the new delay.
        """
        old = self.delay(host)
        latency = latency if latency >= 0.0 else 0.0  # also NaN
        target = latency / self.target_concurrency
        new = max(target, (old + target) / 2.0)
        if status in _BACKOFF_STATUSES:
            new = max(new, 2.0 * old, self.start_delay, _MIN_BACKOFF)
        elif not 200 <= status < 300:
            new = max(new, old)
        new = self._clamp(host, new)
        self._delays[host] = new
        return new

    def _clamp(self, host: str, delay: float) -> float:
        return max(self.floor(host), min(self.max_delay, delay))
