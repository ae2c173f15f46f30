"""Rebuilding a run's state from its journal on resume, in bounded memory.

The first pass counts the run's statistics, collects the fingerprints seen (the seen set,
about 12 bytes a URL) and marks the ids of the requests that were finished in a bitmap (one
bit per request ever admitted).  The requests still to do are not kept: `Replayed.pending`
reads the journal a second time and yields each admitted request whose id is not marked,
so the scheduler can push them into its frontier, which keeps what is over its memory limit
on disk.  Resuming a run with 50 million pending requests costs about 6 MB of bitmap, not
the ~450 bytes each request takes as an object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from crawler.frontier.local import fingerprint_of
from crawler.frontier.seen import FingerprintSet
from crawler.journal.records import Closed, Done, Failed, Record, Requeued, Seeded, Skipped
from crawler.journal.stats import CrawlStats
from crawler.wire.messages import RequestSpec


class IdSet:
    """A set of request ids (small positive integers, issued in order) as a bitmap."""

    def __init__(self) -> None:
        self._bits = bytearray(1 << 12)
        self._count = 0

    def add(self, request_id: int) -> bool:
        """Add `request_id`; whether it was new."""
        byte, bit = divmod(request_id, 8)
        if byte >= len(self._bits):
            self._bits.extend(bytes(max(byte + 1, 2 * len(self._bits)) - len(self._bits)))
        mask = 1 << bit
        if self._bits[byte] & mask:
            return False
        self._bits[byte] |= mask
        self._count += 1
        return True

    def __contains__(self, request_id: int) -> bool:
        byte, bit = divmod(request_id, 8)
        return byte < len(self._bits) and bool(self._bits[byte] & (1 << bit))

    def __len__(self) -> int:
        return self._count


@dataclass
class Replayed:
    """What a journal says about a run: where to go on from."""

    consumed: int = 0  # start requests taken so far
    seen: FingerprintSet = field(default_factory=FingerprintSet)
    next_id: int = 1
    closed: bool = False
    pending_count: int = 0
    # The journaled Set-Cookie headers, (jar, url, headers) in order, read from the journal
    # again as this is iterated: the scheduler rebuilds its cookie jars from them.
    cookies: Iterable[tuple[Any, str, list[str]]] = ()
    # The requests still to do, read from the journal again as this is iterated (once).
    pending: Iterable[RequestSpec] = ()


def replay(
    records: Iterable[Record],
    stats: CrawlStats,
    again: Callable[[], Iterable[Record]] | None = None,
) -> Replayed:
    """Rebuild the run's state from `records`; `again()` gives the same records once more,
    for `Replayed.pending` to read the pending requests from."""
    state = Replayed()
    finished = IdSet()
    requeued: dict[int, tuple[int, int]] = {}  # attempts and crashes of retried requests
    admitted = 0
    has_cookies = False
    for record in records:
        stats.replay(record)
        match record:
            case Seeded():
                state.consumed = record.consumed
                admitted += _admit(record.requests, state)
            case Done():
                finished.add(record.id)
                requeued.pop(record.id, None)
                admitted += _admit(record.requests, state)
                has_cookies = has_cookies or bool(record.cookies)
            case Failed():
                finished.add(record.id)
                requeued.pop(record.id, None)
                admitted += _admit(record.requests, state)  # what its errback found
            case Skipped():
                finished.add(record.id)
                requeued.pop(record.id, None)
            case Requeued() if record.id not in finished:
                requeued[record.id] = (record.attempts, record.crashes)
            case Closed():
                state.closed = True
    state.pending_count = admitted - len(finished)
    if again is not None and state.pending_count:
        state.pending = _pending(again, finished, requeued)
    if again is not None and has_cookies:
        state.cookies = _cookies(again)
    return state


def _cookies(again: Callable[[], Iterable[Record]]) -> Iterator[tuple[Any, str, list[str]]]:
    for record in again():
        if isinstance(record, Done) and record.cookies:
            yield record.jar, record.cookie_url, record.cookies


def _admit(requests: list[RequestSpec], state: Replayed) -> int:
    for request in requests:
        if not request.dont_filter:
            state.seen.add(request.fingerprint or fingerprint_of(request))
        if request.id >= state.next_id:
            state.next_id = request.id + 1
    return len(requests)


def _pending(
    again: Callable[[], Iterable[Record]], finished: IdSet, requeued: dict[int, tuple[int, int]]
) -> Iterator[RequestSpec]:
    for record in again():
        if isinstance(record, Seeded | Done | Failed):
            for request in record.requests:
                if request.id not in finished:
                    if request.id in requeued:
                        request.attempts, request.crashes = requeued[request.id]
                    yield request
