"""Fetching one page outside a crawl, for `crawler parse` and `crawler shell`.

The exchange is the crawl's (`crawler.downloader.fetch`), through a fresh session as a
downloader makes it (no proxy, no private-address guard, no cache, no request hooks, as
these commands always fetched), but redirects are followed here, as aiohttp followed
them for these commands: the Nth redirect of `downloader.max_redirects` fails as
`TooManyRedirects` (0: no limit), and `downloader.timeout` bounds the whole chain.  Each
Location is resolved as the crawl resolves it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp
from yarl import URL

from crawler.downloader.failures import Failed, failed
from crawler.downloader.fetch import Response, exchange, resolve_location
from crawler.downloader.session import make_session
from crawler.settings.schema import DownloaderSettings
from crawler.urls.statuses import REDIRECT_STATUSES


@dataclass(frozen=True, slots=True)
class FetchedPage:
    """The page at the end of the redirects."""

    url: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def fetch_one(url: str, settings: DownloaderSettings) -> FetchedPage | Failed:
    """GET `url` now, redirects followed; the page, or why it could not be fetched."""
    return asyncio.run(_fetch(url, settings))


async def _fetch(url: str, settings: DownloaderSettings) -> FetchedPage | Failed:
    try:
        async with make_session(settings) as session, asyncio.timeout(settings.timeout):
            return await _follow(session, url, settings)
    except TimeoutError as error:  # the whole chain took too long
        return failed(error)


async def _follow(
    session: aiohttp.ClientSession, url: str | URL, settings: DownloaderSettings
) -> FetchedPage | Failed:
    history: list[Response] = []
    while True:
        got = await exchange(session, "GET", url, settings, _not_redirected)
        if isinstance(got, Failed):
            return got
        response, body = got
        if body is not None:
            headers = [(str(k), v) for k, v in response.headers.items()]
            return FetchedPage(str(response.url), response.status, headers, body)
        history.append(response)
        if settings.max_redirects and len(history) >= settings.max_redirects:
            return failed(aiohttp.TooManyRedirects(history[0].request_info, tuple(history)))
        target = _target(response)
        if isinstance(target, Failed):
            return target
        url = target


def _not_redirected(response: Response) -> bool:
    """Whether the response is the page (not a redirect with a Location)."""
    return response.status not in REDIRECT_STATUSES or "Location" not in response.headers


def _target(response: Response) -> URL | Failed:
    """Where the redirect points, or why it cannot be followed (in aiohttp's words)."""
    location = response.headers["Location"]
    try:
        target = resolve_location(response.url, location)
    except ValueError:
        description = "Server attempted redirecting to a location that does not look like a URL"
        return failed(aiohttp.InvalidUrlRedirectClientError(location, description))
    if target.scheme not in ("http", "https"):
        return failed(aiohttp.NonHttpUrlRedirectClientError(location))
    return target
