"""The downloader process: fetches pages with aiohttp on uvloop and hands them to parsers."""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import logging
import os
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

from crawler import __version__
from crawler.channel import Channel, encode, open_pipe
from crawler.counters import BYTES, PAGES, PID, Counters
from crawler.failpoints import enabled, failpoint
from crawler.messages import (
    Fetch,
    FetchBatch,
    FetchFailed,
    Hello,
    Page,
    ParserAddress,
    Stop,
    ToDownloader,
)
from crawler.settings import Settings
from crawler.transport import connect
from crawler.worker import detach_from_terminal_signals, heartbeat, run_loop, setup_logging

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 522, 524})


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


@dataclass(frozen=True)
class DownloaderArgs:
    """What a downloader receives at spawn."""

    index: int
    slot: int
    settings: Settings
    conn: Connection
    counters: Any
    parent_pid: int
    log_level: int


def run(args: DownloaderArgs) -> None:
    """Process target of a downloader."""
    detach_from_terminal_signals(args.parent_pid)
    run_loop(Downloader(args).main)


class _TooLarge(Exception):
    pass


class ParserLink:
    """The connection to one parser's socket, opened on first use."""

    def __init__(self, address: ParserAddress) -> None:
        self.address = address
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    async def writer(self) -> asyncio.StreamWriter:
        async with self._lock:
            if self._writer is None or self._writer.is_closing():
                _reader, writer = await connect(self.address.path, self.address.port)
                writer.write(encode(Hello(self.address.token)))
                self._writer = writer
            return self._writer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


class Downloader:
    """Fetches what the scheduler sends; reports each lease back exactly once."""

    def __init__(self, args: DownloaderArgs) -> None:
        self.args = args
        self.settings = args.settings.downloader
        self.counters = Counters(args.counters, args.slot)
        self.parsers: dict[int, ParserLink] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.out: Channel
        self.session: aiohttp.ClientSession
        self.stopped: asyncio.Future[None]

    def __repr__(self) -> str:
        return f"<Downloader {self.args.index} in_flight={len(self.tasks)}>"

    async def main(self) -> None:
        self.stopped = asyncio.get_running_loop().create_future()
        self.session = self._session()
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
            await self.session.close()
            for link in self.parsers.values():
                link.close()
            self.out.close()

    def _session(self) -> aiohttp.ClientSession:
        agent = (
            self.settings.user_agent or f"crawler/{__version__} (+https://pypi.org/project/crawler)"
        )
        connector = aiohttp.TCPConnector(limit=self.settings.concurrency, limit_per_host=0)
        return aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.settings.timeout),
            headers={"User-Agent": agent},
        )

    def _on_message(self, message: Any) -> None:
        match message:
            case FetchBatch(fetches=fetches):
                for fetch in fetches:
                    task = asyncio.create_task(self._fetch(self.session, fetch))
                    self.tasks.add(task)
                    task.add_done_callback(self.tasks.discard)
            case ParserAddress(slot=slot):
                old = self.parsers.pop(slot, None)
                if old is not None:
                    old.close()
                self.parsers[slot] = ParserLink(message)
            case Stop():
                self._on_close(None)

    def _on_close(self, error: BaseException | None) -> None:
        """Stop, or the scheduler's end of the Pipe closed: finish."""
        if not self.stopped.done():
            self.stopped.set_result(None)

    async def _fetch(self, session: aiohttp.ClientSession, fetch: Fetch) -> None:
        """Fetch one page and hand it to its parser; or report the failure to the scheduler.

        Success is reported by the parser's acknowledgement, so a fetched page costs the
        scheduler no message of its own.
        """
        try:
            await self._fetch_and_hand(session, fetch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.exception("internal error fetching %s", fetch.request.url)
            self._fail(fetch, f"internal error: {type(exc).__name__}: {exc}", "network", True)

    async def _fetch_and_hand(self, session: aiohttp.ClientSession, fetch: Fetch) -> None:
        request = fetch.request
        try:
            async with session.request(
                request.method,
                request.url,
                headers=request.headers or None,
                data=request.body or None,
            ) as response:
                body = await self._read(response)
                page = Page(
                    fetch.lease,
                    request,
                    str(response.url),
                    response.status,
                    [(str(k), v) for k, v in response.headers.items()],
                    body,
                )
        except _TooLarge as exc:
            self._fail(fetch, str(exc), "limit", retryable=False)
            return
        except TimeoutError:
            self._fail(fetch, "timeout", "network", retryable=True)
            return
        except aiohttp.ClientError as exc:
            self._fail(fetch, f"{type(exc).__name__}: {exc}", "network", retryable=True)
            return
        failpoint("downloader.after_fetch", request.url)
        if page.status >= 400:
            retry = page.status in RETRY_STATUSES
            wait = retry_after(dict(page.headers).get("Retry-After")) if retry else 0.0
            self.out.send(
                FetchFailed(fetch.lease, f"HTTP {page.status}", "http", retry, page.status, wait)
            )
            return
        await self._hand(fetch, page)

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        limit = self.settings.max_body_size
        if response.content_length is not None and response.content_length > limit:
            raise _TooLarge(
                f"body of {response.content_length} bytes exceeds max_body_size {limit}"
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise _TooLarge(f"body exceeds max_body_size {limit}")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _hand(self, fetch: Fetch, page: Page) -> None:
        """Write the page whole to its parser's socket, then tell the scheduler."""
        link = self.parsers.get(fetch.parser)
        if link is None:
            self._fail(fetch, f"parser {fetch.parser} has no address", "parser", retryable=True)
            return
        frame = encode(page)
        try:
            writer = await link.writer()
            if enabled("downloader.mid_frame"):
                half = len(frame) // 2
                writer.write(frame[:half])
                await writer.drain()
                failpoint("downloader.mid_frame", page.url)
                frame = frame[half:]
            writer.write(frame)
            await writer.drain()
        except (OSError, ConnectionError) as exc:
            link.close()
            self._fail(fetch, f"parser {fetch.parser} unreachable: {exc}", "parser", retryable=True)
            return
        self.counters.add(PAGES)
        self.counters.add(BYTES, len(page.body))

    def _fail(self, fetch: Fetch, reason: str, kind: str, retryable: bool, status: int = 0) -> None:
        self.out.send(FetchFailed(fetch.lease, reason, kind, retryable, status))
