"""The embedded frontier: pending requests, the seen set and leases; owned by the scheduler.

A request is leased, never popped: it stays here until its lease ends in a commit, a
failure or a requeue.  Per-host limits are applied as requests are leased: a request whose
host is at its limit is parked (keeping its place in the order) until a lease of that host ends.
"""

from __future__ import annotations

import functools
import heapq
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from crawler.fingerprint import fingerprint
from crawler.messages import RequestSpec
from crawler.seen import FingerprintSet

_Entry = tuple[int, int, RequestSpec]  # (-priority, arrival, request): heap order
_DEFAULT_PORTS = {"http": 80, "https": 443}


def host_key(url: str) -> str:
    """The host a per-host limit counts: lower-case name, and the port unless the default."""
    scheme, _, rest = url.partition("://")
    return _host_key(scheme, rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0])


@functools.lru_cache(maxsize=65536)
def _host_key(scheme: str, netloc: str) -> str:
    parts = urlsplit(f"{scheme}://{netloc}/")
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None or _DEFAULT_PORTS.get(parts.scheme.lower()) == port:
        return host
    return f"{host}:{port}"


@dataclass
class Lease:
    """Who holds a request: the downloader fetching it and the parser that will get it."""

    id: int
    request: RequestSpec
    host: str
    downloader: int
    parser: int
    since: float = field(default_factory=time.monotonic)


