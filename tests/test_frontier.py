"""frontier.py: admission and dedup, lease order, per-host limits, leases and draining."""

from __future__ import annotations

import time
from pathlib import Path

from crawler.frontier.local import LocalFrontier
from crawler.urls.fingerprint import fingerprint
from crawler.urls.hosts import host_key
from crawler.wire.messages import RequestSpec


def spec(
    url: str, priority: int = 0, dont_filter: bool = False, method: str = "GET"
) -> RequestSpec:
    request = RequestSpec(url, method=method, priority=priority, dont_filter=dont_filter)
    if not dont_filter:
        request.fingerprint = fingerprint(method, url)
    return request


def lease_all(frontier: LocalFrontier) -> list[str]:
    urls = []
    while (lease := frontier.lease(0, 0)) is not None:
        urls.append(lease.request.url)
    return urls


# ---- admission ------------------------------------------------------------------------


def test_admit_assigns_increasing_ids() -> None:
    frontier = LocalFrontier(per_host=10, depth_first=False)
    admitted = frontier.admit([spec("http://a.com/1"), spec("http://a.com/2")])
    assert [r.id for r in admitted] == [1, 2]
    admitted = frontier.admit([spec("http://a.com/3")])
    assert [r.id for r in admitted] == [3]
    assert frontier.next_id == 4
    assert frontier.pending_count() == 3


def test_admit_drops_seen_fingerprints() -> None:
    frontier = LocalFrontier(per_host=10, depth_first=False)
    assert len(frontier.admit([spec("http://a.com/1")])) == 1
    again = frontier.admit(
        [spec("http://a.com/1"), spec("http://A.com:80/1#x"), spec("http://a.com/2")]
    )
    assert [r.url for r in again] == ["http://a.com/2"]
    assert [r.id for r in again] == [2]  # no id spent on a duplicate
    assert frontier.pending_count() == 2
    assert len(frontier.seen) == 2


def test_duplicates_within_one_batch() -> None:
    frontier = LocalFrontier(per_host=10, depth_first=False)
    admitted = frontier.admit([spec("http://a.com/?a=1&b=2"), spec("http://a.com/?b=2&a=1")])
    assert len(admitted) == 1


def test_same_url_other_method_is_not_a_duplicate() -> None:
    frontier = LocalFrontier(per_host=10, depth_first=False)
    admitted = frontier.admit([spec("http://a.com/"), spec("http://a.com/", method="POST")])
    assert len(admitted) == 2


def test_dont_filter_is_always_admitted_and_not_marked_seen() -> None:
    frontier = LocalFrontier(per_host=10, depth_first=False)
    frontier.admit([spec("http://a.com/1")])
    admitted = frontier.admit(
        [spec("http://a.com/1", dont_filter=True), spec("http://a.com/1", dont_filter=True)]
    )
    assert [r.id for r in admitted] == [2, 3]
    assert len(frontier.seen) == 1
    assert len(frontier.admit([spec("http://a.com/new", dont_filter=True)])) == 1
    assert fingerprint("GET", "http://a.com/new") not in frontier.seen


def test_a_request_without_fingerprint_gets_one() -> None:
    frontier = LocalFrontier(per_host=10, depth_first=False)
    request = RequestSpec("http://a.com/x")
    assert frontier.admit([request]) == [request]
    assert request.fingerprint == fingerprint("GET", "http://a.com/x")
    assert frontier.admit([RequestSpec("http://a.com/x")]) == []


def test_highest_priority_first_and_fifo_within_a_priority() -> None:
    frontier = LocalFrontier(per_host=100, depth_first=False)
    frontier.admit(
        [
            spec("http://a.com/low1", -5),
            spec("http://a.com/mid1"),
            spec("http://a.com/high1", 10),
            spec("http://a.com/mid2"),
            spec("http://a.com/high2", 10),
            spec("http://a.com/low2", -5),
            spec("http://a.com/mid3"),
        ]
    )
    assert lease_all(frontier) == [
        "http://a.com/high1",
        "http://a.com/high2",
        "http://a.com/mid1",
        "http://a.com/mid2",
        "http://a.com/mid3",
        "http://a.com/low1",
        "http://a.com/low2",
    ]


