"""Fetching one origin's robots.txt (RFC 9309); runs in a downloader, asked by the scheduler.

The fetch goes through the downloader's own sessions, so it keeps the crawl's User-Agent,
headers, proxy, TLS settings and private-address guard.  Its verdict goes back to the
scheduler, which parses the file and keeps the rules (`crawler.scheduler.robots.RobotsCache`):

- 2xx: "fetched", with the body (at most `downloader.max_body_size`).
- 3xx: up to 5 redirects are followed (relative Locations resolved); more, or a redirect
  without a usable Location, is "missing".
- 4xx (except 429): "missing", everything is allowed.
- 429, 5xx, network errors, timeouts: retried after each of `backoffs`; if every attempt
  fails, "unreachable", and everything on the origin is disallowed for this crawl.
- A body beyond the download limits (or undecodable): "unreachable" at once.
- A connection refused by the private-address guard: "missing" (its pages fail as
  "private address" themselves).

With the HTTP cache on (`[cache] enabled = true`), robots.txt answers are kept and reused
like pages, so a crawl can run entirely from the cache.

`LocalRobotsFetcher` fetches in the calling process instead, for a `RobotsCache` outside
a crawl (tests and tools).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import aiohttp
import yarl

from crawler.downloader.cache import HttpCache
from crawler.downloader.failures import Failed
from crawler.downloader.fetch import exchange, resolve_location
from crawler.downloader.session import make_session
from crawler.settings.schema import DownloaderSettings
from crawler.urls.fingerprint import fingerprint
from crawler.urls.statuses import REDIRECT_STATUSES
from crawler.wire.messages import FailureKind, RobotsFetched, RobotsVerdict

logger = logging.getLogger(__name__)

MAX_ROBOTS_REDIRECTS = 5  # RFC 9309 section 2.3.1.2
DEFAULT_RETRY_BACKOFFS = (0.5, 1.0)  # seconds before the 2nd and 3rd attempt

Sessions = Callable[[bool], aiohttp.ClientSession]  # public (guarded) or not -> session
SessionFactory = Callable[[], aiohttp.ClientSession]


async def fetch_robots(
    key: str,
    public: bool,
    sessions: Sessions,
    settings: DownloaderSettings,
    backoffs: Sequence[float] = DEFAULT_RETRY_BACKOFFS,
    cache: HttpCache | None = None,
) -> RobotsFetched:
    """The verdict on `key`/robots.txt after up to 1 + len(backoffs) attempts.

    `public` asks for the session that may not connect to private addresses.
    """
    outcome = RobotsFetched(key, RobotsVerdict.UNREACHABLE)
    for backoff in (None, *backoffs):
        if backoff is not None:
            outcome.retries += 1
            await asyncio.sleep(backoff)
        if not await _attempt(outcome, sessions(public), settings, cache):
            return outcome
    logger.warning(
        "robots.txt of %s is unreachable after %d attempts: not crawling %s",
        key,
        1 + len(backoffs),
        key,
    )
    outcome.verdict = RobotsVerdict.UNREACHABLE
    return outcome


class LocalRobotsFetcher:
    """Fetches robots.txt files in this process, for a `RobotsCache` outside a crawl.

    Sessions come from `session_factory` (and `public_session_factory`, for origins that
    may not reach private addresses), made on first use; by default one session as a
    downloader makes it, without the private-address guard.  `close()` closes them.
    """

    def __init__(
        self,
        settings: DownloaderSettings,
        session_factory: SessionFactory | None = None,
        public_session_factory: SessionFactory | None = None,
        backoffs: Sequence[float] = DEFAULT_RETRY_BACKOFFS,
    ) -> None:
        self.settings = settings
        self.factories = {False: session_factory, True: public_session_factory}
        self.sessions: dict[bool, aiohttp.ClientSession] = {}
        self.backoffs = tuple(backoffs)

    async def fetch(self, key: str, public: bool) -> RobotsFetched:
        """The verdict on origin `key` (a `RobotsFetcher` for `RobotsCache`)."""
        return await fetch_robots(key, public, self._session, self.settings, self.backoffs)

    def _session(self, public: bool) -> aiohttp.ClientSession:
        public = public and self.factories[True] is not None
        session = self.sessions.get(public)
        if session is None:
            factory = self.factories[public] or (lambda: make_session(self.settings))
            session = self.sessions[public] = factory()
        return session

    async def close(self) -> None:
        for session in self.sessions.values():
            await session.close()
        self.sessions.clear()


async def _attempt(
    outcome: RobotsFetched,
    session: aiohttp.ClientSession,
    settings: DownloaderSettings,
    cache: HttpCache | None,
) -> bool:
    """One attempt, following redirects; fills `outcome`, True when worth retrying."""
    key = outcome.key
    url = yarl.URL(f"{key}/robots.txt")
    for _ in range(MAX_ROBOTS_REDIRECTS + 1):
        got = await _get(session, url, settings, cache)
        if isinstance(got, Failed):
            return _failed(outcome, got)
        if isinstance(got, yarl.URL):
            outcome.redirects += 1
            url = got
        elif isinstance(got, bytes):
            outcome.verdict, outcome.body = RobotsVerdict.FETCHED, got
            return False
        elif got is not None and (got == 429 or got >= 500):
            logger.info("robots.txt of %s: status %d", key, got)
            return True
        else:
            outcome.verdict = RobotsVerdict.MISSING
            return False
    logger.info("robots.txt of %s: more than %d redirects", key, MAX_ROBOTS_REDIRECTS)
    outcome.verdict = RobotsVerdict.MISSING
    return False


def _failed(outcome: RobotsFetched, failure: Failed) -> bool:
    """What a failed exchange means for the verdict; True when worth retrying."""
    key = outcome.key
    if failure.kind == FailureKind.LIMIT:
        logger.warning("robots.txt of %s: %s; not crawling %s", key, failure.reason, key)
        outcome.verdict = RobotsVerdict.UNREACHABLE
        return False
    if failure.kind == FailureKind.REFUSED:  # its pages fail as "private address" themselves
        outcome.verdict = RobotsVerdict.MISSING
        return False
    logger.info("robots.txt of %s: %s", key, type(failure.error).__name__)
    return True


async def _get(
    session: aiohttp.ClientSession,
    url: yarl.URL,
    settings: DownloaderSettings,
    cache: HttpCache | None,
) -> Failed | yarl.URL | bytes | int | None:
    """A failure, a redirect target, a 2xx body, an error status, or None (unusable
    redirect)."""
    key = fingerprint("GET", str(url)) if cache is not None else 0
    if cache is not None:
        cached = await cache.get(key)
        if cached is not None:
            return _meaning(url, cached.status, cached.headers.get("Location"), cached.body)
    got = await exchange(session, "GET", url, settings, proxy=settings.proxy or None)
    if isinstance(got, Failed):
        return got
    response, body = got
    if cache is not None:  # kept as a page is: one entry per URL
        await cache.keep(key, response, [], body or b"")
    return _meaning(url, response.status, response.headers.get("Location"), body or b"")


def _meaning(
    url: yarl.URL, status: int, location: str | None, body: bytes
) -> yarl.URL | bytes | int | None:
    if 200 <= status < 300:
        return body
    if status in REDIRECT_STATUSES:
        return _redirect_target(url, location)
    return status


def _redirect_target(url: yarl.URL, location: str | None) -> yarl.URL | None:
    """`location` resolved against `url`, if it is an http(s) URL."""
    if not location:
        return None
    try:
        target = resolve_location(url, location)
    except ValueError:
        return None
    if target.scheme not in ("http", "https") or not target.raw_host:
        return None
    return target
