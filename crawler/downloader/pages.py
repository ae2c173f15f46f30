"""A crawl's page fetch: prepare the request, answer it from the cache or the network,
and hand the page to its parser; or tell the scheduler what happened instead.

Redirects are not followed here: each one goes back to the scheduler, which checks and
deduplicates its target like any other URL.
"""

from __future__ import annotations

import asyncio
import logging

from crawler.downloader.cache import HttpCache
from crawler.downloader.failures import Failed
from crawler.downloader.fetch import Response, exchange
from crawler.downloader.handoff import Handoff
from crawler.downloader.outcome import Outcomes
from crawler.downloader.prepare import Outgoing, Preparer, errback_page
from crawler.downloader.session import Sessions
from crawler.failpoints import failpoint
from crawler.settings.schema import DownloaderSettings
from crawler.urls.fingerprint import fingerprint
from crawler.urls.hosts import host_key
from crawler.urls.statuses import REDIRECT_STATUSES
from crawler.wire.channel import Channel
from crawler.wire.messages import FailureKind, Fetch, Fetched, Page

logger = logging.getLogger(__name__)

_CACHED_METHODS = ("GET", "HEAD")


class PageFetcher:
    """Fetches the scheduler's requests, one task each; reports each lease back exactly once.

    Success is reported by the parser's acknowledgement, so a fetched page costs the
    scheduler no message of its own.
    """

    def __init__(
        self,
        settings: DownloaderSettings,
        sessions: Sessions,
        preparer: Preparer,
        outcomes: Outcomes,
        handoff: Handoff,
        cache: HttpCache | None,
        throttle: Channel | None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.preparer = preparer
        self.outcomes = outcomes
        self.handoff = handoff
        self.cache = cache
        self.throttle = throttle  # where to send each response's latency, with throttling

    async def fetch(self, fetch: Fetch) -> None:
        """Fetch one page and hand it to its parser, or report why not (a task's body)."""
        # Outside the error handling below, so that a fault test's `raise` ends the process.
        failpoint("downloader.task", fetch.request.url)
        try:
            await self._fetch(fetch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.exception("internal error fetching %s", fetch.request.url)
            reason = f"internal error: {type(exc).__name__}: {exc}"
            self.outcomes.fail(fetch, reason, FailureKind.NETWORK, True)

    async def _fetch(self, fetch: Fetch) -> None:
        if fetch.request.failure is not None:  # it failed for good: on to its errback
            await self.handoff.hand(fetch, errback_page(fetch))
            return
        if self.preparer.hooks:
            out = await self.preparer.hooked(fetch)
            if isinstance(out, Failed):
                self.outcomes.failed(fetch, out)
                return
        else:
            out = self.preparer.plain(fetch)
        key = 0
        if self.cache is not None and out.method in _CACHED_METHODS:
            key = fingerprint(out.method, out.url, out.data)
            if await self._from_cache(fetch, self.cache, key):
                return
        await self._live(fetch, out, key)

    async def _from_cache(self, fetch: Fetch, cache: HttpCache, key: int) -> bool:
        """Answer from the cache, if it has the response: True if it did."""
        cached = await cache.get(key)
        if cached is None:
            return False
        if self.outcomes.wanted(fetch, cached):
            page = Page(
                fetch.lease, fetch.request, str(cached.url), cached.status, cached.raw_headers,
                cached.body,
            )  # fmt: skip
            await self.handoff.hand(fetch, page)
        return True

    async def _live(self, fetch: Fetch, out: Outgoing, key: int) -> None:
        """Fetch from the network; keep the response in the cache under `key`, if not 0."""
        loop = asyncio.get_running_loop()
        started = loop.time()

        def wants(response: Response) -> bool:
            if self.throttle is not None:
                latency = loop.time() - started
                self.throttle.send(Fetched(host_key(out.url), latency, response.status))
            return self.outcomes.wanted(fetch, response)

        got = await exchange(
            self.sessions.get(out.private), out.method, out.url, self.settings, wants,
            out.headers or None, out.data or None, out.proxy,
        )  # fmt: skip
        if isinstance(got, Failed):
            self.outcomes.failed(fetch, got)
            return
        response, body = got
        if body is None:  # not for a parser: reported already
            if key and response.status in REDIRECT_STATUSES and self.cache is not None:
                await self.cache.keep(key, response, [], b"")
            return
        headers = [(str(k), v) for k, v in response.headers.items()]
        page = Page(fetch.lease, fetch.request, str(response.url), response.status, headers, body)
        if key and self.cache is not None:
            await self.cache.keep(key, response, headers, body)
        failpoint("downloader.after_fetch", fetch.request.url)
        await self.handoff.hand(fetch, page)
