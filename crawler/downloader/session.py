"""The aiohttp client session of a downloader."""

from __future__ import annotations

from typing import Any

import aiohttp

from crawler.downloader.body import ACCEPT_ENCODING
from crawler.downloader.netguard import guarded_connector
from crawler.settings.schema import DownloaderSettings, user_agent


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
