"""The downloader process: fetches pages with aiohttp on uvloop and hands them to parsers."""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import inspect
import ipaddress
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from crawler.api import hooks
from crawler.api.request import check_url, from_spec, max_retries
from crawler.downloader import netguard
from crawler.downloader.body import read_body
from crawler.downloader.cache import CachedResponse, HttpCache
from crawler.downloader.robots_fetch import fetch_robots
from crawler.downloader.session import make_session
from crawler.errors import BodyError
from crawler.failpoints import enabled, failpoint
from crawler.urls.fingerprint import fingerprint
from crawler.urls.hosts import host_key
from crawler.urls.statuses import REDIRECT_STATUSES, RETRY_STATUSES
from crawler.wire.channel import Channel, encode, open_pipe
from crawler.wire.counters import BYTES, PAGES, PID, Counters
from crawler.wire.messages import (
    FailureKind,
    Fetch,
    FetchBatch,
    Fetched,
    FetchFailed,
    FetchRobots,
    Hello,
    Page,
    ParserAddress,
    Redirected,
    RobotsFetched,
    RobotsVerdict,
    Stop,
    ToDownloader,
)
from crawler.wire.runtime import detach_from_terminal_signals, heartbeat, run_loop, setup_logging
from crawler.wire.startup import DownloaderArgs
from crawler.wire.transport import connect

logger = logging.getLogger(__name__)


def retry_after(value: str | None) -> float:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; 0 if absent or bad."""
    if not value:
        return 0.0
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (when - datetime.datetime.now(datetime.UTC)).total_seconds())


def run(args: DownloaderArgs) -> None:
    """Process target of a downloader."""
    detach_from_terminal_signals(args.parent_pid)
    run_loop(Downloader(args).main)


class PageSender(Channel):
    """A downloader's connection to one parser: the pages of one loop turn leave in one write.

    Pages that cannot be written (the connection closed before the turn ended) are
    reported to `on_unsent`, so the scheduler retries them.
    """

    def __init__(self, on_unsent: Callable[[list[Fetch], str], None]) -> None:
        super().__init__(Hello, self._unexpected)  # the parser never writes back
        self.on_unsent = on_unsent
        self.fetches: list[Fetch] = []

    def send_page(self, fetch: Fetch, page: Page | bytes) -> None:
        """Queue a page (or, in a fault test, the rest of its frame)."""
        self.fetches.append(fetch)
        if isinstance(page, bytes):
            self.send_raw(page)
        else:
            self.send(page)

    def _flush(self) -> None:
        fetches, self.fetches = self.fetches, []
        if self.transport is None or self.transport.is_closing():
            self._outbox = []
            if fetches:
                self.on_unsent(fetches, "connection closed")
            return
        super()._flush()

    @property
    def backed_up(self) -> bool:
        """Whether the socket's buffer is over its high-water mark (see `writable`)."""
        return self._paused is not None

    async def writable(self) -> None:
        """Wait while the socket is backed up (the parser is slower than the fetches)."""
        if self._paused is not None:
            await self._paused

    def _unexpected(self, message: Any) -> None:
        self.abort(ConnectionError(f"parser sent {type(message).__name__}"))


class ParserLink:
    """The connection to one parser's socket, opened on first use."""

    def __init__(self, address: ParserAddress, on_unsent: Callable[[list[Fetch], str], None]):
        self.address = address
        self.on_unsent = on_unsent
        self._sender: PageSender | None = None
        self._lock = asyncio.Lock()

    async def sender(self) -> PageSender:
        sender = self._sender
        if sender is not None and not sender.is_closing():
            return sender  # connected: no lock to take (once per page)
        async with self._lock:
            if self._sender is None or self._sender.is_closing():
                self._sender = await connect(
                    self.address.path, self.address.port, lambda: PageSender(self.on_unsent)
                )
                self._sender.send(Hello(self.address.token))
            return self._sender

    def close(self) -> None:
        if self._sender is not None:
            self._sender.close()


