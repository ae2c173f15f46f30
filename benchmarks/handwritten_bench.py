"""Reference single-process crawler: uvloop + one aiohttp session + an asyncio.Queue of URLs.

No framework: `concurrency` worker tasks share one queue, one `set` of seen URLs and one
buffered output file. This is the "what one Python process can do" baseline of the benchmark.

    python benchmarks/handwritten_bench.py --base-url URL --output FILE \
        [--concurrency 64] [--parser parsel|selectolax|none]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from typing import IO
from urllib.parse import urldefrag, urljoin

import aiohttp
import uvloop
from parsel import Selector
from selectolax.lexbor import LexborHTMLParser

INDEX, LISTING, PRODUCT = "index", "listing", "product"
RETRIES = 2


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--parser", choices=("parsel", "selectolax", "none"), default="parsel")
    return parser.parse_args()


# Each extractor turns (page body, page URL, page kind) into (item or None, [(link, kind)]).
# The start page (INDEX) is usually the index, but a crawl may also start on a listing page,
# so the start page follows a.start and the listing links.
Links = list[tuple[str, str]]
Extractor = Callable[[bytes, str, str], tuple[dict[str, str] | None, Links]]


def extract_parsel(body: bytes, url: str, kind: str) -> tuple[dict[str, str] | None, Links]:
    sel = Selector(body=body, type="html")
    if kind == PRODUCT:
        item = {
            "url": url,
            "title": (sel.css("h1::text").get() or "").strip(),
            "price": (sel.css("p.price::text").get() or "").strip(),
            "availability": (sel.css("p.availability::text").get() or "").strip(),
        }
        return item, []
    links = [(href, PRODUCT) for href in sel.css("li.product a::attr(href)").getall()]
    links += [(href, LISTING) for href in sel.css("li.next a::attr(href)").getall()]
    if kind == INDEX:
        links += [(href, LISTING) for href in sel.css("a.start::attr(href)").getall()]
    return None, links


def _text(tree: LexborHTMLParser, query: str) -> str:
    node = tree.css_first(query)
    return node.text(strip=True) if node is not None else ""


def _hrefs(tree: LexborHTMLParser, query: str) -> list[str]:
    return [href for node in tree.css(query) if (href := node.attributes.get("href"))]


def extract_selectolax(body: bytes, url: str, kind: str) -> tuple[dict[str, str] | None, Links]:
    tree = LexborHTMLParser(body)
    if kind == PRODUCT:
        item = {
            "url": url,
            "title": _text(tree, "h1"),
            "price": _text(tree, "p.price"),
            "availability": _text(tree, "p.availability"),
        }
        return item, []
    links = [(href, PRODUCT) for href in _hrefs(tree, "li.product a")]
    links += [(href, LISTING) for href in _hrefs(tree, "li.next a")]
    if kind == INDEX:
        links += [(href, LISTING) for href in _hrefs(tree, "a.start")]
    return None, links


def extract_links_only(body: bytes, url: str, kind: str) -> tuple[dict[str, str] | None, Links]:
    """Fetching only: product pages are not parsed (their item is the URL alone)."""
    if kind == PRODUCT:
        return {"url": url}, []
    return extract_parsel(body, url, kind)


class Crawler:
    def __init__(self, session: aiohttp.ClientSession, out: IO[str], extract: Extractor) -> None:
        self.session = session
        self.out = out
        self.extract = extract
        self.queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.seen: set[str] = set()
        self.errors = 0

    def enqueue(self, url: str, kind: str) -> None:
        url = urldefrag(url).url
        if url not in self.seen:
            self.seen.add(url)
            self.queue.put_nowait((url, kind))

    async def fetch(self, url: str) -> bytes | None:
        """The body of a 200 response; network errors and 5xx are retried, other codes are not."""
        for _ in range(RETRIES + 1):
            try:
                async with self.session.get(url) as response:
                    body = await response.read()
                    if response.status == 200:
                        return body
                    error = f"HTTP {response.status}"
                    if response.status < 500:
                        break
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = repr(exc)
        print(f"error: {url}: {error}", file=sys.stderr)
        return None

    async def worker(self) -> None:
        while True:
            url, kind = await self.queue.get()
            try:
                body = await self.fetch(url)
                if body is None:
                    self.errors += 1
                    continue
                item, links = self.extract(body, url, kind)
                if item is not None:
                    self.out.write(json.dumps(item, ensure_ascii=False) + "\n")
                for href, link_kind in links:
                    self.enqueue(urljoin(url, href), link_kind)
            except Exception as exc:
                self.errors += 1
                print(f"error: {url}: {exc!r}", file=sys.stderr)
            finally:
                self.queue.task_done()


async def crawl(args: argparse.Namespace) -> int:
    extract = {
        "parsel": extract_parsel,
        "selectolax": extract_selectolax,
        "none": extract_links_only,
    }[args.parser]
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        with open(args.output, "w", encoding="utf-8") as out:
            crawler = Crawler(session, out, extract)
            crawler.enqueue(args.base_url, INDEX)
            workers = [asyncio.create_task(crawler.wire.runtime()) for _ in range(args.concurrency)]
            await crawler.queue.join()
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
    return 1 if crawler.errors else 0


def main() -> int:
    return uvloop.run(crawl(parse_args()))


if __name__ == "__main__":
    sys.exit(main())
