"""AutoThrottle: the delay algorithm, step by step."""

from __future__ import annotations

import itertools
import math

import pytest

from crawler.scheduler.throttle import AutoThrottle
from crawler.settings.schema import ThrottleSettings


def throttle(
    base_delay: float = 0.0,
    target_concurrency: float = 1.0,
    start_delay: float = 1.0,
    max_delay: float = 60.0,
) -> AutoThrottle:
    settings = ThrottleSettings(True, target_concurrency, start_delay, max_delay)
    return AutoThrottle(settings, base_delay)


def test_unseen_host_starts_at_start_delay() -> None:
    t = throttle(start_delay=1.0)
    assert t.delay("a.test") == 1.0
    assert throttle(start_delay=1.0, max_delay=0.5).delay("a.test") == 0.5
    assert throttle(base_delay=3.0, start_delay=1.0).delay("a.test") == 3.0


def test_converges_to_latency_over_target_concurrency() -> None:
    t = throttle(start_delay=5.0, target_concurrency=4.0)
    delays = [t.observe("a.test", 0.8, 200) for _ in range(40)]
    assert all(later <= earlier for earlier, later in itertools.pairwise(delays))
    assert delays[0] == pytest.approx((5.0 + 0.2) / 2)  # halfway down
    assert delays[-1] == pytest.approx(0.2)
    assert t.delay("a.test") == delays[-1]


def test_rises_to_the_target_at_once() -> None:
    t = throttle(start_delay=0.1, target_concurrency=2.0)
    assert t.observe("a.test", 3.0, 200) == pytest.approx(1.5)


def test_hosts_are_independent() -> None:
    t = throttle(start_delay=1.0)
    t.observe("slow.test", 10.0, 200)
    assert t.delay("slow.test") == 10.0
    assert t.delay("fast.test") == 1.0


def test_never_below_base_delay() -> None:
    t = throttle(base_delay=0.5, start_delay=1.0)
    for _ in range(30):
        t.observe("a.test", 0.001, 200)
    assert t.delay("a.test") == 0.5


def test_floor_per_host() -> None:
    t = throttle(base_delay=0.5, start_delay=1.0)
    for _ in range(30):
        t.observe("a.test", 0.0, 200)
    t.set_floor("a.test", 2.0)  # e.g. robots.txt Crawl-delay
    assert t.delay("a.test") == 2.0
    assert t.observe("a.test", 0.0, 200) == 2.0
    assert t.floor("b.test") == 0.5
    assert t.delay("b.test") == 1.0
    t.set_floor("b.test", 4.0)
    assert t.delay("b.test") == 4.0  # also before the first response
    t.set_floor("a.test", 0.1)  # below base_delay: base_delay stays the floor
    assert t.floor("a.test") == 0.5


def test_floor_above_max_delay_wins() -> None:
    t = throttle(max_delay=5.0)
    t.set_floor("a.test", 30.0)
    assert t.observe("a.test", 0.0, 200) == 30.0


def test_never_above_max_delay() -> None:
    t = throttle(max_delay=5.0)
    assert t.observe("a.test", 60.0, 200) == 5.0
    assert t.observe("a.test", math.inf, 0) == 5.0


@pytest.mark.parametrize("status", [0, 301, 404, 500, 502])
def test_errors_do_not_decrease(status: int) -> None:
    t = throttle(start_delay=2.0)
    assert t.observe("a.test", 0.01, status) == 2.0
    assert t.observe("a.test", 6.0, status) == 6.0  # but may increase


@pytest.mark.parametrize("status", [429, 503])
def test_too_many_requests_doubles(status: int) -> None:
    t = throttle(start_delay=1.0, max_delay=10.0)
    assert t.observe("a.test", 0.01, status) == 2.0
    assert t.observe("a.test", 0.01, status) == 4.0
    assert t.observe("a.test", 0.01, status) == 8.0
    assert t.observe("a.test", 0.01, status) == 10.0  # capped


def test_doubling_starts_from_at_least_start_delay() -> None:
    t = throttle(start_delay=1.0)
    for _ in range(30):
        t.observe("a.test", 0.0, 200)
    assert t.delay("a.test") < 1e-6
    assert t.observe("a.test", 0.0, 429) == 1.0
    z = throttle(start_delay=0.0)
    assert z.observe("a.test", 0.0, 429) > 0.0


def test_bad_latency_is_zero() -> None:
    t = throttle(start_delay=1.0)
    assert t.observe("a.test", -5.0, 200) == 0.5
    assert t.observe("a.test", math.nan, 200) == 0.25
