"""The downloader process: fetches pages with aiohttp on uvloop and hands them to parsers.

Every task of the process runs in one `asyncio.TaskGroup`: the heartbeat, one task per
page (`crawler.downloader.pages`) and per robots.txt file.  A fetch's expected failures
are reported to the scheduler and end nothing; a task that crashes (a bug) ends the
process at once, logged, with exit code 70; the scheduler requeues its leases and starts
another downloader.  At Stop, every task is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from crawler.api import hooks
from crawler.downloader.cache import HttpCache
from crawler.downloader.handoff import Handoff
from crawler.downloader.outcome import Outcomes
from crawler.downloader.pages import PageFetcher
from crawler.downloader.prepare import Preparer
from crawler.downloader.robots_fetch import fetch_robots
from crawler.downloader.session import Sessions
from crawler.errors import ExitCode
from crawler.wire.channel import Channel, open_pipe
from crawler.wire.counters import PID, Counters
from crawler.wire.messages import (
    FetchBatch,
    FetchRobots,
    ParserAddress,
    RobotsFetched,
    RobotsVerdict,
    Stop,
    ToDownloader,
)
from crawler.wire.runtime import detach_from_terminal_signals, heartbeat, run_loop, setup_logging
from crawler.wire.startup import DownloaderArgs

logger = logging.getLogger(__name__)

_EXIT_DRAIN_TIMEOUT = 1.0  # seconds a crashed downloader waits for its last log to leave


def run(args: DownloaderArgs) -> None:
    """Process target of a downloader."""
    detach_from_terminal_signals(args.parent_pid)
    run_loop(Downloader(args).main)


class _Stopping(Exception):
    """Raised in the task group's body at Stop: the group cancels every task."""


class Downloader:
    """Fetches what the scheduler sends; reports each lease back exactly once.

    Cookies are kept by the scheduler: a fetch carries its Cookie header, and Set-Cookie
    headers are reported back.
    """

    def __init__(self, args: DownloaderArgs) -> None:
        self.args = args
        self.settings = args.settings.downloader
        self.counters = Counters(args.counters, args.slot)
        self.sessions = Sessions(self.settings, args.settings.scope)
        cache = args.settings.cache
        self.cache = HttpCache(cache, Path(cache.dir)) if cache.enabled else None
        # The spider's module (user code, parsel) is imported here only for its hooks.
        spider = args.spider.load() if args.spider is not None else None
        self.request_hooks = hooks.overrides(spider.hooks, "request") if spider else []
        self.early: list[Any] | None = []  # messages that came before the task group ran
        self.out: Channel
        self.stopped: asyncio.Future[None]
        self.tasks: asyncio.TaskGroup
        self.handoff: Handoff
        self.pages: PageFetcher

    def __repr__(self) -> str:
        return f"<Downloader {self.args.index} {getattr(self, 'tasks', None)!r}>"

    async def main(self) -> None:
        self.stopped = asyncio.get_running_loop().create_future()
        self.out = await open_pipe(self.args.conn, ToDownloader, self._on_message, self._on_close)
        setup_logging(self.out, f"downloader-{self.args.index}", self.args.log_level)
        self.counters.set(PID, float(os.getpid()))
        outcomes = Outcomes(self.out, self.settings)
        self.handoff = Handoff(self.counters, outcomes.fail)
        preparer = Preparer(self.settings, self.request_hooks)
        throttle = self.out if self.args.settings.throttle.enabled else None
        self.pages = PageFetcher(
            self.settings, self.sessions, preparer, outcomes, self.handoff, self.cache, throttle
        )
        try:
            await self._run_tasks()
        finally:
            await self.sessions.close()
            self.handoff.close()
            self.out.close()

    async def _run_tasks(self) -> None:
        """Run the tasks until Stop (or the Pipe's end); a crashed task ends them all."""
        try:
            async with asyncio.TaskGroup() as self.tasks:
                self.tasks.create_task(heartbeat(self.counters))
                early, self.early = self.early or [], None
                for message in early:
                    self._on_message(message)
                await self.stopped
                raise _Stopping
        except* _Stopping:
            pass
        except* Exception as crash:
            logger.critical(
                "downloader-%d: a task crashed; exiting, to be restarted",
                self.args.index,
                exc_info=crash,
            )
            await self._exit(ExitCode.BROKEN_WORKER)

    async def _exit(self, code: int) -> None:
        """End the process now, the log sent: the scheduler requeues its leases and starts
        another downloader.  (Closing the Pipe first would look like a broken channel.)"""
        with contextlib.suppress(ConnectionError, TimeoutError):
            async with asyncio.timeout(_EXIT_DRAIN_TIMEOUT):  # the scheduler may not read
                await self.out.drain()
        os._exit(code)

    def _start(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run `coro` as a task of the group, unless the group is already ending."""
        if self.stopped.done():
            coro.close()
            return
        try:
            self.tasks.create_task(coro)
        except RuntimeError:  # a task crashed a moment ago: the process is ending
            coro.close()

    def _on_message(self, message: Any) -> None:
        if self.early is not None:
            self.early.append(message)
            return
        match message:
            case FetchBatch(fetches=fetches):
                for fetch in fetches:
                    self._start(self.pages.fetch(fetch))
            case FetchRobots():
                self._start(self._fetch_robots(message))
            case ParserAddress():
                self.handoff.address(message)
            case Stop():
                self._on_close(None)

    async def _fetch_robots(self, message: FetchRobots) -> None:
        """Fetch an origin's robots.txt for the scheduler, through this process's sessions."""
        key = message.key
        try:
            outcome = await fetch_robots(
                key,
                message.public,
                lambda public: self.sessions.get(not public),
                self.settings,
                cache=self.cache,
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("robots.txt of %s: unexpected error; not crawling %s", key, key)
            outcome = RobotsFetched(key, RobotsVerdict.UNREACHABLE)
        self.out.send(outcome)

    def _on_close(self, error: BaseException | None) -> None:
        """Stop, or the scheduler's end of the Pipe closed: finish."""
        if not self.stopped.done():
            self.stopped.set_result(None)