def test_leases_have_ids_and_record_the_workers() -> None:
    frontier = LocalFrontier(per_host=10, depth_first=False)
    frontier.admit([spec("http://a.com/1"), spec("http://b.com/1")])
    first = frontier.lease(downloader=0, parser=3)
    second = frontier.lease(downloader=1, parser=2)
    assert first is not None and second is not None
    assert (first.id, first.downloader, first.parser, first.host) == (1, 0, 3, "a.com")
    assert (second.id, second.downloader, second.parser, second.host) == (2, 1, 2, "b.com")
    assert frontier.leases == {1: first, 2: second}
    assert frontier.pending_count() == 0
    assert frontier.lease(0, 0) is None


def test_end_returns_the_lease_once() -> None:
    frontier = LocalFrontier(per_host=10, depth_first=False)
    frontier.admit([spec("http://a.com/1")])
    lease = frontier.lease(0, 0)
    assert lease is not None
    assert frontier.end(lease.id) is lease
    assert frontier.end(lease.id) is None
    assert frontier.end(999) is None
    assert frontier.leases == {}


def test_pushed_back_request_is_leased_again() -> None:
    frontier = LocalFrontier(per_host=10, depth_first=False)
    frontier.admit([spec("http://a.com/1")])
    lease = frontier.lease(0, 0)
    assert lease is not None
    frontier.end(lease.id)
    frontier.push(lease.request)
    again = frontier.lease(1, 1)
    assert again is not None
    assert again.request is lease.request
    assert again.id != lease.id


# ---- per-host limits ------------------------------------------------------------------


def test_per_host_limit_parks_and_end_releases_one() -> None:
    frontier = LocalFrontier(per_host=2, depth_first=False)
    frontier.admit([spec(f"http://a.com/{i}") for i in range(5)] + [spec("http://b.com/0")])
    leased = [frontier.lease(0, 0) for _ in range(3)]
    assert [lease.request.url for lease in leased if lease] == [
        "http://a.com/0",
        "http://a.com/1",
        "http://b.com/0",
    ]
    assert frontier.lease(0, 0) is None  # a.com is full; the rest is parked
    assert frontier.pending_count() == 3
    assert not frontier.is_idle()
    assert leased[2] is not None
    frontier.end(leased[2].id)  # a b.com lease: releases nothing of a.com
    assert frontier.lease(0, 0) is None
    assert leased[0] is not None
    frontier.end(leased[0].id)
    third = frontier.lease(0, 0)
    assert third is not None and third.request.url == "http://a.com/2"
    assert frontier.lease(0, 0) is None  # one released per ended lease
    assert frontier.pending_count() == 2


def test_per_host_counts_hosts_case_insensitively_and_without_default_port() -> None:
    frontier = LocalFrontier(per_host=1, depth_first=False)
    frontier.admit([spec("http://a.com/1"), spec("http://A.COM:80/2"), spec("http://a.com:8080/3")])
    first, second = frontier.lease(0, 0), frontier.lease(0, 0)
    assert first is not None and second is not None
    assert [first.request.url, second.request.url] == ["http://a.com/1", "http://a.com:8080/3"]
    assert frontier.lease(0, 0) is None


def test_parked_requests_keep_their_order() -> None:
    """A parked request goes back in its original place, before later arrivals."""
    frontier = LocalFrontier(per_host=1, depth_first=False)
    frontier.admit([spec("http://a.com/1"), spec("http://a.com/2"), spec("http://b.com/1")])
    first = frontier.lease(0, 0)
    assert first is not None and first.request.url == "http://a.com/1"
    other = frontier.lease(0, 0)  # parks a.com/2, leases b.com/1
    assert other is not None and other.request.url == "http://b.com/1"
    frontier.admit([spec("http://a.com/3")])
    frontier.end(first.id)
    assert lease_all(frontier) == ["http://a.com/2"]
    frontier.end(frontier.held_by(downloader=0)[-1].id)
    assert lease_all(frontier) == ["http://a.com/3"]


def test_parked_requests_are_released_by_priority() -> None:
    frontier = LocalFrontier(per_host=1, depth_first=False)
    frontier.admit([spec("http://a.com/1")])
    first = frontier.lease(0, 0)
    assert first is not None
    frontier.admit([spec("http://a.com/low", -1)])
    assert frontier.lease(0, 0) is None  # parks low
    frontier.admit([spec("http://a.com/high", 5)])
    assert frontier.lease(0, 0) is None  # parks high
    frontier.end(first.id)
    released = frontier.lease(0, 0)
    assert released is not None and released.request.url == "http://a.com/high"


# ---- leases held, idleness, draining ---------------------------------------------------


