"""The benchmark's spiders: the same extraction as the other crawlers, parsel or selectolax.

Copied into a temporary project's spiders/ by `crawler bench`.
"""

from collections.abc import Iterator
from typing import Any

from crawler import Request, Response, Spider


class BenchSpider(Spider):
    """Index → listing pages → products, extracted with CSS selectors (parsel)."""

    name = "bench"
    base_url = "http://127.0.0.1:8801/"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start_urls = [self.base_url]

    def parse(self, response: Response) -> Iterator[Request]:
        yield from response.follow_all(css="a.start, li.next a", callback=self.parse_listing)

    def parse_listing(self, response: Response) -> Iterator[Request]:
        yield from response.follow_all(css="li.product a", callback=self.parse_product)
        yield from response.follow_all(css="li.next a", callback=self.parse_listing)

    def parse_product(self, response: Response) -> dict[str, Any]:
        return {
            "url": response.url,
            "title": (response.css("h1::text").get() or "").strip(),
            "price": (response.css("p.price::text").get() or "").strip(),
            "availability": (response.css("p.availability::text").get() or "").strip(),
        }


class FastBenchSpider(BenchSpider):
    """The same crawl with the fast selector path (selectolax's lexbor)."""

    name = "bench_fast"

    def parse(self, response: Response) -> Iterator[Request]:
        yield from self._links(response, "a.start, li.next a", self.parse_listing)

    def parse_listing(self, response: Response) -> Iterator[Request]:
        yield from self._links(response, "li.product a", self.parse_product)
        yield from self._links(response, "li.next a", self.parse_listing)

    def parse_product(self, response: Response) -> dict[str, Any]:
        tree = response.lexbor
        return {
            "url": response.url,
            "title": tree.css_first("h1").text(strip=True),
            "price": tree.css_first("p.price").text(strip=True),
            "availability": tree.css_first("p.availability").text(strip=True),
        }

    def _links(self, response: Response, css: str, callback: Any) -> list[Request]:
        hrefs = [node.attributes.get("href") for node in response.lexbor.css(css)]
        return response.follow_all([h for h in hrefs if h], callback=callback)


class FetchBenchSpider(BenchSpider):
    """Fetching only: product pages are not parsed (measures the framework's own cost)."""

    name = "bench_fetch"

    def parse_product(self, response: Response) -> dict[str, Any]:
        return {"url": response.url}
