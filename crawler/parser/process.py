"""The parser process: runs spider callbacks on fetched pages and commits their items.

Pages arrive on this parser's own socket.  Each page's items are written as one contiguous
chunk to this process's part file; then the page is acknowledged to the scheduler with the
chunk's byte range and the requests found on it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiofiles
import msgspec

from crawler.api import hooks
from crawler.api.request import Failure, Request, from_spec, to_spec
from crawler.api.response import Response
from crawler.api.spider import Spider
from crawler.errors import ExitCode, PageError, Retry
from crawler.failpoints import enabled, failpoint
from crawler.journal.parts import INVALID_MARK
from crawler.urls.fingerprint import fingerprint
from crawler.urls.scope import Scope
from crawler.wire.channel import Channel, open_pipe
from crawler.wire.counters import CURRENT, ITEMS, PAGES, PID, Counters
from crawler.wire.messages import (
    Hello,
    Page,
    PageDone,
    PageFailed,
    ParserReady,
    RequestSpec,
    Stop,
    ToParser,
    ToParserControl,
)
from crawler.wire.runtime import detach_from_terminal_signals, heartbeat, run_loop, setup_logging
from crawler.wire.startup import ParserArgs
from crawler.wire.transport import listen, peer_is_us, remove_socket

logger = logging.getLogger(__name__)

_INLINE_WRITE = 256 * 1024
_TURN_PAGES = 16
_TURN_SECONDS = 0.003


def run(args: ParserArgs) -> None:
    """Process target of a parser."""
    detach_from_terminal_signals(args.parent_pid)
    limit = args.settings.limits.parser_memory_mb
    if limit:
        # Address space, not resident memory: a callback that allocates without bound gets
        # a MemoryError (its page fails) instead of taking the machine down.
        resource.setrlimit(resource.RLIMIT_AS, (limit * 2**20, limit * 2**20))
    run_loop(Parser(args).main)


class Parser:
    """Parses pages one at a time and commits their items in batches."""

    def __init__(self, args: ParserArgs) -> None:
        self.args = args
        self.counters = Counters(args.counters, args.slot)
        self.spider: Spider = args.spider.load()(**args.spider_args)
        self.response_hooks = hooks.overrides(type(self.spider).hooks, "response")
        self.keep_cookies = args.settings.downloader.cookies
        self.scope = Scope(args.settings, self.spider)
        self.pages: asyncio.Queue[Page] = asyncio.Queue()
        self.pending: list[tuple[bytes, PageDone]] = []
        self.wake = asyncio.Event()
        self.part_name = f"{args.index}-{time.time_ns()}.jsonl"
        self.offset = 0
        self.encoder = msgspec.json.Encoder()
        self.schema = type(self.spider).item_schema
        self.connections: set[PageReceiver] = set()
        self.batch_started = time.perf_counter()  # when the oldest uncommitted page was parsed
        self.out: Channel
        self.stopped: asyncio.Future[None]

    def __repr__(self) -> str:
        return f"<Parser {self.args.index} queued={self.pages.qsize()} offset={self.offset}>"

    async def main(self) -> None:
        self.stopped = asyncio.get_running_loop().create_future()
        self.out = await open_pipe(self.args.conn, ToParserControl, self._on_control, self._stop)
        setup_logging(self.out, f"parser-{self.args.index}", self.args.log_level)
        self.counters.set(PID, float(os.getpid()))
        part_path = Path(self.args.parts_dir) / self.part_name
        async with aiofiles.open(part_path, "ab", buffering=0) as part:
            server, path, port = await listen(
                self.args.transport, Path(self.args.socket_path), lambda: PageReceiver(self)
            )
            self.out.send(ParserReady(path, port))
            tasks = [
                asyncio.create_task(heartbeat(self.counters)),
                asyncio.create_task(self._work()),
                asyncio.create_task(self._commit(part)),
            ]
            try:
                await self.stopped
            finally:
                server.close()
                remove_socket(path)
                for connection in list(self.connections):
                    connection.close()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                self.out.close()

    def _on_control(self, message: Any) -> None:
        if isinstance(message, Stop):
            self._stop(None)

    def _stop(self, error: BaseException | None) -> None:
        """Stop, or the scheduler's end of the Pipe closed: finish."""
        if not self.stopped.done():
            self.stopped.set_result(None)

    async def _work(self) -> None:
        while True:
            if self.pages.empty():
                await self._commit_now()  # nothing to parse: what is parsed goes out at once
                page = await self.pages.get()
            else:
                page = self.pages.get_nowait()
            self.counters.set(CURRENT, float(page.lease))
            await self._parse(page)
            self.counters.set(CURRENT, 0.0)
            if self._batch_is_due():
                await self._commit_now()
            elif self.pages.empty():
                await asyncio.sleep(0)  # let the sockets deliver more pages first

    def _batch_is_due(self) -> bool:
        """Whether the parsed pages must be committed before the next page is parsed.

        An idle parser commits each page at once (a chain of pages moves at full speed), and
        so does a busy one for a page that found new requests: the crawl may be waiting for
        them (a listing page's next page and products).  Otherwise a busy parser commits the
        pages it parsed together, holding none back for more than a few milliseconds, and
        so saves a write and a wake-up of the scheduler per page.
        """
        return (
            len(self.pending) >= _TURN_PAGES
            or bool(self.pending and self.pending[-1][1].requests)
            or time.perf_counter() - self.batch_started >= _TURN_SECONDS
        )

    async def _commit_now(self) -> None:
        """Hand the parsed pages to the commit task and let it run."""
        if self.pending:
            self.wake.set()
            await asyncio.sleep(0)

    async def _parse(self, page: Page) -> None:
        """Run the callback; queue the page's commit, or report its failure."""
        try:
            chunk, count, invalid, requests, filtered, warning = await self._run_callback(page)
        except Retry as exc:
            logger.info("retry of %s requested: %s", page.url, exc.reason)
            self.out.send(PageFailed(page.lease, f"retry requested: {exc.reason}", retry=True))
            self.out.flush()
            return
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            spec = page.request
            role = "errback" if spec.failure is not None else "callback"
            name = _method(spec)
            logger.error(
                "spider error processing %s (%s %s): %s",
                page.url,
                role,
                name,
                reason,
                exc_info=not isinstance(exc, PageError),
            )
            self.out.send(PageFailed(page.lease, f"{role} error: {reason}"))
            self.out.flush()
            return
        self.counters.add(PAGES)
        self.counters.add(ITEMS, count)
        done = PageDone(page.lease, page.status, self.part_name, 0, 0, count, requests, filtered)
        if invalid:
            done.invalid = invalid
            logger.warning("%s: %d items failed the item_schema", page.url, invalid)
        if self.keep_cookies:
            done.cookies = [
                v for k, v in page.headers if len(k) == 10 and k.lower() == "set-cookie"
            ]
        if warning is not None:
            done.warnings = [warning]
        if not self.pending:
            self.batch_started = time.perf_counter()
        self.pending.append((chunk, done))

    async def _run_callback(
        self, page: Page
    ) -> tuple[bytes, int, int, list[RequestSpec], dict[str, int], str | None]:
        spec = page.request
        failure = spec.failure
        response: Response | None = None
        argument: Response | Failure
        if failure is not None:
            name = spec.errback
            argument = Failure(from_spec(spec), failure.reason, failure.kind, failure.status)
        else:
            name = spec.callback
            argument = response = await self._response(page)
        callback = getattr(self.spider, name, None)
        if not callable(callback):
            raise PageError(f"spider has no callback {name!r}")
        collected = _Collected(self, page)
        result = callback(argument) if failure is not None else callback(argument, **spec.cb_kwargs)
        await each_output(result, collected.add)
        warning = response.encoding_warning if response is not None else None
        if warning is not None:
            logger.info("%s: %s", page.url, warning)
        return (
            b"".join(collected.lines + collected.invalid),
            len(collected.lines),
            len(collected.invalid),
            collected.requests,
            collected.filtered,
            None if warning is None else "charset",
        )

    async def _response(self, page: Page) -> Response:
        """The page's `Response`, after the spider's response hooks."""
        response = Response(page.url, page.status, page.headers, page.body, from_spec(page.request))
        return await run_response_hooks(self.response_hooks, response)

    def admit(self, request: Request, parent: RequestSpec) -> RequestSpec | str:
        """The wire form of a request found on a page, or the reason it is filtered."""
        spec = to_spec(self.spider, request, parent.depth + 1)
        reason = self.scope.check(spec.url, spec.depth, parent.url, parent.private)
        if reason is not None:
            return reason
        spec.private = parent.private  # only a private start (or allow_private) opens them
        if not spec.dont_filter:
            spec.fingerprint = fingerprint(spec.method, spec.url, spec.body, self.scope.strip)
        return spec

    async def _commit(self, part: Any) -> None:
        """Write queued pages' chunks in one write, then acknowledge each page."""
        try:
            await self._commit_forever(part)
        except Exception:
            # Without this task no page would ever be acknowledged: die, so the scheduler
            # requeues this parser's pages and starts another.
            logger.critical("parser commit loop failed", exc_info=True)
            await self.out.drain()
            os._exit(ExitCode.BROKEN_WORKER)  # the scheduler restarts the parser

    async def _commit_forever(self, part: Any) -> None:
        last_sync = time.monotonic()
        interval = self.args.settings.journal.fsync_interval
        syncing: asyncio.Future[None] | None = None
        while True:
            await self.wake.wait()
            self.wake.clear()
            batch, self.pending = self.pending, []
            data = b"".join(chunk for chunk, _ in batch)
            try:
                await self._write(part, data, batch[0][1].lease if batch else 0)
            except OSError as exc:
                logger.critical("cannot write items to %s: %s", self.part_name, exc)
                await self.out.drain()
                os._exit(ExitCode.FATAL)  # the scheduler aborts the crawl (disk full)
            failpoint("parser.after_write")
            for chunk, done in batch:
                done.start, done.end = self.offset, self.offset + len(chunk)
                self.offset = done.end
            failpoint("parser.before_ack")
            for _, done in batch:
                self.out.send(done)
            # Now: the loop's turn ends only when the parser runs out of queued pages.
            self.out.flush()
            if time.monotonic() - last_sync >= interval and (syncing is None or syncing.done()):
                # In a thread, not awaited: acknowledgements do not wait for the disk.
                syncing = asyncio.get_running_loop().run_in_executor(None, os.fsync, part.fileno())
                syncing.add_done_callback(_report_sync)
                last_sync = time.monotonic()

    async def _write(self, part: Any, data: bytes, lease: int) -> None:
        """Append `data` whole; small batches inline (a page-cache copy costs microseconds,
        a thread hop about 50), large ones through aiofiles' thread."""
        if enabled("parser.mid_chunk") and data:
            os.write(part.fileno(), data[: len(data) // 2])
            failpoint("parser.mid_chunk")
            data = data[len(data) // 2 :]
        view = memoryview(data)
        while view:
            if len(view) <= _INLINE_WRITE:
                written = os.write(part.fileno(), view)
            else:
                written = await part.write(view)
            view = view[written:]


def _report_sync(done: asyncio.Future[None]) -> None:
    if not done.cancelled() and done.exception() is not None:
        logger.warning("fsync of the part file failed: %s", done.exception())


class PageReceiver(Channel):
    """One downloader's connection: a Hello with the crawl's token, then pages.

    Strangers (another uid), connections without the token, junk and oversized frames are
    closed and logged; the parser goes on serving the others.
    """

    HELLO_TIMEOUT = 10.0

    def __init__(self, parser: Parser) -> None:
        downloader = parser.args.settings.downloader
        limit = max(downloader.max_body_size, downloader.max_decompressed_size) + 1024 * 1024
        super().__init__(ToParser, self._deliver, self._closed, max_frame=limit)
        self.parser = parser
        self.greeted = False
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.parser.connections.add(self)
        if not peer_is_us(transport):
            self.abort(PermissionError("refused a connection from another user"))
            return
        self.timer = asyncio.get_running_loop().call_later(
            self.HELLO_TIMEOUT, self.abort, TimeoutError("no Hello in time")
        )

    def _deliver(self, message: Any) -> None:
        if self.greeted:
            if isinstance(message, Page):
                self.parser.pages.put_nowait(message)
            return
        if isinstance(message, Hello) and message.token == self.parser.args.token:
            self.greeted = True
            if self.timer is not None:
                self.timer.cancel()
            return
        self.abort(PermissionError("refused a connection without the crawl's token"))

    def _closed(self, error: BaseException | None) -> None:
        self.parser.connections.discard(self)
        if self.timer is not None:
            self.timer.cancel()
        if error is not None:
            logger.warning("closed a bad connection: %s", error)


class _Collected:
    """What one callback produced: encoded item lines, requests and filter counts."""

    def __init__(self, parser: Parser, page: Page) -> None:
        self.parser = parser
        self.page = page
        self.lines: list[bytes] = []
        self.invalid: list[bytes] = []  # items that failed the item_schema, marked
        self.requests: list[RequestSpec] = []
        self.filtered: dict[str, int] = {}

    def add(self, output: Any) -> None:
        if output is None:
            return
        if isinstance(output, Request):
            admitted = self.parser.admit(output, self.page.request)
            if isinstance(admitted, str):
                self.filtered[admitted] = self.filtered.get(admitted, 0) + 1
            else:
                self.requests.append(admitted)
            return
        if not is_item(output):
            raise PageError(
                f"{_method(self.page.request)}() yielded {type(output).__name__} at "
                f"{self.page.url}; expected an item (dict or dataclass) or a Request"
            )
        schema = self.parser.schema
        if schema is not None:
            try:
                output = msgspec.convert(output, schema, from_attributes=True)
            except msgspec.ValidationError as exc:
                self._invalid(output, str(exc))
                return
        try:
            line = self.parser.encoder.encode(output) + b"\n"
        except (TypeError, ValueError) as exc:
            raise PageError(
                f"item {len(self.lines)} from {_method(self.page.request)}() at {self.page.url} "
                f"cannot be serialised: {exc}"
            ) from exc
        self.lines.append(line)
        failpoint("parser.after_item", self.page.url)

    def _invalid(self, item: Any, reason: str) -> None:
        """Keep an item that failed the item_schema apart: a marked line of the same chunk."""
        record = {"url": self.page.url, "callback": _method(self.page.request), "error": reason}
        try:
            line = self.parser.encoder.encode({**record, "item": item})
        except (TypeError, ValueError):
            line = self.parser.encoder.encode({**record, "item": repr(item)})
        self.invalid.append(INVALID_MARK + line + b"\n")


async def run_response_hooks(response_hooks: list[Any], response: Response) -> Response:
    """`response` after each hook's `response()`; PageError if one returns no Response."""
    for hook in response_hooks:
        changed = hook.response(response)
        if inspect.isawaitable(changed):
            changed = await changed
        if not isinstance(changed, Response):
            raise PageError(
                f"{type(hook).__name__}.response() returned {type(changed).__name__}, "
                "not a Response"
            )
        response = changed
    return response


async def each_output(result: Any, add: Callable[[Any], None]) -> None:
    """Hand `add` each thing a callback produced: whatever it returned, awaited, or the
    outputs of the (async) generator or iterable it returned."""
    if inspect.isawaitable(result):
        result = await result
    if inspect.isasyncgen(result):
        async for output in result:
            add(output)
    elif result is None or _is_single(result):
        add(result)
    elif hasattr(result, "__iter__"):
        for output in result:
            add(output)
    else:
        add(result)


def _method(spec: RequestSpec) -> str:
    """The spider method a page goes to: its callback, or its errback when it failed."""
    return spec.errback if spec.failure is not None else spec.callback


def is_item(value: Any) -> bool:
    """Whether a callback's output is an item: a dict, a msgspec Struct or a dataclass."""
    if isinstance(value, dict | msgspec.Struct):
        return True
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _is_single(value: Any) -> bool:
    return isinstance(value, Request) or is_item(value) or isinstance(value, str | bytes)
