"""Quotes to Scrape: every quote with its author and tags, and one item per author.

crawler crawl quotes                                  # the real site
crawler crawl quotes -a base_url=http://127.0.0.1:8000/   # a local copy
"""

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from crawler import Request, Response, Spider


class QuotesSpider(Spider):
    name = "quotes"
    base_url = "https://quotes.toscrape.com/"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start_urls = [self.base_url]
        self.allowed_domains = [urlsplit(self.base_url).hostname or ""]

    def parse(self, response: Response) -> Iterator[dict[str, Any] | Request]:
        """A page of quotes: / or /page/N/."""
        for quote in response.css("div.quote"):
            yield {
                "kind": "quote",
                "text": quote.css("span.text::text").get(),
                "author": quote.css("small.author::text").get(),
                "tags": quote.css("div.tags a.tag::text").getall(),
            }
        # Many quotes share an author: the crawler fetches each author page only once.
        yield from response.follow_all(
            css="div.quote span a[href*=author]", callback=self.parse_author
        )
        yield from response.follow_all(css="li.next a", callback=self.parse)

    def parse_author(self, response: Response) -> Iterator[dict[str, Any]]:
        """An author page: /author/<Slug>/."""
        yield {
            "kind": "author",
            "name": response.css("h3.author-title::text").get(default="").strip(),
            "born": response.css("span.author-born-date::text").get(),
            "url": response.url,
        }