class LocalFrontier:
    """Pending requests by priority, the seen fingerprints, and the leases in flight.

    Within a priority, `depth_first` leases the newest request first (as Scrapy does by
    default): a crawl runs ahead along pagination and keeps many requests in flight.
    Breadth-first leases the oldest first.  With a `delay`, two requests to one host start
    at least `delay` seconds apart (0.5x to 1.5x, jittered), whichever downloader fetches them.
    """

    def __init__(self, per_host: int, depth_first: bool = True, delay: float = 0.0) -> None:
        self.per_host = per_host
        self.depth_first = depth_first
        self.delay = delay
        self._host_ready: dict[str, float] = {}  # host -> when its next request may start
        self.seen = FingerprintSet()
        self.next_id = 1
        self._heap: list[_Entry] = []
        self._seq = 0
        self._parked: dict[str, list[_Entry]] = {}
        self._host_active: dict[str, int] = {}
        self._parked_count = 0
        self.leases: dict[int, Lease] = {}
        self._next_lease = 1
        self._later: list[tuple[float, int, RequestSpec]] = []  # retries waiting their turn
        self._held: set[str] = set()  # hosts whose requests wait (for their robots.txt)
        self._host_delay: dict[str, float] = {}  # per-host delays (Crawl-delay, auto-throttle)
        self.gate: Callable[[RequestSpec], bool] | None = None  # False: hold its host

    def __repr__(self) -> str:
        return (
            f"<LocalFrontier pending={self.pending_count()} leased={len(self.leases)} "
            f"seen={len(self.seen)}>"
        )

    def pending_count(self) -> int:
        return len(self._heap) + self._parked_count + len(self._later)

    def is_idle(self) -> bool:
        """Nothing pending (now or later) and nothing leased."""
        return not self._heap and not self._parked_count and not self.leases and not self._later

    def push_later(self, request: RequestSpec, ready_at: float) -> None:
        """Queue a request that may be leased from `ready_at` (time.monotonic) on."""
        self._seq += 1
        heapq.heappush(self._later, (ready_at, self._seq, request))

    def next_ready_at(self) -> float | None:
        """When the earliest delayed request becomes ready, if any."""
        return self._later[0][0] if self._later else None

    def _release_ready(self) -> None:
        now = time.monotonic()
        while self._later and self._later[0][0] <= now:
            self.push(heapq.heappop(self._later)[2])

    def admit(self, requests: list[RequestSpec]) -> list[RequestSpec]:
        """Add the requests not seen before (all with dont_filter); return them with ids."""
        admitted = []
        for request in requests:
            if not request.dont_filter and not self.seen.add(fingerprint_of(request)):
                continue
            request.id = self.next_id
            self.next_id += 1
            self.push(request)
            admitted.append(request)
        return admitted

    def push(self, request: RequestSpec) -> None:
        """Queue a request (new, or back from a revoked or retried lease)."""
        self._seq += 1
        order = -self._seq if self.depth_first else self._seq  # newest first, or oldest first
        heapq.heappush(self._heap, (-request.priority, order, request))

    def lease(self, downloader: int, parser: int) -> Lease | None:
        if self._later:
            self._release_ready()
        return self._lease(downloader, parser)

    def _lease(self, downloader: int, parser: int) -> Lease | None:
        """Lease the most urgent request whose host has room, or None."""
        while self._heap:
            entry = heapq.heappop(self._heap)
            request = entry[2]
            host = host_key(request.url)
            active = self._host_active.get(host, 0)
            if active >= self.per_host or host in self._held:
                heapq.heappush(self._parked.setdefault(host, []), entry)
                self._parked_count += 1
                continue
            if self.gate is not None and not self.gate(request):
                self._held.add(host)
                heapq.heappush(self._parked.setdefault(host, []), entry)
                self._parked_count += 1
                continue
            delay = self._host_delay.get(host, self.delay) if self._host_delay else self.delay
            if delay:
                now = time.monotonic()
                ready_at = self._host_ready.get(host, 0.0)
                if ready_at > now:  # too soon after this host's last request: wait
                    self.push_later(request, ready_at)
                    continue
                self._host_ready[host] = now + delay * random.uniform(0.5, 1.5)
            self._host_active[host] = active + 1
            lease = Lease(self._next_lease, request, host, downloader, parser)
            self._next_lease += 1
            self.leases[lease.id] = lease
            return lease
        return None

    def release(self, host: str) -> None:
        """Let a held host's requests be leased again (its robots.txt arrived)."""
        if host not in self._held:
            return
        self._held.discard(host)
        parked = self._parked.pop(host, [])
        self._parked_count -= len(parked)
        for entry in parked:
            heapq.heappush(self._heap, entry)

    def set_delay(self, host: str, delay: float) -> None:
        """Seconds between two requests to `host` (jittered), instead of the default delay."""
        self._host_delay[host] = delay

    def host_delay(self, host: str) -> float:
        return self._host_delay.get(host, self.delay)

    def end(self, lease_id: int) -> Lease | None:
        """End a lease (committed, failed or revoked); None if it was not current."""
        lease = self.leases.pop(lease_id, None)
        if lease is None:
            return None
        remaining = self._host_active[lease.host] - 1
        parked = self._parked.get(lease.host)
        if parked:
            heapq.heappush(self._heap, heapq.heappop(parked))  # its place in the order kept
            self._parked_count -= 1
            if not parked:
                del self._parked[lease.host]
        if remaining:
            self._host_active[lease.host] = remaining
        else:
            del self._host_active[lease.host]
        return lease

    def held_by(self, downloader: int | None = None, parser: int | None = None) -> list[Lease]:
        """Leases held by a downloader or destined to a parser."""
        return [
            lease
            for lease in self.leases.values()
            if (downloader is not None and lease.downloader == downloader)
            or (parser is not None and lease.parser == parser)
        ]

    def expired(self, now: float, limit: float) -> list[Lease]:
        """Leases without progress for `limit` seconds (the holder lost them)."""
        return [lease for lease in self.leases.values() if now - lease.since > limit]

    def drain_pending(self) -> list[RequestSpec]:
        """Remove and return everything pending, in lease order (when a limit closes the crawl)."""
        entries = list(self._heap)
        for parked in self._parked.values():
            entries.extend(parked)
        requests = [request for _, _, request in sorted(entries, key=lambda e: e[:2])]
        requests.extend(request for _, _, request in sorted(self._later))
        self._heap.clear()
        self._parked.clear()
        self._parked_count = 0
        self._later.clear()
        return requests


def fingerprint_of(request: RequestSpec) -> int:
    """The request's fingerprint, computed if the sender left it unset (0)."""
    if not request.fingerprint:
        request.fingerprint = fingerprint(request.method, request.url, request.body)
    return request.fingerprint
