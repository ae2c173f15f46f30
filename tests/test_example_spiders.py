"""The example spiders in spiders/, against small local replicas of their sites."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest
from aiohttp import web

from crawler import Request, Response
from spiders.books import BooksSpider
from spiders.quotes import QuotesSpider
from tests.sites import books as books_site
from tests.sites import quotes as quotes_site
from tests.support import Project, serve_app

SETTINGS = """
[processes]
downloaders = 1
parsers = 2
"""

BASE = "http://example.test:8080/"


def sorted_lines(items: list[dict[str, Any]]) -> list[str]:
    """Items as sorted JSON lines: equal lists mean the same items, each as many times."""
    return sorted(json.dumps(item, sort_keys=True, ensure_ascii=False) for item in items)


def response(base_url: str, path: str, site: dict[str, str]) -> Response:
    """A page of a replica site, as a spider callback receives it."""
    url = base_url.rstrip("/") + path
    body = site[path].encode()
    headers = [("Content-Type", "text/html; charset=utf-8")]
    return Response(url, 200, headers, body, Request(url))


def split(outputs: list[Any]) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Callback outputs as (items, [(url, callback name)])."""
    items = [output for output in outputs if isinstance(output, dict)]
    requests = [
        (o.url, getattr(o.callback, "__name__", str(o.callback)))
        for o in outputs
        if isinstance(o, Request)
    ]
    assert len(items) + len(requests) == len(outputs)
    return items, requests


# The whole crawl: scheduler, downloader and parser processes, over loopback HTTP.


@pytest.mark.parametrize(
    ("name", "site", "fetched"),
    [
        # The index, page-2.html, page-3.html and 12 books.
        ("books", books_site, 3 + len(books_site.BOOKS)),
        # 3 pages, and 4 authors (each link redirects from /author/<Slug> to /author/<Slug>/).
        ("quotes", quotes_site, 3 + 2 * len(quotes_site.AUTHORS)),
    ],
)
def test_crawl_replica(project: Project, name: str, site: ModuleType, fetched: int) -> None:
    app: web.Application = site.make_app()
    project.copy_spider(name)
    project.write_settings(SETTINGS)
    with serve_app(app) as url:
        result = project.run("crawl", name, "-a", f"base_url={url}")
    assert result.returncode == 0, result.stderr
    assert sorted_lines(project.items(name)) == sorted_lines(site.expected_items(url))
    assert project.errors(name) == []
    hits = app[site.HITS]
    assert hits.pop("/robots.txt") == 1  # fetched once, before any page (404 here)
    assert sum(hits.values()) == len(hits) == fetched, hits  # every page fetched once


# The callbacks alone, on hand-built responses: no processes, no network.


def test_spider_base_url() -> None:
    assert BooksSpider().start_urls == ["https://books.toscrape.com/"]
    assert QuotesSpider().allowed_domains == ["quotes.toscrape.com"]
    spider = BooksSpider(base_url=BASE)
    assert spider.start_urls == [BASE]
    assert spider.allowed_domains == ["example.test"]


def test_books_listing_pages() -> None:
    spider = BooksSpider(base_url=BASE)
    site = books_site.pages()
    slugs = [book.slug for book in books_site.BOOKS]
    # The index links relative to the root ("catalogue/..."), page-N.html relative to
    # /catalogue/: both resolve to the same absolute URLs.
    for path, first, next_page in [
        ("/", 0, "catalogue/page-2.html"),
        ("/catalogue/page-1.html", 0, "catalogue/page-2.html"),
        ("/catalogue/page-2.html", 4, "catalogue/page-3.html"),
    ]:
        items, requests = split(list(spider.parse(response(BASE, path, site))))
        assert items == []
        assert requests == [
            *((f"{BASE}catalogue/{slug}/index.html", "parse_book") for slug in slugs[first:][:4]),
            (BASE + next_page, "parse"),
        ]
    last = list(spider.parse(response(BASE, "/catalogue/page-3.html", site)))
    assert all(request.callback == spider.parse_book for request in last)


def test_books_book_page() -> None:
    spider = BooksSpider(base_url=BASE)
    book = books_site.BOOKS[9]  # "Shakespeare's Sonnets", out of stock: an escaped title
    page = response(BASE, f"/{book.path}", books_site.pages())
    assert list(spider.parse_book(page)) == [
        {
            "url": f"{BASE}catalogue/shakespeares-sonnets_989/index.html",
            "title": "Shakespeare's Sonnets",
            "price": "£20.66",
            "availability": "Out of stock",
            "upc": "30a7f60cd76ca58c",
            "rating": "Four",
        }
    ]


def test_quotes_page() -> None:
    spider = QuotesSpider(base_url=BASE)
    site = quotes_site.pages()
    items, requests = split(list(spider.parse(response(BASE, "/page/2/", site))))
    assert (
        items
        == [
            {
                "kind": "quote",
                "text": "“Imperfection is beauty, madness is genius and it's better to be "
                "absolutely ridiculous than absolutely boring.”",
                "author": "Marilyn Monroe",
                "tags": ["be-yourself", "inspirational"],  # not the "Top Ten tags" of the sidebar
            },
            *[
                {
                    "kind": "quote",
                    "text": quote.text,
                    "author": quote.author.name,
                    "tags": list(quote.tags),
                }
                for quote in quotes_site.PAGES[1][1:]
            ],
        ]
    )
    assert requests == [
        (f"{BASE}author/Marilyn-Monroe", "parse_author"),
        (f"{BASE}author/Albert-Einstein", "parse_author"),
        (f"{BASE}author/J-K-Rowling", "parse_author"),
        (f"{BASE}page/3/", "parse"),
    ]
    items, requests = split(list(spider.parse(response(BASE, "/page/3/", site))))
    assert items[1]["tags"] == []
    assert [callback for _, callback in requests] == ["parse_author"] * 3  # the last page


def test_quotes_author_page() -> None:
    spider = QuotesSpider(base_url=BASE)
    page = response(BASE, "/author/J-K-Rowling/", quotes_site.pages())
    assert list(spider.parse_author(page)) == [
        {
            "kind": "author",
            "name": "J.K. Rowling",
            "born": "July 31, 1965",
            "url": f"{BASE}author/J-K-Rowling/",
        }
    ]
