"""Crawlee comparison crawler: a ParselCrawler with one router handler per page label.

Storage is Crawlee's in-memory client (nothing is written under ./storage); items go through
`context.push_data` into the default dataset and are written to FILE as JSON lines at the end
(Crawlee's own `export_data` only writes .json or .csv). With `--parser selectolax` the same
crawler is built around a small selectolax (lexbor) `AbstractHttpParser` instead of parsel.

    python benchmarks/crawlee_bench.py --base-url URL --output FILE \
        [--concurrency 64] [--parser parsel|selectolax]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from crawlee import ConcurrencySettings, Request, service_locator
from crawlee.configuration import Configuration
from crawlee.crawlers import (
    AbstractHttpCrawler,
    AbstractHttpParser,
    ParsedHttpCrawlingContext,
    ParselCrawler,
    ParselCrawlingContext,
)
from crawlee.http_clients import HttpResponse
from crawlee.storage_clients import MemoryStorageClient
from selectolax.lexbor import LexborHTMLParser, LexborNode

LISTING, PRODUCT = "LISTING", "PRODUCT"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--parser", choices=("parsel", "selectolax"), default="parsel")
    return parser.parse_args()


class SelectolaxParser(AbstractHttpParser[LexborHTMLParser, LexborNode]):
    """Crawlee has no selectolax parser; this is the documented custom-parser extension point."""

    async def parse(self, response: HttpResponse) -> LexborHTMLParser:
        return LexborHTMLParser(await response.read())

    async def parse_text(self, text: str) -> LexborHTMLParser:
        return LexborHTMLParser(text)

    async def select(self, parsed_content: LexborHTMLParser, selector: str) -> Sequence[LexborNode]:
        return parsed_content.css(selector)

    def is_matching_selector(self, parsed_content: LexborHTMLParser, selector: str) -> bool:
        return parsed_content.css_first(selector) is not None

    def find_links(
        self, parsed_content: LexborHTMLParser, selector: str, attribute: str
    ) -> Iterable[str]:
        return [
            value.strip()
            for node in parsed_content.css(selector)
            if (value := node.attributes.get(attribute))
        ]


def _text(tree: LexborHTMLParser, query: str) -> str:
    node = tree.css_first(query)
    return node.text(strip=True) if node is not None else ""


def build_parsel_crawler(options: dict[str, Any]) -> ParselCrawler:
    crawler = ParselCrawler(**options)

    @crawler.router.default_handler
    async def index(context: ParselCrawlingContext) -> None:
        # The start page: usually the index, but a crawl may also start on a listing page.
        await context.enqueue_links(selector="a.start", label=LISTING)
        await listing(context)

    @crawler.router.handler(LISTING)
    async def listing(context: ParselCrawlingContext) -> None:
        await context.enqueue_links(selector="li.product a", label=PRODUCT)
        await context.enqueue_links(selector="li.next a", label=LISTING)

    @crawler.router.handler(PRODUCT)
    async def product(context: ParselCrawlingContext) -> None:
        sel = context.selector
        await context.push_data(
            {
                "url": context.request.url,
                "title": (sel.css("h1::text").get() or "").strip(),
                "price": (sel.css("p.price::text").get() or "").strip(),
                "availability": (sel.css("p.availability::text").get() or "").strip(),
            }
        )

    return crawler


def build_selectolax_crawler(options: dict[str, Any]) -> AbstractHttpCrawler[Any, Any, Any]:
    crawler_class = AbstractHttpCrawler.create_parsed_http_crawler_class(SelectolaxParser())
    crawler = crawler_class(**options)

    @crawler.router.default_handler
    async def index(context: ParsedHttpCrawlingContext[LexborHTMLParser]) -> None:
        # The start page: usually the index, but a crawl may also start on a listing page.
        await context.enqueue_links(selector="a.start", label=LISTING)
        await listing(context)

    @crawler.router.handler(LISTING)
    async def listing(context: ParsedHttpCrawlingContext[LexborHTMLParser]) -> None:
        await context.enqueue_links(selector="li.product a", label=PRODUCT)
        await context.enqueue_links(selector="li.next a", label=LISTING)

    @crawler.router.handler(PRODUCT)
    async def product(context: ParsedHttpCrawlingContext[LexborHTMLParser]) -> None:
        tree = context.parsed_content
        await context.push_data(
            {
                "url": context.request.url,
                "title": _text(tree, "h1"),
                "price": _text(tree, "p.price"),
                "availability": _text(tree, "p.availability"),
            }
        )

    return crawler


async def crawl(args: argparse.Namespace) -> int:
    # Set the global services before any crawler exists: the log level is read from the
    # global configuration, and a crawler given its own `configuration=` but no event manager
    # logs a warning. The default storage client would write ./storage to disk.
    service_locator.set_configuration(Configuration(log_level="WARNING"))
    service_locator.set_storage_client(MemoryStorageClient())

    options: dict[str, Any] = {
        "concurrency_settings": ConcurrencySettings(
            max_concurrency=args.concurrency, desired_concurrency=args.concurrency
        ),
    }
    if args.parser == "selectolax":
        crawler: AbstractHttpCrawler[Any, Any, Any] = build_selectolax_crawler(options)
    else:
        crawler = build_parsel_crawler(options)

    stats = await crawler.run([Request.from_url(args.base_url)])

    dataset = await crawler.get_dataset()
    with open(args.output, "w", encoding="utf-8") as out:
        async for item in dataset.iterate_items():
            out.write(json.dumps(item, ensure_ascii=False) + "\n")

    if stats.requests_failed:
        print(f"error: {stats.requests_failed} requests failed", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    return asyncio.run(crawl(parse_args()))


if __name__ == "__main__":
    sys.exit(main())
