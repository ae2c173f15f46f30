"""Dispatch: leases pending requests to downloaders with room and parsers with a window.

Load is balanced by the lease table's own counts (`Frontier.in_flight`).  A request whose
origin's robots.txt is not known yet holds its host in the frontier until the rules come.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from crawler.scheduler.context import CrawlContext
from crawler.scheduler.outcomes import Outcomes
from crawler.scheduler.pool import WorkerPool
from crawler.urls.hosts import host_key
from crawler.wire.messages import Fetch, FetchBatch, RequestSpec

logger = logging.getLogger("crawler")


class Dispatcher:
    """Sends leases to the workers; wakes the pump when delayed requests become ready."""

    def __init__(self, ctx: CrawlContext, pool: WorkerPool, outcomes: Outcomes) -> None:
        self.ctx = ctx
        self.pool = pool
        self.outcomes = outcomes
        self.wake_timer: asyncio.TimerHandle | None = None
        if ctx.robots is not None:
            ctx.frontier.gate = self._robots_gate

    def page_budget_spent(self) -> bool:
        """Whether `limits.max_pages` pages are done or in flight."""
        ctx = self.ctx
        limit = ctx.settings.limits.max_pages
        stats = ctx.stats
        used = stats.pages + stats.failed + stats.dead + ctx.frontier.in_flight()
        return bool(limit) and used >= limit

    def dispatch(self) -> None:
        """Lease pending requests to downloaders with room and parsers with a free window."""
        ctx = self.ctx
        frontier = ctx.frontier
        batches: dict[int, list[Any]] = {}
        concurrency = ctx.settings.downloader.concurrency
        window = ctx.settings.parser.window
        downloaders = [h.index for h in self.pool.downloaders if h.ready]
        parsers = [h.index for h in self.pool.parsers if h.ready]
        while downloaders and parsers and not self.page_budget_spent():
            d = min(downloaders, key=lambda i: frontier.in_flight(downloader=i))
            p = min(parsers, key=lambda i: frontier.in_flight(parser=i))
            if frontier.in_flight(downloader=d) >= concurrency:
                break
            if frontier.in_flight(parser=p) >= window:
                break
            lease = frontier.lease(d, p)
            if lease is None:
                break
            request = lease.request
            if ctx.robots is not None and not ctx.robots.allowed(request.url):
                self.outcomes.skip(lease, "robots")
                continue
            cookie = ""
            if ctx.cookies is not None:
                jar = request.meta.get("cookiejar") if request.meta else None
                cookie = ctx.cookies.header(jar, request.url, request.cookies)
            batches.setdefault(d, []).append(Fetch(request, lease.id, p, cookie))
        for index, fetches in batches.items():
            sender = self.pool.downloaders[index].sender
            assert sender is not None
            sender.send(FetchBatch(fetches))

    def wake_for_delayed(self) -> None:
        """Run the pump again when the earliest delayed request becomes ready."""
        ready_at = self.ctx.frontier.next_ready_at()
        if ready_at is None:
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + max(0.0, ready_at - time.monotonic()) + 0.001
        if self.wake_timer is not None:
            if not self.wake_timer.cancelled() and self.wake_timer.when() <= when:
                return
            self.wake_timer.cancel()
        self.wake_timer = loop.call_at(when, self._on_wake_timer)

    def _on_wake_timer(self) -> None:
        self.wake_timer = None
        self.ctx.kick()

    def _robots_gate(self, request: RequestSpec) -> bool:
        """Whether the robots.txt of the request's origin is known; if not, fetch it."""
        robots = self.ctx.robots
        assert robots is not None
        key = robots.key(request.url)
        state = robots.state(key)
        if state == "unknown":
            # Through a proxy, the proxy resolves the host: no connect-time guard applies.
            private = request.private or bool(self.ctx.settings.downloader.proxy)
            robots.start(key, private=private)
        return state == "ready"

    def robots_ready(self, key: str) -> None:
        """An origin's robots.txt arrived: apply its Crawl-delay, release its requests."""
        ctx = self.ctx
        assert ctx.robots is not None
        host = host_key(key)
        delay = ctx.robots.crawl_delay(key)
        if delay:
            delay = min(delay, ctx.settings.downloader.max_crawl_delay)
            if ctx.throttle is not None:
                ctx.throttle.set_floor(host, delay)
            if delay > ctx.frontier.host_delay(host):
                ctx.frontier.set_delay(host, delay)
                logger.info("%s asks for a Crawl-delay of %gs", key, delay)
        ctx.frontier.release(host)
        ctx.kick()