def test_held_by() -> None:
    frontier = LocalFrontier(per_host=10, depth_first=False)
    frontier.admit([spec(f"http://a.com/{i}") for i in range(4)])
    a = frontier.lease(downloader=0, parser=5)
    b = frontier.lease(downloader=0, parser=6)
    c = frontier.lease(downloader=1, parser=5)
    assert a is not None and b is not None and c is not None
    assert frontier.held_by(downloader=0) == [a, b]
    assert frontier.held_by(downloader=1) == [c]
    assert frontier.held_by(parser=5) == [a, c]
    assert frontier.held_by(parser=6) == [b]
    assert frontier.held_by() == []
    assert frontier.held_by(downloader=1, parser=6) == [b, c]


def test_is_idle() -> None:
    frontier = LocalFrontier(per_host=10, depth_first=False)
    assert frontier.is_idle()
    frontier.admit([spec("http://a.com/1")])
    assert not frontier.is_idle()
    lease = frontier.lease(0, 0)
    assert lease is not None
    assert not frontier.is_idle()  # leased
    frontier.end(lease.id)
    assert frontier.is_idle()


def test_clear_pending_drops_heap_and_parked() -> None:
    frontier = LocalFrontier(per_host=1, depth_first=False)
    frontier.admit(
        [
            spec("http://a.com/1"),
            spec("http://a.com/2", 3),
            spec("http://b.com/1"),
            spec("http://a.com/3"),
            spec("http://c.com/1", 9),
        ]
    )
    held = [frontier.lease(0, 0), frontier.lease(0, 0)]  # c.com/1, a.com/2
    assert [lease.request.url for lease in held if lease] == ["http://c.com/1", "http://a.com/2"]
    assert frontier.lease(0, 0) is not None  # parks a.com/1, leases b.com/1
    assert frontier.clear_pending() == 2  # a.com/1 and a.com/3
    assert frontier.pending_count() == 0
    assert frontier.lease(0, 0) is None
    assert len(frontier.leases) == 3  # leases are not touched
    for lease_id in list(frontier.leases):
        frontier.end(lease_id)
    assert frontier.is_idle()
    assert frontier.lease(0, 0) is None  # nothing parked comes back


def test_host_key() -> None:
    assert host_key("http://Example.COM/x") == "example.com"
    assert host_key("https://example.com:443/") == "example.com"
    assert host_key("http://example.com:443/") == "example.com:443"
    assert host_key("http://user:pw@example.com:8080/") == "example.com:8080"
    assert host_key("http://[::1]:80/") == "::1"


def test_depth_first_leases_the_newest_first_within_a_priority() -> None:
    frontier = LocalFrontier(per_host=10)
    frontier.admit([spec(f"http://a.com/{n}") for n in range(3)])
    frontier.admit([spec("http://a.com/urgent", priority=1)])
    order = []
    while (lease := frontier.lease(0, 0)) is not None:
        order.append(lease.request.url)
    assert order == ["http://a.com/urgent", "http://a.com/2", "http://a.com/1", "http://a.com/0"]


def test_delayed_requests_wait_their_turn() -> None:
    frontier = LocalFrontier(per_host=10)
    [request] = frontier.admit([spec("http://a.com/retry")])
    lease = frontier.lease(0, 0)
    assert lease is not None
    frontier.end(lease.id)
    frontier.push_later(request, time.monotonic() + 0.2)
    assert frontier.lease(0, 0) is None
    assert not frontier.is_idle() and frontier.pending_count() == 1
    assert frontier.next_ready_at() is not None
    time.sleep(0.25)
    again = frontier.lease(0, 0)
    assert again is not None and again.request.url == "http://a.com/retry"
    assert frontier.clear_pending() == 0


def test_a_host_delay_spaces_its_requests() -> None:
    frontier = LocalFrontier(per_host=10, delay=0.2)
    frontier.admit([spec("http://a.com/1"), spec("http://a.com/2"), spec("http://b.com/1")])
    first = frontier.lease(0, 0)
    second = frontier.lease(0, 0)
    assert first is not None and second is not None
    assert {first.host, second.host} == {"a.com", "b.com"}  # the other a.com waits
    assert frontier.lease(0, 0) is None and frontier.pending_count() == 1
    time.sleep(0.35)
    third = frontier.lease(0, 0)
    assert third is not None and third.host == "a.com"


