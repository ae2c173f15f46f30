"""`crawler bench --frontier`: the scheduler's dedup and frontier alone, at millions of URLs."""

from __future__ import annotations

import random
import time
import tracemalloc

from crawler.fingerprint import fingerprint
from crawler.frontier import LocalFrontier
from crawler.messages import RequestSpec
from crawler.seen import FingerprintSet


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


def bench_frontier(size: int) -> tuple[float, float]:
    """(requests per second through admit, lease and end; bytes per pending request).

    The bytes cover the request object and its place in the queue and the seen set (the
    URL strings are counted too, as a crawl holds them).
    """
    frontier = LocalFrontier(per_host=1_000_000)
    urls = [f"http://host{n % 100}.test/p/{n}" for n in range(size)]
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    requests = [RequestSpec(url=url, fingerprint=fingerprint("GET", url)) for url in urls]
    started = time.perf_counter()
    frontier.admit(requests)
    per_request = (tracemalloc.get_traced_memory()[0] - base) / size
    tracemalloc.stop()
    del requests
    while (lease := frontier.lease(0, 0)) is not None:
        frontier.end(lease.id)
    rate = size / (time.perf_counter() - started)
    return rate, per_request


def main(sizes: list[int]) -> int:
    print("fingerprints   adds/s   lookups/s   bytes/URL (seen set)")
    for size in sizes:
        add_rate, lookup_rate, per_url = bench_seen(size)
        print(f"{size:>12,} {add_rate:>9,.0f} {lookup_rate:>11,.0f} {per_url:>8.1f}")
    size = min(sizes)
    rate, per_request = bench_frontier(size)
    print(
        f"frontier: {size:,} requests admitted, leased and ended at {rate:,.0f}/s; "
        f"{per_request:,.0f} bytes per pending request (held in memory)"
    )
    return 0
