"""Handing fetched pages to parsers: one socket per parser, a loop turn's pages in one write.

A page that cannot reach its parser (no address yet, the socket cannot be opened, or it
closed before the turn's write) is reported to the scheduler as a retryable failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from crawler.failpoints import enabled, failpoint
from crawler.wire.channel import Channel, encode
from crawler.wire.counters import BYTES, PAGES, Counters
from crawler.wire.messages import FailureKind, Fetch, Hello, Page, ParserAddress
from crawler.wire.transport import connect

OnUnsent = Callable[[list[Fetch], str], None]
Fail = Callable[[Fetch, str, FailureKind, bool], None]  # (fetch, reason, kind, retryable)


class PageSender(Channel):
    """A downloader's connection to one parser: the pages of one loop turn leave in one write.

    Pages that cannot be written (the connection closed before the turn ended) are
    reported to `on_unsent`, so the scheduler retries them.
    """

    def __init__(self, on_unsent: OnUnsent) -> None:
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

    def __init__(self, address: ParserAddress, on_unsent: OnUnsent):
        self.address = address
        self.on_unsent = on_unsent
        self._sender: PageSender | None = None
        self._lock = asyncio.Lock()

    async def sender(self) -> PageSender:
        """The open connection; opened (and introduced with the crawl's token) if need be."""
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


class Handoff:
    """The links to every parser the scheduler named, and the pages given to them."""

    def __init__(self, counters: Counters, fail: Fail) -> None:
        self.counters = counters
        self.fail = fail
        self.parsers: dict[int, ParserLink] = {}

    def address(self, message: ParserAddress) -> None:
        """A parser's (new) address: later pages for it go there."""
        old = self.parsers.pop(message.slot, None)
        if old is not None:
            old.close()
        self.parsers[message.slot] = ParserLink(message, self._unsent)

    async def hand(self, fetch: Fetch, page: Page) -> None:
        """Queue the page for its parser's socket; it is written, whole, when this turn of
        the event loop ends, together with the other pages fetched in the same turn."""
        link = self.parsers.get(fetch.parser)
        if link is None:
            self.fail(fetch, f"parser {fetch.parser} has no address", FailureKind.PARSER, True)
            return
        message: Page | bytes = page
        try:
            sender = await link.sender()
            if enabled("downloader.mid_frame"):
                message = await _first_half(sender, page)
        except (OSError, ConnectionError) as exc:
            link.close()
            reason = f"parser {fetch.parser} unreachable: {exc}"
            self.fail(fetch, reason, FailureKind.PARSER, True)
            return
        sender.send_page(fetch, message)
        if sender.backed_up:
            await sender.writable()
        if page.request.failure is None:  # (an errback's delivery is not a page)
            self.counters.add(PAGES)
            self.counters.add(BYTES, len(page.body))

    def close(self) -> None:
        for link in self.parsers.values():
            link.close()

    def _unsent(self, fetches: list[Fetch], reason: str) -> None:
        for fetch in fetches:
            self.fail(
                fetch, f"parser {fetch.parser} unreachable: {reason}", FailureKind.PARSER, True
            )


async def _first_half(sender: PageSender, page: Page) -> bytes:
    """(Fault tests) Write half of the page's frame, then hit the failpoint; the rest."""
    frame = encode(page)
    half = len(frame) // 2
    sender.send_raw(frame[:half])
    await sender.drain()
    failpoint("downloader.mid_frame", page.url)
    return frame[half:]
