"""The scheduler's robots.txt fetches, each handed to one downloader at a time.

`RobotsCache` asks for an origin's verdict; a ready downloader fetches it
(`crawler.downloader.robots_fetch`) and answers with `RobotsFetched`.  A downloader that dies
meanwhile loses nothing: its fetches go to the next ready downloader.  An origin whose
fetch went down with `max_deaths` downloaders is "unreachable", as a page would be buried.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass

from crawler.scheduler.processes import WorkerHandle
from crawler.wire.messages import FetchRobots, RobotsFetched, RobotsVerdict

logger = logging.getLogger(__name__)


@dataclass
class _Errand:
    future: asyncio.Future[RobotsFetched]
    public: bool
    downloader: int = -1  # the index of the downloader fetching it; -1: none yet
    deaths: int = 0


class RobotsDispatch:
    """Sends robots.txt fetches to downloaders and routes their answers back."""

    def __init__(self, downloaders: list[WorkerHandle], max_deaths: int) -> None:
        self.downloaders = downloaders
        self.max_deaths = max_deaths
        self.errands: dict[str, _Errand] = {}
        self._turn = itertools.count()

    def __repr__(self) -> str:
        return f"<RobotsDispatch {len(self.errands)} in flight>"

    async def fetch(self, key: str, public: bool) -> RobotsFetched:
        """The verdict on origin `key`, from whichever downloader can fetch it."""
        errand = _Errand(asyncio.get_running_loop().create_future(), public)
        self.errands[key] = errand
        self._send(key, errand)
        try:
            return await errand.future
        finally:
            if self.errands.get(key) is errand:
                del self.errands[key]

    def answered(self, handle: WorkerHandle, message: RobotsFetched) -> None:
        """A downloader's verdict; one from a downloader no longer asked is dropped."""
        errand = self.errands.get(message.key)
        if errand is not None and errand.downloader == handle.index and not errand.future.done():
            errand.future.set_result(message)

    def downloader_ready(self) -> None:
        """A downloader (re)started: send it what no downloader was there to fetch."""
        for key, errand in self.errands.items():
            if errand.downloader < 0:
                self._send(key, errand)

    def downloader_lost(self, handle: WorkerHandle) -> None:
        """A downloader died: its fetches go to another, or end after `max_deaths`."""
        for key, errand in self.errands.items():
            if errand.downloader != handle.index or errand.future.done():
                continue
            errand.downloader = -1
            errand.deaths += 1
            if errand.deaths >= self.max_deaths:
                logger.warning(
                    "robots.txt of %s: %d downloaders died fetching it; not crawling %s",
                    key,
                    errand.deaths,
                    key,
                )
                errand.future.set_result(RobotsFetched(key, RobotsVerdict.UNREACHABLE))
            else:
                self._send(key, errand)

    def _send(self, key: str, errand: _Errand) -> None:
        ready = [h for h in self.downloaders if h.ready and h.sender is not None]
        if not ready:
            return  # downloader_ready() sends it
        handle = ready[next(self._turn) % len(ready)]
        assert handle.sender is not None
        errand.downloader = handle.index
        handle.sender.send(FetchRobots(key, errand.public))
