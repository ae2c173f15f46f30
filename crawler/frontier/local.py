"""The embedded frontier: pending requests, the seen set and leases; owned by the scheduler.

A request is leased, never popped: it stays here until its lease ends in a commit, a
failure or a requeue.  Per-host limits and delays are applied as requests are leased: a
request whose host cannot take it now is parked (keeping its place in the order) until it
can.  Beyond a memory limit, pending requests wait on disk.
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable
from pathlib import Path

from crawler.frontier.interface import Lease
from crawler.frontier.seen import FingerprintSet
from crawler.frontier.spill import Spill
from crawler.urls.fingerprint import fingerprint
from crawler.urls.hosts import host_key
from crawler.wire.messages import RequestSpec

_Entry = tuple[int, int, RequestSpec]  # (-priority, arrival, request): heap order


class LocalFrontier:
    """Pending requests by priority, the seen fingerprints, and the leases in flight.

    Within a priority, `depth_first` leases the newest request first (as Scrapy does by
    default): a crawl runs ahead along pagination and keeps many requests in flight.
    Breadth-first leases the oldest first.  With a `delay`, two requests to one host start
    at least `delay` seconds apart (0.5x to 1.5x, jittered), whichever downloader fetches them.

    A request whose host cannot take it now (at its `per_host` limit, too soon after its last
    request, or held until its robots.txt arrives) is parked under its host, keeping its
    place in the order, until the host can.  With `memory_limit` and `spill_dir`, pending
    requests beyond the limit wait on disk (see `crawler.frontier.spill`), the highest
    priority first and in arrival order within a priority.
    """

    REFILL = 1000  # requests brought back from disk at once when they outrank those in memory

    def __init__(
        self,
        per_host: int,
        depth_first: bool = True,
        delay: float = 0.0,
        memory_limit: int = 0,
        spill_dir: Path | None = None,
    ) -> None:
        self.per_host = per_host
        self.depth_first = depth_first
        self.delay = delay
        self.seen = FingerprintSet()
        self.next_id = 1
        self.leases: dict[int, Lease] = {}  # the lease table: who holds what
        # Indexes of the lease table, kept with it: leases per downloader and per parser.
        self._by_downloader: dict[int, int] = {}
        self._by_parser: dict[int, int] = {}
        self.gate: Callable[[RequestSpec], bool] | None = None  # False: hold its host
        self.memory_limit = memory_limit
        self.spill = Spill(spill_dir) if memory_limit and spill_dir is not None else None
        self._heap: list[_Entry] = []
        self._seq = 0
        self._next_lease = 1
        self._parked: dict[str, list[_Entry]] = {}
        self._parked_count = 0
        self._host_active: dict[str, int] = {}
        self._held: set[str] = set()  # hosts whose requests wait (for their robots.txt)
        self._host_delay: dict[str, float] = {}  # per-host delays (Crawl-delay, auto-throttle)
        self._host_ready: dict[str, float] = {}  # host -> when its next request may start
        self._host_paused: dict[str, float] = {}  # host -> until when it asked us to wait
        self._wakeups: list[tuple[float, str]] = []  # (when, host) a delayed host may go on
        self._waking: set[str] = set()  # hosts in _wakeups
        self._later: list[tuple[float, int, RequestSpec]] = []  # retries waiting their turn

    def __repr__(self) -> str:
        return (
            f"<LocalFrontier pending={self.pending_count()} leased={len(self.leases)} "
            f"seen={len(self.seen)}>"
        )

    def pending_count(self) -> int:
        return len(self._heap) + self._parked_count + len(self._later) + self._spilled()

    def _spilled(self) -> int:
        return self.spill.count if self.spill is not None else 0

    def is_idle(self) -> bool:
        """Nothing pending (now, later or on disk) and nothing leased."""
        return not (
            self._heap or self._parked_count or self.leases or self._later or self._spilled()
        )

    def push_later(self, request: RequestSpec, ready_at: float) -> None:
        """Queue a request that may be leased from `ready_at` (time.monotonic) on."""
        self._seq += 1
        heapq.heappush(self._later, (ready_at, self._seq, request))

    def next_ready_at(self) -> float | None:
        """When the earliest delayed request (or delayed host) becomes ready, if any."""
        times = [queue[0][0] for queue in (self._later, self._wakeups) if queue]
        return min(times) if times else None

    def _release_ready(self) -> None:
        now = time.monotonic()
        while self._later and self._later[0][0] <= now:
            self.push(heapq.heappop(self._later)[2])
        while self._wakeups and self._wakeups[0][0] <= now:
            host = heapq.heappop(self._wakeups)[1]
            self._waking.discard(host)
            until = self._host_paused.get(host)
            if until is not None and until <= now:
                del self._host_paused[host]
                self._unpark(host, self.per_host)  # the pause is over: as many as it may take
            else:
                self._unpark(host, 1)

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
        if self.spill is not None and len(self._heap) + self._parked_count >= self.memory_limit:
            self.spill.put(request)
            return
        self._push_memory(request)

    def _push_memory(self, request: RequestSpec) -> None:
        self._seq += 1
        order = -self._seq if self.depth_first else self._seq  # newest first, or oldest first
        heapq.heappush(self._heap, (-request.priority, order, request))

    def lease(self, downloader: int, parser: int) -> Lease | None:
        if self._later or self._wakeups:
            self._release_ready()
        if self.spill is not None and self.spill.count:
            self._refill(self.spill)
        return self._lease(downloader, parser)

    def _refill(self, spill: Spill) -> None:
        """Bring requests back from disk: when memory has room, or when they outrank it."""
        in_memory = len(self._heap) + self._parked_count
        if in_memory <= self.memory_limit // 2:
            taken = spill.take(self.memory_limit - in_memory)
        elif not self._heap or (spill.top_priority() or 0) > -self._heap[0][0]:
            taken = spill.take(self.REFILL)
        else:
            return
        for request in taken:
            self._push_memory(request)

    def _lease(self, downloader: int, parser: int) -> Lease | None:
        """Lease the most urgent request whose host can take it, or None."""
        while self._heap:
            entry = heapq.heappop(self._heap)
            request = entry[2]
            host = host_key(request.url)
            active = self._host_active.get(host, 0)
            if active >= self.per_host or host in self._held:
                self._park(host, entry)
                continue
            if self.gate is not None and not self.gate(request):
                self._held.add(host)
                self._park(host, entry)
                continue
            if self._host_paused and self._paused(host, entry):
                continue
            delay = self._host_delay.get(host, self.delay) if self._host_delay else self.delay
            if delay:
                now = time.monotonic()
                ready_at = self._host_ready.get(host, 0.0)
                if ready_at > now:  # too soon after this host's last request: wait
                    self._park_until(host, entry, ready_at)
                    continue
                self._host_ready[host] = now + delay * random.uniform(0.5, 1.5)
            self._host_active[host] = active + 1
            lease = Lease(self._next_lease, request, host, downloader, parser)
            self._next_lease += 1
            self.leases[lease.id] = lease
            self._by_downloader[downloader] = self._by_downloader.get(downloader, 0) + 1
            self._by_parser[parser] = self._by_parser.get(parser, 0) + 1
            return lease
        return None

    def _paused(self, host: str, entry: _Entry) -> bool:
        """Whether the host is paused (then the request is parked until the pause ends)."""
        until = self._host_paused.get(host)
        if until is None:
            return False
        if until <= time.monotonic():
            del self._host_paused[host]
            return False
        self._park_until(host, entry, until)
        return True

    def _park_until(self, host: str, entry: _Entry, when: float) -> None:
        self._park(host, entry)
        if host not in self._waking:
            self._waking.add(host)
            heapq.heappush(self._wakeups, (when, host))

    def _park(self, host: str, entry: _Entry) -> None:
        heapq.heappush(self._parked.setdefault(host, []), entry)
        self._parked_count += 1

    def _unpark(self, host: str, count: int) -> None:
        """Put up to `count` of a host's parked requests back in line, the most urgent first."""
        parked = self._parked.get(host)
        while parked and count > 0:
            heapq.heappush(self._heap, heapq.heappop(parked))  # its place in the order kept
            self._parked_count -= 1
            count -= 1
        if parked is not None and not parked:
            del self._parked[host]

    def release(self, host: str) -> None:
        """Let a held host's requests be leased again (its robots.txt arrived)."""
        if host in self._held:
            self._held.discard(host)
            self._unpark(host, self.per_host)

    def set_delay(self, host: str, delay: float) -> None:
        """Seconds between two requests to `host` (jittered), instead of the default delay."""
        self._host_delay[host] = delay

    def pause(self, host: str, seconds: float) -> None:
        """Start no request to `host` for `seconds` (it answered 429: too many requests)."""
        until = time.monotonic() + seconds
        if until > self._host_paused.get(host, 0.0):
            self._host_paused[host] = until

    def host_delay(self, host: str) -> float:
        return self._host_delay.get(host, self.delay)

    def end(self, lease_id: int) -> Lease | None:
        """End a lease (committed, failed or revoked); None if it was not current."""
        lease = self.leases.pop(lease_id, None)
        if lease is None:
            return None
        self._by_downloader[lease.downloader] -= 1
        self._by_parser[lease.parser] -= 1
        remaining = self._host_active[lease.host] - 1
        self._unpark(lease.host, 1)
        if remaining:
            self._host_active[lease.host] = remaining
        else:
            del self._host_active[lease.host]
        return lease

    def current(self, lease_id: int) -> Lease | None:
        """The lease, if it is still current."""
        return self.leases.get(lease_id)

    def in_flight(self, downloader: int | None = None, parser: int | None = None) -> int:
        """How many leases a downloader holds, or are destined to a parser."""
        if downloader is not None:
            return self._by_downloader.get(downloader, 0)
        return self._by_parser.get(parser, 0) if parser is not None else len(self.leases)

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

    def clear_pending(self) -> int:
        """Drop everything pending (a limit closes the crawl); return how many there were."""
        count = self.pending_count()
        self._heap.clear()
        self._parked.clear()
        self._parked_count = 0
        self._later.clear()
        self._wakeups.clear()
        self._waking.clear()
        if self.spill is not None:
            self.spill.clear()
        return count

    def close(self) -> None:
        """Remove the files of requests on disk."""
        if self.spill is not None:
            self.spill.close()


def fingerprint_of(request: RequestSpec) -> int:
    """The request's fingerprint, computed if the sender left it unset (0)."""
    if not request.fingerprint:
        request.fingerprint = fingerprint(request.method, request.url, request.body)
    return request.fingerprint
