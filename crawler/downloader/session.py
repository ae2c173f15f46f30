"""The aiohttp client sessions of a downloader."""

from __future__ import annotations

import ipaddress
from typing import Any

import aiohttp

from crawler.downloader.body import ACCEPT_ENCODING
from crawler.downloader.netguard import guarded_connector
from crawler.settings.schema import DownloaderSettings, ScopeSettings, user_agent


def make_session(
    settings: DownloaderSettings, blocked: list[Any] | None = None
) -> aiohttp.ClientSession:
    """A session that follows no redirects and keeps no cookies itself: the scheduler does.

    Bodies are decoded by `crawler.downloader.body`, within limits, so aiohttp's own
    decoding is off.
    With `blocked` (ip networks), connecting to an address in them fails before any packet.
    """
    connector = guarded_connector(
        settings.resolve,
        blocked,
        limit=settings.concurrency,
        limit_per_host=0,
        ssl=settings.verify_tls,
    )
    headers = {"User-Agent": user_agent(settings), "Accept-Encoding": ACCEPT_ENCODING}
    headers.update(settings.headers)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(
            total=settings.timeout,
            sock_connect=settings.connect_timeout,
            sock_read=settings.read_timeout or None,
        ),
        headers=headers,
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
    )


class Sessions:
    """A downloader's two sessions, each made on first use: one that may connect to private
    addresses (for private requests, and through a proxy) and one that may not."""

    def __init__(self, settings: DownloaderSettings, scope: ScopeSettings) -> None:
        self.settings = settings
        self.blocked = (
            None
            if scope.allow_private
            else [ipaddress.ip_network(n, strict=False) for n in scope.private_networks]
        )
        self._made: dict[bool, aiohttp.ClientSession] = {}

    def get(self, private: bool) -> aiohttp.ClientSession:
        """The session for requests that may (or may not) connect to private addresses."""
        session = self._made.get(private)
        if session is None:
            blocked = None if private else self.blocked
            session = self._made[private] = make_session(self.settings, blocked)
        return session

    async def close(self) -> None:
        for session in self._made.values():
            await session.close()
        self._made.clear()
