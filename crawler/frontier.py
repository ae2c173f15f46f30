"""The embedded frontier: pending requests, the seen set and leases; owned by the scheduler.

A request is leased, never popped: it stays here until its lease ends in a commit, a
failure or a requeue.  Per-host limits are applied as requests are leased.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

from crawler.messages import RequestSpec
from crawler.seen import FingerprintSet


@dataclass
class Lease:
    """Who holds a request: the downloader fetching it and the parser that will get it."""

    id: int
    request: RequestSpec
    host: str
    downloader: int
    parser: int
    handed: bool = False


class LocalFrontier:
    """Pending requests by priority, the seen fingerprints, and the leases in flight."""

    def __init__(self, per_host: int) -> None:
        self.per_host = per_host
        self.seen = FingerprintSet()
        self.next_id = 1
        self._heap: list[tuple[int, int, RequestSpec]] = []
        self._seq = 0
        self._parked: dict[str, deque[RequestSpec]] = {}
        self._host_active: dict[str, int] = {}
        self._parked_count = 0
        self.leases: dict[int, Lease] = {}
        self._next_lease = 1

    def __repr__(self) -> str:
        return (
            f"<LocalFrontier pending={self.pending_count()} leased={len(self.leases)} "
            f"seen={len(self.seen)}>"
        )

    def pending_count(self) -> int:
        return len(self._heap) + self._parked_count

    def is_idle(self) -> bool:
        """Nothing pending and nothing leased."""
        return not self._heap and not self._parked_count and not self.leases

    def admit(self, requests: list[RequestSpec]) -> list[RequestSpec]:
        """Add the requests not seen before (all with dont_filter); return them with ids."""
        admitted = []
        for request in requests:
            if not request.dont_filter and not self.seen.add(request.fingerprint):
                continue
            request.id = self.next_id
            self.next_id += 1
            self.push(request)
            admitted.append(request)
        return admitted

    def restore(self, request: RequestSpec) -> None:
        """Mark a journaled request seen (on resume), without queueing it."""
        if not request.dont_filter:
            self.seen.add(request.fingerprint)
        self.next_id = max(self.next_id, request.id + 1)

    def push(self, request: RequestSpec) -> None:
        """Queue a request (new, or back from a revoked or retried lease)."""
        self._seq += 1
        heapq.heappush(self._heap, (-request.priority, self._seq, request))

    def lease(self, downloader: int, parser: int) -> Lease | None:
        """Lease the most urgent request whose host has room, or None."""
        while self._heap:
            _, _, request = heapq.heappop(self._heap)
            host = urlsplit(request.url).netloc
            active = self._host_active.get(host, 0)
            if active >= self.per_host:
                self._parked.setdefault(host, deque()).append(request)
                self._parked_count += 1
                continue
            self._host_active[host] = active + 1
            lease = Lease(self._next_lease, request, host, downloader, parser)
            self._next_lease += 1
            self.leases[lease.id] = lease
            return lease
        return None

    def end(self, lease_id: int) -> Lease | None:
        """End a lease (committed, failed or revoked); None if it was not current."""
        lease = self.leases.pop(lease_id, None)
        if lease is None:
            return None
        remaining = self._host_active[lease.host] - 1
        parked = self._parked.get(lease.host)
        if parked:
            self.push(parked.popleft())
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
            if (downloader is not None and lease.downloader == downloader and not lease.handed)
            or (parser is not None and lease.parser == parser)
        ]

    def drain_pending(self) -> list[RequestSpec]:
        """Remove and return everything pending (when a limit closes the crawl)."""
        requests = [request for _, _, request in self._heap]
        for parked in self._parked.values():
            requests.extend(parked)
        self._heap.clear()
        self._parked.clear()
        self._parked_count = 0
        return requests
