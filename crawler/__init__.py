"""A multi-process asyncio web crawler: a scheduler, downloaders on uvloop + aiohttp, parsers.

from crawler import Spider, Request

class QuotesSpider(Spider):
    name = "quotes"
    start_urls = ["https://quotes.toscrape.com/"]

    def parse(self, response):
        for quote in response.css("div.quote"):
            yield {"text": quote.css("span.text::text").get()}
        yield from response.follow_all(css="li.next a")
"""

from typing import TYPE_CHECKING, Any

from crawler.errors import (
    CrawlerError,
    NotTextError,
    PageError,
    Retry,
    SettingsError,
    SpiderError,
    UsageError,
)
from crawler.version import __version__

if TYPE_CHECKING:
    from crawler.api.hooks import Hook
    from crawler.api.request import Failure, Request
    from crawler.api.response import Response
    from crawler.api.sitemap import SitemapSpider
    from crawler.api.spider import Spider


# Request, Response and Spider load on first use, so that `crawler` on the command line
# can block Ctrl-C before the heavy imports (parsel, lxml) start: see crawler/cli/launcher.py.
_LAZY = {
    "Failure": "crawler.api.request",
    "Hook": "crawler.api.hooks",
    "Request": "crawler.api.request",
    "Response": "crawler.api.response",
    "SitemapSpider": "crawler.api.sitemap",
    "Spider": "crawler.api.spider",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'crawler' has no attribute {name!r}")


__all__ = [
    "CrawlerError",
    "Failure",
    "Hook",
    "NotTextError",
    "PageError",
    "Request",
    "Response",
    "Retry",
    "SettingsError",
    "SitemapSpider",
    "Spider",
    "SpiderError",
    "UsageError",
    "__version__",
]
