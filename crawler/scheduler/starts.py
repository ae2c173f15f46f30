"""The spider's start requests, taken lazily while the frontier is short of work."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from crawler.api.request import Request, to_spec
from crawler.api.spider import Spider
from crawler.errors import SpiderError
from crawler.journal.records import Failed, Seeded
from crawler.scheduler.context import CrawlContext
from crawler.wire.messages import RequestSpec

logger = logging.getLogger("crawler")


class StartRequests:
    """Reads `start_requests()` as the frontier runs low; journals what it consumed.

    A resumed run skips the start requests an earlier session consumed (`consumed` counts
    them), so each is admitted once in the whole run.
    """

    def __init__(self, ctx: CrawlContext) -> None:
        self.ctx = ctx
        self.iterator: Iterator[Any] | AsyncIterator[Any] | None = None
        self.consumed = ctx.plan.start_consumed
        self.opened = False

    @property
    def exhausted(self) -> bool:
        """Whether every start request has been taken (or start_requests() broke)."""
        return self.opened and self.iterator is None

    def open(self) -> None:
        """Call the spider's start_requests(); its items are taken later, on demand."""
        result = self.ctx.spider.start_requests()
        if inspect.isasyncgen(result) or isinstance(result, AsyncIterator):
            self.iterator = result
        else:
            self.iterator = iter(result)
        self.opened = True

    async def fill(self, running: Callable[[], bool]) -> None:
        """Take start requests while the frontier is short of work and `running()`."""
        if self.iterator is None:
            return
        ctx = self.ctx
        low_water = 2 * (ctx.settings.downloader.concurrency * ctx.settings.downloader_count())
        admitted: list[RequestSpec] = []
        consumed_before = self.consumed
        while (
            self.iterator is not None
            and running()  # a Ctrl-C during a slow start_requests() stops it
            and ctx.frontier.pending_count() + len(admitted) < low_water
        ):
            request = await self._next()
            if request is None:
                continue
            spec = self._spec(request)
            if spec is not None:
                admitted.extend(ctx.frontier.admit([spec]))
        if self.consumed != consumed_before:
            ctx.journal.append(Seeded(self.consumed, admitted))

    async def _next(self) -> Request | None:
        assert self.iterator is not None
        try:
            if isinstance(self.iterator, AsyncIterator):
                item = await anext(self.iterator)
            else:
                item = next(self.iterator)
        except (StopIteration, StopAsyncIteration):
            self.iterator = None
            return None
        except Exception as exc:
            logger.error(
                "start_requests() raised %s: %s; no more start requests",
                type(exc).__name__,
                exc,
                exc_info=True,
            )
            self.iterator = None
            return None
        self.consumed += 1
        if self.consumed <= self.ctx.plan.start_consumed:
            return None  # consumed by an earlier session of this run
        if not isinstance(item, Request):
            self._fail(repr(item)[:200], f"start_requests() yielded {type(item).__name__}")
            return None
        return item

    def _spec(self, request: Request) -> RequestSpec | None:
        try:
            spec = to_spec(self.ctx.spider, request)
        except ValueError as exc:
            self._fail(request.url, str(exc))
            return None
        spec.private = self.ctx.scope.is_start_private(spec.url)
        if not spec.dont_filter:
            spec.fingerprint = self.ctx.fingerprint(spec.method, spec.url, spec.body)
        return spec

    def _fail(self, url: str, reason: str) -> None:
        logger.error("bad start request %s: %s", url, reason)
        record = Failed(0, url, reason, 0, 0)
        self.ctx.journal.append(record)
        self.ctx.stats.count_failure(record)


def check_start_urls(spider: Spider) -> None:
    """Raise SpiderError listing every bad entry of `start_urls` (before any process starts)."""
    urls = spider.start_urls
    if isinstance(urls, str):
        raise SpiderError(f"{type(spider).__name__}.start_urls must be a list of URLs, not a str")
    problems = []
    for index, url in enumerate(urls or []):
        try:
            Request(url)
        except (TypeError, ValueError) as exc:
            problems.append(f"  start_urls[{index}] = {url!r}: {exc}")
    if problems:
        raise SpiderError(f"{type(spider).__name__} has bad start URLs:\n" + "\n".join(problems))
