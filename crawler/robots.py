"""robots.txt rules per origin, fetched in the background by the scheduler (RFC 9309).

An origin is scheme, host and port: `http://a.test` and `http://a.test:8080` have separate
robots.txt files.  Each origin is fetched at most once per crawl:

- 2xx: the first 500 KiB are parsed (Protego) for our User-Agent product token.
- 3xx: up to 5 redirects are followed (relative Locations resolved); more, or a redirect
  without a usable Location, count as "missing".
- 4xx (except 429): "missing", everything is allowed.
- 429, 5xx, network errors, timeouts: retried (after `retry_backoffs`); if every attempt
  fails the origin is "unreachable" and everything on it is disallowed for this crawl.
- A body beyond `downloader.max_body_size` (or undecodable): "unreachable" at once.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from typing import Literal, TypeAlias

import aiohttp
import yarl
from protego import Protego

from crawler.body import BodyError, read_body
from crawler.http import make_session, user_agent
from crawler.netguard import private_error
from crawler.settings import DownloaderSettings

logger = logging.getLogger(__name__)

RobotsState = Literal["unknown", "fetching", "ready"]
Rules: TypeAlias = Protego | bool  # parsed rules, or True (allow all) / False (disallow all)

MAX_ROBOTS_SIZE = 500 * 1024  # bytes parsed; the rest is ignored (RFC 9309 section 2.5)
MAX_ROBOTS_REDIRECTS = 5  # RFC 9309 section 2.3.1.2
DEFAULT_RETRY_BACKOFFS = (0.5, 1.0)  # seconds before the 2nd and 3rd attempt
_THREAD_PARSE_SIZE = 64 * 1024  # parse larger files off the event loop
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class _Retry:
    """The attempt failed in a way worth retrying (5xx, 429, network error, timeout)."""


_RETRY = _Retry()


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

    Runs inside one event loop (the scheduler's).  `on_ready(key)` is called when an
    origin's rules become ready, so requests held for it can be released.
    """

    def __init__(
        self,
        settings: DownloaderSettings,
        session_factory: Callable[[], aiohttp.ClientSession] | None = None,
        on_ready: Callable[[str], None] | None = None,
        retry_backoffs: Sequence[float] = DEFAULT_RETRY_BACKOFFS,
        public_session_factory: Callable[[], aiohttp.ClientSession] | None = None,
    ) -> None:
        self.settings = settings
        self.agent = robots_agent(settings)
        self._session_factory = session_factory or (lambda: make_session(settings))
        self._session: aiohttp.ClientSession | None = None
        # Origins first asked for by requests that may not reach private addresses are
        # fetched through a session that refuses them (`scope.private_networks`).
        self._public_factory = public_session_factory
        self._public_session: aiohttp.ClientSession | None = None
        self._public: set[str] = set()
        self._on_ready = on_ready
        self._backoffs = tuple(retry_backoffs)
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
        `private` False the fetch may not connect to private addresses (when a public
        session factory was given); a refused origin counts as "missing".
        """
        if not private and self._public_factory is not None:
            self._public.add(key)
        task = self._tasks.get(key)
        if task is None or task.done():  # done here: cancelled before it ran
            coro = _noop() if key in self._rules else self._fetch(key)
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
        """Cancel the fetches in flight and close the session."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        for session in (self._session, self._public_session):
            if session is not None:
                await session.close()
        self._session = self._public_session = None

    async def _fetch(self, key: str) -> None:
        try:
            rules = await self._fetch_rules(key)
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

    async def _fetch_rules(self, key: str) -> Rules:
        """The rules of `key` after up to 1 + len(backoffs) attempts."""
        for backoff in (None, *self._backoffs):
            if backoff is not None:
                self._stats["retries"] += 1
                await asyncio.sleep(backoff)
            outcome = await self._attempt(key)
            if not isinstance(outcome, _Retry):
                return outcome
        logger.warning(
            "robots.txt of %s is unreachable after %d attempts: not crawling %s",
            key,
            1 + len(self._backoffs),
            key,
        )
        self._stats["unreachable"] += 1
        return False

    async def _attempt(self, key: str) -> Rules | _Retry:
        """One attempt: fetch `key`/robots.txt, following redirects."""
        url = yarl.URL(f"{key}/robots.txt")
        for _ in range(MAX_ROBOTS_REDIRECTS + 1):
            try:
                outcome = await self._get(url, key in self._public)
            except BodyError as error:
                logger.warning("robots.txt of %s: %s; not crawling %s", key, error, key)
                self._stats["unreachable"] += 1
                return False
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                if private_error(error) is not None:
                    return self._missing()  # its pages fail as "private address" themselves
                logger.info("robots.txt of %s: %s", key, error.__class__.__name__)
                return _RETRY
            if not isinstance(outcome, yarl.URL):
                return await self._settle(key, outcome)
            self._stats["redirects"] += 1
            url = outcome
        logger.info("robots.txt of %s: more than %d redirects", key, MAX_ROBOTS_REDIRECTS)
        return self._missing()

    async def _get(self, url: yarl.URL, public: bool) -> yarl.URL | bytes | int | None:
        """A redirect target, a 2xx body, an error status, or None (unusable redirect)."""
        session = self._get_public_session() if public else self._get_session()
        proxy = self.settings.proxy or None
        async with session.get(url, allow_redirects=False, proxy=proxy) as response:
            status = response.status
            if 200 <= status < 300:
                return await read_body(
                    response, self.settings.max_body_size, self.settings.max_decompressed_size
                )
            if status in _REDIRECT_STATUSES:
                return _redirect_target(url, response.headers.get("Location"))
            return status

    async def _settle(self, key: str, outcome: bytes | int | None) -> Rules | _Retry:
        if isinstance(outcome, bytes):
            self._stats["fetched"] += 1
            return await self._parse(outcome)
        if outcome is not None and (outcome == 429 or outcome >= 500):
            logger.info("robots.txt of %s: status %d", key, outcome)
            return _RETRY
        return self._missing()

    def _missing(self) -> bool:
        self._stats["missing"] += 1
        return True

    async def _parse(self, body: bytes) -> Protego:
        if len(body) > MAX_ROBOTS_SIZE:
            self._stats["truncated"] += 1
            body = body[:MAX_ROBOTS_SIZE].rpartition(b"\n")[0]  # no partial last line
        text = body.decode("utf-8-sig", errors="replace")
        if len(text) > _THREAD_PARSE_SIZE:
            return await asyncio.to_thread(Protego.parse, text)
        return Protego.parse(text)

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = self._session_factory()
        return self._session

    def _get_public_session(self) -> aiohttp.ClientSession:
        assert self._public_factory is not None
        if self._public_session is None:
            self._public_session = self._public_factory()
        return self._public_session


def _redirect_target(url: yarl.URL, location: str | None) -> yarl.URL | None:
    """`location` resolved against `url`, if it is an http(s) URL."""
    if not location:
        return None
    try:
        target = url.join(yarl.URL(location))
    except ValueError:
        return None
    if target.scheme not in ("http", "https") or not target.raw_host:
        return None
    return target


async def _noop() -> None:
    pass
