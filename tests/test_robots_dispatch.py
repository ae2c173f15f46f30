"""RobotsDispatch: robots.txt fetches go to ready downloaders and survive their deaths."""

from __future__ import annotations

import asyncio
from typing import Any

from crawler.scheduler.processes import WorkerHandle
from crawler.scheduler.robots_dispatch import RobotsDispatch
from crawler.wire.messages import FetchRobots, RobotsFetched


class Outbox:
    """Stands in for a downloader's channel: keeps what the scheduler sends it."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, message: Any) -> None:
        self.sent.append(message)


def downloader(index: int, ready: bool = True) -> WorkerHandle:
    handle = WorkerHandle("downloader", index, index, counters=None)  # type: ignore[arg-type]
    handle.sender = Outbox()  # type: ignore[assignment]
    handle.ready = ready
    return handle


def sent(handle: WorkerHandle) -> list[Any]:
    return handle.sender.sent  # type: ignore[union-attr, no-any-return]


def asked_first(a: WorkerHandle, b: WorkerHandle) -> tuple[WorkerHandle, WorkerHandle]:
    """The downloader the dispatch asked, and the other one."""
    return (a, b) if sent(a) else (b, a)


async def test_the_answer_of_the_downloader_asked_settles_the_fetch() -> None:
    a, b = downloader(0), downloader(1)
    dispatch = RobotsDispatch([a, b], max_deaths=3)
    fetch = asyncio.ensure_future(dispatch.fetch("http://a.test", True))
    await asyncio.sleep(0)
    asked, other = asked_first(a, b)
    assert sent(asked) == [FetchRobots("http://a.test", True)] and sent(other) == []
    dispatch.answered(other, RobotsFetched("http://a.test", "missing"))  # not asked: dropped
    assert not fetch.done()
    dispatch.answered(asked, RobotsFetched("http://a.test", "fetched", b"User-agent: *"))
    assert (await fetch).verdict == "fetched"
    assert dispatch.errands == {}


async def test_fetches_wait_for_a_ready_downloader() -> None:
    a = downloader(0, ready=False)
    dispatch = RobotsDispatch([a], max_deaths=3)
    fetch = asyncio.ensure_future(dispatch.fetch("http://a.test", False))
    await asyncio.sleep(0)
    assert sent(a) == []
    a.ready = True
    dispatch.downloader_ready()
    assert sent(a) == [FetchRobots("http://a.test", False)]
    dispatch.answered(a, RobotsFetched("http://a.test", "missing"))
    assert (await fetch).verdict == "missing"


async def test_a_dead_downloaders_fetch_goes_to_the_next_until_max_deaths() -> None:
    a, b = downloader(0), downloader(1)
    dispatch = RobotsDispatch([a, b], max_deaths=2)
    fetch = asyncio.ensure_future(dispatch.fetch("http://a.test", True))
    await asyncio.sleep(0)
    first, second = asked_first(a, b)
    first.ready = False
    dispatch.downloader_lost(first)
    assert sent(second) == [FetchRobots("http://a.test", True)]
    dispatch.downloader_lost(first)  # an unrelated death later: not this fetch's
    assert not fetch.done()
    second.ready = False
    dispatch.downloader_lost(second)
    assert (await fetch).verdict == "unreachable"


async def test_a_cancelled_fetch_leaves_no_errand() -> None:
    a = downloader(0)
    dispatch = RobotsDispatch([a], max_deaths=3)
    fetch = asyncio.ensure_future(dispatch.fetch("http://a.test", True))
    await asyncio.sleep(0)
    fetch.cancel()
    await asyncio.gather(fetch, return_exceptions=True)
    assert dispatch.errands == {}
    dispatch.answered(a, RobotsFetched("http://a.test", "missing"))  # late: ignored
