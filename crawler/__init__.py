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

from crawler.errors import CrawlerError, SettingsError, SpiderError, UsageError
from crawler.request import Request
from crawler.response import Response
from crawler.spider import Spider

__version__ = "0.1.0"

__all__ = [
    "CrawlerError",
    "Request",
    "Response",
    "SettingsError",
    "Spider",
    "SpiderError",
    "UsageError",
    "__version__",
]
