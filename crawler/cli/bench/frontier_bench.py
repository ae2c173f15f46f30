"""`crawler bench --frontier`: the scheduler's dedup and frontier alone, at millions of URLs."""

from __future__ import annotations

import os
import random
import tempfile
import time
from pathlib import Path

from crawler.frontier.local import LocalFrontier
from crawler.frontier.seen import FingerprintSet
from crawler.wire.messages import RequestSpec


def bench_seen(size: int, seed: int = 1) -> tuple[float, float, float]:
    """(adds per second, lookups per second, bytes per fingerprint) for `size` fingerprints."""
    rng = random.Random(seed)
    values = [rng.getrandbits(64) or 1 for _ in range(size)]
    seen = FingerprintSet()
    started = time.perf_counter()
    for value in values:
        seen.add(value)
    add_rate = size / (time.perf_counter() - started)
    started = time.perf_counter()
    hits = sum(1 for value in values if value in seen)
    lookup_rate = size / (time.perf_counter() - started)
    assert hits == len(seen)
    return add_rate, lookup_rate, seen.nbytes / len(seen)


def bench_frontier(size: int, memory_limit: int = 100_000) -> tuple[float, float, int]:
    """(requests per second through admit, lease and end; bytes of memory per URL; most
    requests on disk at once) for `size` pending requests, with the frontier's memory limit.

    All `size` requests are pending at once (admitted before any is leased): the worst case
    for memory.  The bytes are the growth of the process's resident memory, the seen set
    included, divided by `size`.
    """
    rng = random.Random(2)
    with tempfile.TemporaryDirectory(prefix="crawler-frontier-") as folder:
        frontier = LocalFrontier(
            per_host=1_000_000,
            depth_first=False,
            memory_limit=memory_limit,
            spill_dir=Path(folder) / "spill",
        )
        before = _rss()
        started = time.perf_counter()
        for first in range(0, size, 10_000):
            frontier.admit(
                [
                    RequestSpec(
                        url=f"http://host{n % 100}.test/p/{n}", fingerprint=rng.getrandbits(64) or 1
                    )
                    for n in range(first, min(size, first + 10_000))
                ]
            )
        peak = _rss()
        on_disk = frontier.spill.count if frontier.spill is not None else 0
        leased = 0
        while (lease := frontier.lease(0, 0)) is not None:
            frontier.end(lease.id)
            leased += 1
        assert leased == size and frontier.is_idle()
        rate = size / (time.perf_counter() - started)
        frontier.close()
    return rate, max(0, peak - before) / size, on_disk


def _rss() -> int:
    """This process's resident memory in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main(sizes: list[int]) -> int:
    print("frontier      requests/s   bytes/URL   on disk at peak   (admit all, then lease all)")
    for size in sizes:
        rate, per_url, on_disk = bench_frontier(size)
        print(f"{size:>12,} {rate:>11,.0f} {per_url:>11.1f} {on_disk:>17,}")
    print("fingerprints   adds/s   lookups/s   bytes/URL (seen set)")
    for size in sizes:
        add_rate, lookup_rate, per_url = bench_seen(size)
        print(f"{size:>12,} {add_rate:>9,.0f} {lookup_rate:>11,.0f} {per_url:>8.1f}")
    return 0