class Downloader:
    """Fetches what the scheduler sends; reports each lease back exactly once.

    Redirects are not followed here: each one goes back to the scheduler, which checks and
    deduplicates its target like any other URL.  Cookies are kept by the scheduler too: a
    fetch carries its Cookie header, and Set-Cookie headers are reported back.
    """

    def __init__(self, args: DownloaderArgs) -> None:
        self.args = args
        self.settings = args.settings.downloader
        self.counters = Counters(args.counters, args.slot)
        self.parsers: dict[int, ParserLink] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.sessions: dict[bool, aiohttp.ClientSession] = {}
        self.handle_status = frozenset(self.settings.handle_status)
        self.throttled = args.settings.throttle.enabled
        scope = args.settings.scope
        self.blocked = (
            None
            if scope.allow_private
            else [ipaddress.ip_network(n, strict=False) for n in scope.private_networks]
        )
        cache = args.settings.cache
        self.cache = HttpCache(cache, Path(cache.dir)) if cache.enabled else None
        # The spider's module (user code, parsel) is imported here only for its hooks.
        spider = args.spider.load() if args.spider is not None else None
        self.request_hooks = hooks.overrides(spider.hooks, "request") if spider else []
        self.out: Channel
        self.stopped: asyncio.Future[None]

    def __repr__(self) -> str:
        return f"<Downloader {self.args.index} in_flight={len(self.tasks)}>"

    async def main(self) -> None:
        self.stopped = asyncio.get_running_loop().create_future()
        self.out = await open_pipe(self.args.conn, ToDownloader, self._on_message, self._on_close)
        setup_logging(self.out, f"downloader-{self.args.index}", self.args.log_level)
        self.counters.set(PID, float(os.getpid()))
        beat = asyncio.create_task(heartbeat(self.counters))
        try:
            await self.stopped
        finally:
            beat.cancel()
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            for session in self.sessions.values():
                await session.close()
            for link in self.parsers.values():
                link.close()
            self.out.close()

    def _session(self, private: bool) -> aiohttp.ClientSession:
        """The session for requests that may (or may not) connect to private addresses."""
        session = self.sessions.get(private)
        if session is None:
            session = make_session(self.settings, blocked=None if private else self.blocked)
            self.sessions[private] = session
        return session

    def _on_message(self, message: Any) -> None:
        match message:
            case FetchBatch(fetches=fetches):
                for fetch in fetches:
                    task = asyncio.create_task(self._fetch(fetch))
                    self.tasks.add(task)
                    task.add_done_callback(self.tasks.discard)
            case FetchRobots():
                task = asyncio.create_task(self._fetch_robots(message))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            case ParserAddress(slot=slot):
                old = self.parsers.pop(slot, None)
                if old is not None:
                    old.close()
                self.parsers[slot] = ParserLink(message, self._unsent)
            case Stop():
                self._on_close(None)

    async def _fetch_robots(self, message: FetchRobots) -> None:
        """Fetch an origin's robots.txt for the scheduler, through this process's sessions."""
        key = message.key
        try:
            outcome = await fetch_robots(
                key,
                message.public,
                lambda public: self._session(not public),
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

    async def _fetch(self, fetch: Fetch) -> None:
        """Fetch one page and hand it to its parser; or report the outcome to the scheduler.

        Success is reported by the parser's acknowledgement, so a fetched page costs the
        scheduler no message of its own.
        """
        try:
            await self._fetch_and_hand(fetch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.exception("internal error fetching %s", fetch.request.url)
            self._fail(
                fetch, f"internal error: {type(exc).__name__}: {exc}", FailureKind.NETWORK, True
            )

    async def _fetch_and_hand(self, fetch: Fetch) -> None:
        request = fetch.request
        if request.failure is not None:
            # It failed for good: its errback runs in the parser, nothing is fetched.
            status = request.failure.status
            await self._hand(fetch, Page(fetch.lease, request, request.url, status, [], b""))
            return
        url, method, headers, data = request.url, request.method, request.headers, request.body
        if self.request_hooks:
            try:
                url, method, headers, data = await self._run_request_hooks(fetch)
            except Exception as exc:
                logger.error("request hook failed for %s", url, exc_info=True)
                self._fail(
                    fetch, f"hook error: {type(exc).__name__}: {exc}", FailureKind.HOOK, False
                )
                return
        if fetch.cookie and not any(k.lower() == "cookie" for k in headers):
            headers = {**headers, "Cookie": fetch.cookie}
        proxy = (request.meta.get("proxy") if request.meta else None) or self.settings.proxy
        key = 0
        if self.cache is not None and method in ("GET", "HEAD"):
            key = fingerprint(method, url, data)
            cached = await self.cache.get(key)
            if cached is not None:
                if self._wanted(fetch, cached):
                    status, final = cached.status, str(cached.url)
                    page = Page(
                        fetch.lease, request, final, status, cached.raw_headers, cached.body
                    )
                    await self._hand(fetch, page)
                return
        loop = asyncio.get_running_loop()
        started = loop.time()
        # Through a proxy we connect to the proxy (often on a private address) and it
        # resolves the target: the connect-time guard cannot apply, the link-time one does.
        session = self._session(request.private or bool(proxy))
        try:
            async with session.request(
                method,
                url,
                headers=headers or None,
                data=data or None,
                proxy=proxy or None,
                allow_redirects=False,
            ) as response:
                if self.throttled:
                    self.out.send(Fetched(host_key(url), loop.time() - started, response.status))
                if not self._wanted(fetch, response):
                    if key and response.status in REDIRECT_STATUSES:
                        assert self.cache is not None
                        await self.cache.keep(key, response, [], b"")
                    return
                settings = self.settings
                body = await read_body(
                    response, settings.max_body_size, settings.max_decompressed_size
                )
                page = Page(
                    fetch.lease,
                    request,
                    str(response.url),
                    response.status,
                    [(str(k), v) for k, v in response.headers.items()],
                    body,
                )
        except BodyError as exc:
            self._fail(fetch, str(exc), FailureKind.LIMIT, retryable=False)
            return
        except aiohttp.ConnectionTimeoutError:
            self._fail(fetch, "connect timeout", FailureKind.NETWORK, retryable=True)
            return
        except aiohttp.SocketTimeoutError:
            self._fail(fetch, "read timeout", FailureKind.NETWORK, retryable=True)
            return
        except TimeoutError:
            self._fail(fetch, "timeout", FailureKind.NETWORK, retryable=True)
            return
        except (aiohttp.ClientError, OSError) as exc:
            refused = netguard.private_error(exc)
            if refused is not None:
                self._fail(fetch, refused, FailureKind.REFUSED, retryable=False)
            else:
                self._fail(
                    fetch, f"{type(exc).__name__}: {exc}", FailureKind.NETWORK, retryable=True
                )
            return
        if key:
            assert self.cache is not None
            await self.cache.keep(key, response, page.headers, page.body)
        failpoint("downloader.after_fetch", request.url)
        await self._hand(fetch, page)

    def _wanted(self, fetch: Fetch, response: aiohttp.ClientResponse | CachedResponse) -> bool:
        """Whether the response's body goes to a parser; if not, report what happened."""
        status = response.status
        if 200 <= status < 300:
            return True
        request = fetch.request
        if status in REDIRECT_STATUSES and "Location" in response.headers:
            try:
                location = str(response.url.join(URL(response.headers["Location"].strip())))
            except ValueError as exc:
                self._fail(
                    fetch, f"bad redirect Location: {exc}", FailureKind.REDIRECT, False, status
                )
                return False
            cookies = response.headers.getall("Set-Cookie", ()) if self.settings.cookies else ()
            self.out.send(
                Redirected(fetch.lease, status, location, str(response.url), list(cookies))
            )
            return False
        retries_left = request.attempts < max_retries(request, self.settings.retries)
        retry = status in RETRY_STATUSES and retries_left
        if not retry and self._handles(request.meta, status):
            return True
        # Also when out of retries: a 429/503 pauses its host for its Retry-After.
        wait = retry_after(response.headers.get("Retry-After")) if status in RETRY_STATUSES else 0.0
        self.out.send(
            FetchFailed(fetch.lease, f"HTTP {status}", FailureKind.HTTP, retry, status, wait)
        )
        return False

    def _handles(self, meta: dict[str, Any], status: int) -> bool:
        """Whether the spider asked for responses with this (non-2xx) status."""
        if status in self.handle_status:
            return True
        if not meta:
            return False
        if meta.get("handle_all_status") is True:
            return True
        wanted = meta.get("handle_status")
        return isinstance(wanted, list) and status in wanted

    async def _run_request_hooks(self, fetch: Fetch) -> tuple[str, str, dict[str, str], bytes]:
        """Run the spider's request hooks on a copy of the request; return what to send."""
        request = from_spec(fetch.request)
        for hook in self.request_hooks:
            result = hook.request(request)
            if inspect.isawaitable(result):
                result = await result
            if not isinstance(result, type(request)):
                raise TypeError(
                    f"{type(hook).__name__}.request() returned {type(result).__name__}, "
                    "not a Request"
                )
            request = result
        check_url(request.url)
        body = request.body.encode() if isinstance(request.body, str) else request.body
        return request.url, request.method, dict(request.headers), body or b""

    async def _hand(self, fetch: Fetch, page: Page) -> None:
        """Queue the page for its parser's socket; it is written, whole, when this turn of
        the event loop ends, together with the other pages fetched in the same turn."""
        link = self.parsers.get(fetch.parser)
        if link is None:
            self._fail(
                fetch, f"parser {fetch.parser} has no address", FailureKind.PARSER, retryable=True
            )
            return
        message: Page | bytes = page
        try:
            sender = await link.sender()
            if enabled("downloader.mid_frame"):
                frame = encode(page)
                half = len(frame) // 2
                sender.send_raw(frame[:half])
                await sender.drain()
                failpoint("downloader.mid_frame", page.url)
                message = frame[half:]
        except (OSError, ConnectionError) as exc:
            link.close()
            self._fail(
                fetch,
                f"parser {fetch.parser} unreachable: {exc}",
                FailureKind.PARSER,
                retryable=True,
            )
            return
        sender.send_page(fetch, message)
        if sender.backed_up:
            await sender.writable()
        if page.request.failure is None:  # (an errback's delivery is not a page)
            self.counters.add(PAGES)
            self.counters.add(BYTES, len(page.body))

    def _unsent(self, fetches: list[Fetch], reason: str) -> None:
        for fetch in fetches:
            self._fail(
                fetch, f"parser {fetch.parser} unreachable: {reason}", FailureKind.PARSER, True
            )

    def _fail(
        self, fetch: Fetch, reason: str, kind: FailureKind, retryable: bool, status: int = 0
    ) -> None:
        self.out.send(FetchFailed(fetch.lease, reason, kind, retryable, status))
