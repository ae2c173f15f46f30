"""The crawl's cookie jars, one per `meta["cookiejar"]` key; kept by the scheduler.

Cookies belong to the crawl, not to a downloader process: whichever downloader fetches a
request, it carries the Cookie header of its jar, and the Set-Cookie headers of every
response (redirects included) come back here.  Jars live in memory; the journal keeps
every Set-Cookie header with the page that sent it, so a resumed crawl rebuilds them.
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Any

from yarl import URL

if TYPE_CHECKING:
    import aiohttp


class CookieJars:
    """Jars by key; `None` (no `meta["cookiejar"]`) is the default jar."""

    def __init__(self) -> None:
        self._jars: dict[Any, aiohttp.CookieJar] = {}

    def __repr__(self) -> str:
        return f"<CookieJars {len(self._jars)} jars>"

    def _jar(self, key: Any) -> aiohttp.CookieJar:
        jar = self._jars.get(key)
        if jar is None:
            import aiohttp  # here: a crawl without cookies never loads an HTTP client

            # unsafe: hosts that are IP addresses keep cookies too (a crawler's own servers).
            jar = aiohttp.CookieJar(unsafe=True, quote_cookie=False)
            self._jars[key] = jar
        return jar

    def update(self, key: Any, url: str, headers: list[str]) -> int:
        """Merge Set-Cookie header values sent by `url`; return how many were malformed."""
        jar = self._jar(_hashable(key))
        bad = 0
        for header in headers:
            cookie: SimpleCookie = SimpleCookie()
            try:
                cookie.load(header)
            except CookieError:
                bad += 1
                continue
            jar.update_cookies(cookie, URL(url))
        return bad

    def header(self, key: Any, url: str, extra: dict[str, str] | None = None) -> str:
        """The Cookie header for a request to `url`; `extra` (per-request cookies) join the jar."""
        key = _hashable(key)
        if extra:
            given: SimpleCookie = SimpleCookie()
            for name, value in extra.items():
                given[name] = value
                given[name]["path"] = "/"  # the whole host, not just this path's folder
            self._jar(key).update_cookies(given, URL(url))
        jar = self._jars.get(key)
        if jar is None or not len(jar):
            return ""
        cookies = jar.filter_cookies(URL(url))
        return "; ".join(f"{name}={morsel.value}" for name, morsel in cookies.items())


def _hashable(key: Any) -> Any:
    """meta["cookiejar"] values arrive as plain data; lists become tuples to serve as keys."""
    if isinstance(key, list):
        return tuple(_hashable(k) for k in key)
    if isinstance(key, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in key.items()))
    return key
