"""Scrapy comparison crawler: one scrapy.Spider run by CrawlerProcess in this script.

Default Scrapy settings except concurrency, robots.txt, logging, telnet and the feed; the
reactor is Scrapy's default (asyncio since 2.13). Items go to FILE through the jsonlines feed.

    python benchmarks/scrapy_bench.py --base-url URL --output FILE \
        [--concurrency 64] [--parser parsel|selectolax]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any

import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy.http import Response
from selectolax.lexbor import LexborHTMLParser


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--parser", choices=("parsel", "selectolax"), default="parsel")
    return parser.parse_args()


class CatalogueSpider(scrapy.Spider):
    """index -> a.start -> listing pages (li.product a, li.next a) -> product pages."""

    name = "catalogue"

    def __init__(self, base_url: str, use_selectolax: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start_urls = [base_url]
        self.use_selectolax = use_selectolax

    def _links(self, response: Response, *queries: str) -> list[list[str]]:
        """The hrefs matched by each CSS query, parsing the page once."""
        if self.use_selectolax:
            tree = LexborHTMLParser(response.body)
            return [
                [href for node in tree.css(query) if (href := node.attributes.get("href"))]
                for query in queries
            ]
        return [response.css(f"{query}::attr(href)").getall() for query in queries]

    def parse(self, response: Response) -> Iterator[scrapy.Request]:
        """The start page: usually the index, but a crawl may also start on a listing page."""
        starts, products, nexts = self._links(response, "a.start", "li.product a", "li.next a")
        yield from self._follow(response, products, nexts + starts)

    def parse_listing(self, response: Response) -> Iterator[scrapy.Request]:
        products, nexts = self._links(response, "li.product a", "li.next a")
        yield from self._follow(response, products, nexts)

    def _follow(
        self, response: Response, products: list[str], listings: list[str]
    ) -> Iterator[scrapy.Request]:
        for href in products:
            yield response.follow(href, callback=self.parse_product)
        for href in listings:
            yield response.follow(href, callback=self.parse_listing)

    def parse_product(self, response: Response) -> Iterator[dict[str, str]]:
        if self.use_selectolax:
            tree = LexborHTMLParser(response.body)

            def text(query: str) -> str:
                node = tree.css_first(query)
                return node.text(strip=True) if node is not None else ""

            yield {
                "url": response.url,
                "title": text("h1"),
                "price": text("p.price"),
                "availability": text("p.availability"),
            }
        else:
            yield {
                "url": response.url,
                "title": (response.css("h1::text").get() or "").strip(),
                "price": (response.css("p.price::text").get() or "").strip(),
                "availability": (response.css("p.availability::text").get() or "").strip(),
            }


def main() -> int:
    args = parse_args()
    process = CrawlerProcess(
        settings={
            "CONCURRENT_REQUESTS": args.concurrency,
            "CONCURRENT_REQUESTS_PER_DOMAIN": args.concurrency,
            "ROBOTSTXT_OBEY": False,
            "LOG_LEVEL": "WARNING",
            "TELNETCONSOLE_ENABLED": False,
            "FEEDS": {args.output: {"format": "jsonlines", "overwrite": True}},
            "FEED_EXPORT_ENCODING": "utf-8",
        }
    )
    crawler = process.create_crawler(CatalogueSpider)
    process.crawl(crawler, base_url=args.base_url, use_selectolax=args.parser == "selectolax")
    process.start()

    stats = crawler.journal.stats.get_stats() if crawler.journal.stats else {}
    failures = {
        key: value
        for key, value in stats.items()
        if key in ("log_count/ERROR", "log_count/CRITICAL", "httperror/response_ignored_count")
        or key.startswith("downloader/exception_type_count/")
    }
    if failures or stats.get("finish_reason") != "finished":
        print(
            f"error: crawl failed: {failures} finish_reason={stats.get('finish_reason')}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
