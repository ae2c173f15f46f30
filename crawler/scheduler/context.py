"""What the scheduler's parts share: the plan, the journal, the frontier and the policies."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from crawler.api.spider import Spider, SpiderRef
from crawler.errors import ExitCode
from crawler.frontier.interface import Frontier
from crawler.frontier.seen import FingerprintSet
from crawler.journal.records import JournalWriter
from crawler.journal.runfolder import RunFolder
from crawler.journal.stats import CrawlStats
from crawler.scheduler.backoff import HostBackoff
from crawler.scheduler.cookies import CookieJars
from crawler.scheduler.robots import RobotsCache
from crawler.scheduler.robots_dispatch import RobotsDispatch
from crawler.scheduler.throttle import AutoThrottle
from crawler.settings.schema import Settings
from crawler.urls.fingerprint import fingerprint
from crawler.urls.scope import Scope
from crawler.wire.messages import RequestSpec


class CrawlState(enum.StrEnum):
    """Where the crawl is in its life: it takes new work only while running."""

    RUNNING = "running"  # leasing, fetching, taking start requests
    DRAINING = "draining"  # stopping in order: finishing the leases in flight
    STOPPING = "stopping"  # stopping now: workers are told to stop, nothing new starts


@dataclass(frozen=True)
class CrawlPlan:
    """Everything a crawl needs, decided before any process starts."""

    spider: SpiderRef
    spider_args: dict[str, str]
    settings: Settings
    run: RunFolder
    start_consumed: int
    pending: Iterable[RequestSpec]  # the requests still to do (streamed from the journal)
    seen: FingerprintSet  # fingerprints of every request admitted in earlier sessions
    next_id: int
    stats: CrawlStats
    log_level: int
    cookies: Iterable[tuple[Any, str, list[str]]] = ()  # earlier sessions' Set-Cookie headers


@dataclass
class CrawlContext:
    """The state every part of the scheduler reads; each part owns the changes it makes."""

    plan: CrawlPlan
    journal: JournalWriter
    frontier: Frontier
    spider: Spider
    scope: Scope
    backoff: HostBackoff
    kick: Callable[[], None]  # run the pump again soon
    cookies: CookieJars | None = None
    robots: RobotsCache | None = None
    robots_dispatch: RobotsDispatch | None = None
    throttle: AutoThrottle | None = None
    state: CrawlState = CrawlState.RUNNING
    fatal: str | None = None  # why the crawl stopped on an error, if it did
    exit_code: int = ExitCode.OK
    done: asyncio.Event = field(default_factory=asyncio.Event)  # set when the crawl ends
    background: set[Any] = field(default_factory=set)  # tasks cancelled at the end

    @property
    def settings(self) -> Settings:
        return self.plan.settings

    @property
    def stats(self) -> CrawlStats:
        return self.plan.stats

    @property
    def run(self) -> RunFolder:
        return self.plan.run

    def fingerprint(self, method: str, url: str, body: bytes) -> int:
        """A request's fingerprint under the crawl's scope rules (stripped query keys)."""
        return fingerprint(method, url, body, self.scope.strip)

    def finish(self, code: int) -> None:
        """End the crawl with exit `code` (the first call decides)."""
        if not self.done.is_set():
            self.exit_code = code
            self.done.set()

    def fail(self, reason: str) -> None:
        """End the crawl on a fatal error; what was committed stays, the run can resume."""
        self.fatal = reason
        self.finish(ExitCode.FATAL)

    def abort(self, reason: str) -> None:
        """Stop now on a fatal error of the scheduler itself (no new work starts)."""
        self.state = CrawlState.STOPPING
        self.fail(reason)
