"""One HTTP exchange, as every fetch makes it: pages, robots.txt files, `crawler parse`.

A request through one of our sessions (`crawler.downloader.session`), redirects never
followed by the client: each caller has its own policy for them.  The body is read within
the download limits, and the client's exceptions become our failures
(`crawler.downloader.failures`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import aiohttp
from yarl import URL

from crawler.downloader.body import read_body
from crawler.downloader.failures import FETCH_ERRORS, Failed, failed
from crawler.settings.schema import DownloaderSettings

Response = aiohttp.ClientResponse
Wants = Callable[[Response], bool]  # told the status and headers: read the body?


def is_success(response: Response) -> bool:
    """Whether the status is 2xx: the body is wanted."""
    return 200 <= response.status < 300


async def exchange(
    session: aiohttp.ClientSession,
    method: str,
    url: str | URL,
    limits: DownloaderSettings,
    wants: Wants = is_success,
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
    proxy: str | None = None,
) -> tuple[Response, bytes | None] | Failed:
    """Send one request; the response (released) and its body, or why there is none.

    `wants` sees the response once its head has arrived; the body is read (within
    `limits.max_body_size` and `max_decompressed_size`) only if it returns True, else the
    body is None.
    """
    try:
        async with session.request(
            method, url, headers=headers, data=data, proxy=proxy, allow_redirects=False
        ) as response:
            if not wants(response):
                return response, None
            body = await read_body(response, limits.max_body_size, limits.max_decompressed_size)
    except FETCH_ERRORS as error:
        return failed(error)
    return response, body


def resolve_location(base: URL, location: str) -> URL:
    """A redirect's Location, resolved against the URL that answered; ValueError if bad."""
    return base.join(URL(location.strip()))
