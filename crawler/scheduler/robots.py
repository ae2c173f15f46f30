"""robots.txt rules per origin (RFC 9309): the scheduler's cache of them.

An origin is scheme, host and port: `http://a.test` and `http://a.test:8080` have separate
robots.txt files.  Each origin is fetched at most once per crawl.  In a crawl the fetch
runs in a downloader (`crawler.downloader.robots_fetch`, which says what each status means), so the
scheduler never imports an HTTP client; the verdict comes back here:

- "fetched": the first 500 KiB are parsed (Protego) for our User-Agent product token.
- "missing": everything is allowed.
- "unreachable": everything on the origin is disallowed for this crawl.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Literal, TypeAlias

import yarl
from protego import Protego

from crawler.settings.schema import DownloaderSettings, user_agent
from crawler.wire.messages import RobotsFetched, RobotsVerdict

logger = logging.getLogger(__name__)

RobotsState = Literal["unknown", "fetching", "ready"]
Rules: TypeAlias = Protego | bool  # parsed rules, or True (allow all) / False (disallow all)
# (origin, public) -> verdict; `public`: may not connect to private addresses
RobotsFetcher: TypeAlias = Callable[[str, bool], Awaitable[RobotsFetched]]

MAX_ROBOTS_SIZE = 500 * 1024  # bytes parsed; the rest is ignored (RFC 9309 section 2.5)
_THREAD_PARSE_SIZE = 64 * 1024  # parse larger files off the event loop


def robots_agent(settings: DownloaderSettings) -> str:
    """The product token matched against User-agent lines: `crawler` for `crawler/0.1 (...)`."""
    words = user_agent(settings).split()
    return words[0].split("/", 1)[0] if words else ""


@functools.lru_cache(maxsize=65536)
def _origin(scheme: str, netloc: str) -> str:
    url = yarl.URL.build(scheme=scheme.lower(), authority=netloc)
    if url.scheme not in ("http", "https") or not url.raw_host:
        raise ValueError(f"not an http(s) URL: {scheme}://{netloc}")
    return str(url.origin())


class RobotsCache:
    """The robots.txt rules of every origin seen; one background fetch per origin.

    Runs inside one event loop (the scheduler's).  `fetcher` gets the verdict on an origin:
    in a crawl the scheduler asks a downloader; outside one,
    `crawler.downloader.robots_fetch.LocalRobotsFetcher` fetches it in this process.
    `on_ready(key)` is called when an origin's rules become ready, so requests held for
    it can be released.
    """

    def __init__(
        self,
        settings: DownloaderSettings,
        fetcher: RobotsFetcher,
        on_ready: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.agent = robots_agent(settings)
        self._fetcher = fetcher
        self._on_ready = on_ready
        self._rules: dict[str, Rules] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stats = dict.fromkeys(
            ("fetched", "missing", "unreachable", "retries", "redirects", "truncated"), 0
        )

    @staticmethod
    def key(url: str) -> str:
        """The robots origin of `url`: `scheme://host[:port]`, lower-case, default port dropped.

        Raises ValueError for a URL that is not absolute http(s).
        """
        scheme, sep, rest = url.partition("://")
        if not sep:
            raise ValueError(f"not an absolute URL: {url!r}")
        netloc = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
        return _origin(scheme, netloc)

    def state(self, key: str) -> RobotsState:
        """Whether the rules of origin `key` are unknown, being fetched, or ready."""
        if key in self._rules:
            return "ready"
        task = self._tasks.get(key)
        return "fetching" if task is not None and not task.done() else "unknown"

    def start(self, key: str, private: bool = True) -> asyncio.Task[None]:
        """Fetch the rules of origin `key` in the background (idempotent); await to wait.

        Call it from the event loop.  For a ready origin it returns a no-op task.  With
        `private` False the fetch may not connect to private addresses; a refused origin
        counts as "missing".
        """
        task = self._tasks.get(key)
        if task is None or task.done():  # done here: cancelled before it ran
            coro = _noop() if key in self._rules else self._fetch(key, not private)
            task = asyncio.get_running_loop().create_task(coro, name=f"robots {key}")
            if key not in self._rules:
                self._tasks[key] = task
        return task

    def allowed(self, url: str) -> bool:
        """Whether our User-Agent may fetch `url`; LookupError unless its origin is ready."""
        key = self.key(url)
        rules = self._rules.get(key)
        if rules is None:
            raise LookupError(f"robots.txt of {key} is not ready")
        if isinstance(rules, bool):
            return rules
        return rules.can_fetch(url, self.agent)

    def crawl_delay(self, key: str) -> float | None:
        """Seconds between requests asked by origin `key` (Crawl-delay or Request-rate), if any."""
        rules = self._rules.get(key)
        if not isinstance(rules, Protego):
            return None
        delays = []
        crawl_delay = rules.crawl_delay(self.agent)
        if crawl_delay is not None:
            delays.append(float(crawl_delay))
        rate = rules.request_rate(self.agent)
        if rate is not None:
            delays.append(rate.seconds / rate.requests)
        return max(delays) if delays else None

    def stats(self) -> dict[str, int]:
        """Counters: origins fetched (2xx), missing (allow all), unreachable (disallow all);
        attempts retried, redirects followed, files truncated to 500 KiB."""
        return dict(self._stats)

    async def close(self) -> None:
        """Cancel the fetches in flight."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def _fetch(self, key: str, public: bool) -> None:
        try:
            rules = await self._settle(await self._fetcher(key, public))
        except Exception:
            logger.exception("robots.txt of %s: unexpected error; not crawling %s", key, key)
            self._stats["unreachable"] += 1
            rules = False
        finally:
            if self._tasks.get(key) is asyncio.current_task():
                del self._tasks[key]  # also when cancelled: a later start() fetches again
        self._rules[key] = rules
        if self._on_ready is not None:
            try:
                self._on_ready(key)
            except Exception:
                logger.exception("robots.txt of %s: on_ready failed", key)

    async def _settle(self, outcome: RobotsFetched) -> Rules:
        """Count the verdict; parse a fetched file."""
        stats = self._stats
        stats["retries"] += outcome.retries
        stats["redirects"] += outcome.redirects
        if outcome.verdict == RobotsVerdict.FETCHED:
            stats["fetched"] += 1
            return await self._parse(outcome.body)
        if outcome.verdict == RobotsVerdict.MISSING:
            stats["missing"] += 1
            return True
        stats["unreachable"] += 1
        return False

    async def _parse(self, body: bytes) -> Protego:
        if len(body) > MAX_ROBOTS_SIZE:
            self._stats["truncated"] += 1
            body = body[:MAX_ROBOTS_SIZE].rpartition(b"\n")[0]  # no partial last line
        text = body.decode("utf-8-sig", errors="replace")
        if len(text) > _THREAD_PARSE_SIZE:
            return await asyncio.to_thread(Protego.parse, text)
        return Protego.parse(text)


async def _noop() -> None:
    pass
