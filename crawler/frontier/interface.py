"""The frontier interface: what the scheduler asks of a frontier backend.

The scheduler never reaches into a backend's structures; it uses these operations only.
`LocalFrontier` (in the scheduler's memory, spilling to disk) is the embedded backend.

The lease table is the one record of who holds what: a request is leased, never popped,
and stays in the frontier until its lease ends (a commit, a failure or a requeue).  The
per-worker counts the scheduler balances load by (`in_flight`) are read from it, never
kept beside it.  Ending a lease that is no longer current returns None: that is the
fencing that refuses the late acknowledgement of a revoked lease.

Today every operation is a plain call, as the embedded backend needs.  A backend that lives
in another process (Redis) needs them asynchronous and batched; that change of shape is
the next step (see the README's "How it works").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from crawler.frontier.seen import FingerprintSet
from crawler.wire.messages import RequestSpec


@dataclass
class Lease:
    """Who holds a request: the downloader fetching it and the parser that will get it."""

    id: int
    request: RequestSpec
    host: str
    downloader: int
    parser: int
    since: float = field(default_factory=time.monotonic)


class Frontier(Protocol):
    """Pending requests, the seen set, the leases and the per-host politeness state."""

    seen: FingerprintSet  # fingerprints of every request admitted
    next_id: int  # the id the next admitted request gets
    gate: Callable[[RequestSpec], bool] | None  # False: hold the request's host for now

    # ---- admission and requeueing
    def admit(self, requests: list[RequestSpec]) -> list[RequestSpec]:
        """Add the requests not seen before (all with dont_filter); return them with ids."""
        ...

    def push(self, request: RequestSpec) -> None:
        """Queue a request again (back from a revoked lease, or to run its errback)."""
        ...

    def push_later(self, request: RequestSpec, ready_at: float) -> None:
        """Queue a retry that may be leased from `ready_at` (time.monotonic) on."""
        ...

    # ---- leases
    def lease(self, downloader: int, parser: int) -> Lease | None:
        """Lease the most urgent request whose host can take it now, or None."""
        ...

    def current(self, lease_id: int) -> Lease | None:
        """The lease, if it is still current."""
        ...

    def end(self, lease_id: int) -> Lease | None:
        """End a lease (committed, failed or revoked); None if it was not current."""
        ...

    def held_by(self, downloader: int | None = None, parser: int | None = None) -> list[Lease]:
        """The leases a downloader holds or that are destined to a parser (it died)."""
        ...

    def in_flight(self, downloader: int | None = None, parser: int | None = None) -> int:
        """How many leases a downloader holds or a parser will get; all leases without one."""
        ...

    def expired(self, now: float, limit: float) -> list[Lease]:
        """Leases without progress for `limit` seconds (their holder lost them)."""
        ...

    # ---- politeness
    def release(self, host: str) -> None:
        """Let a held host's requests be leased (its robots.txt arrived)."""
        ...

    def set_delay(self, host: str, delay: float) -> None:
        """Seconds between two requests to `host` (jittered), instead of the default."""
        ...

    def host_delay(self, host: str) -> float:
        """The delay between two requests to `host`."""
        ...

    def pause(self, host: str, seconds: float) -> None:
        """Start no request to `host` for `seconds` (it asked us to slow down)."""
        ...

    # ---- counts and the end
    def pending_count(self) -> int:
        """Requests waiting: now, later (retries) or on disk."""
        ...

    def is_idle(self) -> bool:
        """Nothing pending and nothing leased."""
        ...

    def next_ready_at(self) -> float | None:
        """When the earliest delayed request or host becomes ready, if any."""
        ...

    def clear_pending(self) -> int:
        """Drop everything pending (a limit closed the crawl); return how many there were."""
        ...

    def close(self) -> None:
        """Release what the backend holds (files, connections)."""
        ...