def test_a_paused_host_waits_and_then_takes_its_full_concurrency() -> None:
    frontier = LocalFrontier(per_host=3)
    frontier.admit([spec(f"http://a.com/{n}") for n in range(4)] + [spec("http://b.com/1")])
    frontier.pause("a.com", 0.2)
    first = frontier.lease(0, 0)
    assert first is not None and first.host == "b.com"  # other hosts go on
    assert frontier.lease(0, 0) is None and frontier.pending_count() == 4
    assert frontier.next_ready_at() is not None
    time.sleep(0.25)
    leased = [frontier.lease(0, 0) for _ in range(4)]
    hosts = [lease.host if lease is not None else None for lease in leased]
    assert hosts == ["a.com", "a.com", "a.com", None]  # per_host at once, not one at a time


def test_a_shorter_pause_does_not_cut_a_longer_one() -> None:
    frontier = LocalFrontier(per_host=3)
    frontier.admit([spec("http://a.com/1")])
    frontier.pause("a.com", 0.3)
    frontier.pause("a.com", 0.01)
    time.sleep(0.05)
    assert frontier.lease(0, 0) is None
    time.sleep(0.3)
    assert frontier.lease(0, 0) is not None


# ---- memory limit: pending requests beyond it wait on disk -----------------------------


def test_requests_beyond_the_memory_limit_wait_on_disk(tmp_path: Path) -> None:
    frontier = LocalFrontier(
        per_host=10_000, depth_first=False, memory_limit=1000, spill_dir=tmp_path / "spill"
    )
    frontier.admit([spec(f"http://a.com/{i}") for i in range(5000)])
    assert frontier.spill is not None and frontier.spill.count == 4000
    assert frontier.pending_count() == 5000 and len(list((tmp_path / "spill").iterdir())) == 1
    urls = []
    while (lease := frontier.lease(0, 0)) is not None:
        urls.append(lease.request.url)
        frontier.end(lease.id)
    assert urls == [f"http://a.com/{i}" for i in range(5000)]  # nothing lost, none twice
    assert frontier.is_idle() and frontier.spill.count == 0
    frontier.close()
    assert not (tmp_path / "spill").exists()


def test_a_spilled_request_of_higher_priority_comes_back_first(tmp_path: Path) -> None:
    frontier = LocalFrontier(
        per_host=10_000, depth_first=False, memory_limit=1000, spill_dir=tmp_path / "spill"
    )
    frontier.admit([spec(f"http://a.com/low/{i}") for i in range(1000)])
    frontier.admit([spec("http://a.com/urgent", 5), spec("http://a.com/low/late")])
    assert frontier.spill is not None and frontier.spill.count == 2
    first = frontier.lease(0, 0)
    assert first is not None and first.request.url == "http://a.com/urgent"
    assert frontier.clear_pending() == 1001  # the 1000 low ones and low/late
    assert frontier.spill.count == 0


def test_spilled_requests_keep_every_field(tmp_path: Path) -> None:
    from crawler.frontier.spill import Spill

    spill = Spill(tmp_path / "s")
    requests = [
        RequestSpec(f"http://a.com/{i}", id=i, body=b"x" * (i * 97), meta={"n": i}, priority=i % 3)
        for i in range(3000)
    ]
    for request in requests:
        spill.put(request)
    back = spill.take(10_000)
    assert spill.count == 0
    expected = sorted(requests, key=lambda r: -r.priority)  # stable: arrival order kept
    assert back == expected


# ---- the lease table -------------------------------------------------------------------


def test_in_flight_counts_are_read_from_the_lease_table() -> None:
    frontier = LocalFrontier(per_host=10)
    frontier.admit([spec(f"http://a.test/{i}") for i in range(4)])
    first = frontier.lease(0, 1)
    second = frontier.lease(0, 0)
    third = frontier.lease(1, 1)
    assert first and second and third
    assert frontier.in_flight() == 3
    assert (frontier.in_flight(downloader=0), frontier.in_flight(downloader=1)) == (2, 1)
    assert (frontier.in_flight(parser=0), frontier.in_flight(parser=1)) == (1, 2)
    assert frontier.end(first.id) is first
    assert frontier.end(first.id) is None  # not current any more: fencing
    assert frontier.current(first.id) is None and frontier.current(second.id) is second
    assert (frontier.in_flight(downloader=0), frontier.in_flight(parser=1)) == (1, 1)
    for lease in frontier.held_by(downloader=0):
        frontier.end(lease.id)
    assert frontier.in_flight(downloader=0) == 0 and frontier.in_flight() == 1


def test_the_local_frontier_implements_the_frontier_interface() -> None:
    from crawler.frontier.interface import Frontier

    members = [name for name in vars(Frontier) if not name.startswith("_")]
    members += list(Frontier.__annotations__)
    missing = [name for name in members if not hasattr(LocalFrontier(per_host=1), name)]
    assert not missing
