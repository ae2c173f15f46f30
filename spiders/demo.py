"""The demo spider: crawls the bundled catalogue site (`make crawl` serves it on loopback)."""

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from crawler import Request, Response, Spider


class DemoSpider(Spider):
    name = "demo"
    base_url = "http://127.0.0.1:8765/"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start_urls = [self.base_url]
        self.allowed_domains = [urlsplit(self.base_url).hostname or ""]

    def parse(self, response: Response) -> Iterator[Request]:
        yield from response.follow_all(css="a.start", callback=self.parse_listing)

    def parse_listing(self, response: Response) -> Iterator[Request]:
        yield from response.follow_all(css="li.product a", callback=self.parse_product)
        yield from response.follow_all(css="li.next a", callback=self.parse_listing)

    def parse_product(self, response: Response) -> Iterator[dict[str, Any] | Request]:
        yield {
            "url": response.url,
            "title": response.css("h1::text").get(),
            "price": response.css("p.price::text").get(),
            "available": response.css("p.availability::text").get() == "In stock",
        }
        yield from response.follow_all(css="a.related", callback=self.parse_product)
