"""A small replica of quotes.toscrape.com: 3 pages, 10 quotes by 4 authors, with the real markup.

`/` and `/page/N/` list quotes, with `/page/N+1/` as the next page; each quote's "(about)"
link is `/author/<Slug>` which, as on the real site, redirects to `/author/<Slug>/`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import urljoin

from aiohttp import web

HITS = web.AppKey("hits", Counter[str])  # requests served, by path


@dataclass(frozen=True)
class Author:
    slug: str
    name: str
    born: str
    location: str


@dataclass(frozen=True)
class Quote:
    text: str
    author: Author
    tags: tuple[str, ...]


EINSTEIN = Author("Albert-Einstein", "Albert Einstein", "March 14, 1879", "in Ulm, Germany")
ROWLING = Author(
    "J-K-Rowling",
    "J.K. Rowling",
    "July 31, 1965",
    "in Yate, South Gloucestershire, England, The United Kingdom",
)
AUSTEN = Author(
    "Jane-Austen",
    "Jane Austen",
    "December 16, 1775",
    "in Steventon Rectory, Hampshire, The United Kingdom",
)
MONROE = Author("Marilyn-Monroe", "Marilyn Monroe", "June 01, 1926", "in The United States")
AUTHORS = [EINSTEIN, ROWLING, AUSTEN, MONROE]

PAGES = [
    [
        Quote(
            "“The world as we have created it is a process of our thinking. It cannot be "
            "changed without changing our thinking.”",
            EINSTEIN,
            ("change", "deep-thoughts", "thinking", "world"),
        ),
        Quote(
            "“It is our choices, Harry, that show what we truly are, far more than our abilities.”",
            ROWLING,
            ("abilities", "choices"),
        ),
        Quote(
            "“There are only two ways to live your life. One is as though nothing is a "
            "miracle. The other is as though everything is a miracle.”",
            EINSTEIN,
            ("inspirational", "life", "live", "miracle", "miracles"),
        ),
        Quote(
            "“The person, be it gentleman or lady, who has not pleasure in a good novel, must "
            "be intolerably stupid.”",
            AUSTEN,
            ("aliteracy", "books", "classic", "humor"),
        ),
    ],
    [
        Quote(
            "“Imperfection is beauty, madness is genius and it's better to be absolutely "
            "ridiculous than absolutely boring.”",
            MONROE,
            ("be-yourself", "inspirational"),
        ),
        Quote(
            "“Try not to become a man of success. Rather become a man of value.”",
            EINSTEIN,
            ("adulthood", "success", "value"),
        ),
        Quote(
            "“It takes a great deal of bravery to stand up to our enemies, but just as much "
            "to stand up to our friends.”",
            ROWLING,
            ("courage", "friends"),
        ),
    ],
    [
        Quote(
            "“If you can make a woman laugh, you can make her do anything.”",
            MONROE,
            ("girls", "love"),
        ),
        Quote("“There is no charm equal to tenderness of heart.”", AUSTEN, ()),
        Quote(
            "“Anyone who has never made a mistake has never tried anything new.”",
            EINSTEIN,
            ("mistakes",),
        ),
    ],
]

_HEAD = """<!DOCTYPE html>
<html lang="en">
<head>
	<meta charset="UTF-8">
	<title>Quotes to Scrape</title>
    <link rel="stylesheet" href="/static/bootstrap.min.css">
    <link rel="stylesheet" href="/static/main.css">
</head>
<body>
    <div class="container">
        <div class="row header-box">
            <div class="col-md-8">
                <h1>
                    <a href="/" style="text-decoration: none">Quotes to Scrape</a>
                </h1>
            </div>
            <div class="col-md-4">
                <p>
                    <a href="/login">Login</a>
                </p>
            </div>
        </div>
"""

_FOOT = """
    </div>
    <footer class="footer">
        <div class="container">
            <p class="text-muted">
                Quotes by: <a href="https://www.goodreads.com/quotes">GoodReads.com</a>
            </p>
        </div>
    </footer>
</body>
</html>"""

_SIDEBAR = """
    <div class="col-md-4 tags-box">
            <h2>Top Ten tags</h2>
            <span class="tag-item">
            <a class="tag" style="font-size: 28px" href="/tag/love/">love</a>
            </span>
            <span class="tag-item">
            <a class="tag" style="font-size: 26px" href="/tag/inspirational/">inspirational</a>
            </span>
    </div>"""


def _quote(quote: Quote) -> str:
    tags = "".join(
        f'\n            <a class="tag" href="/tag/{tag}/page/1/">{tag}</a>\n' for tag in quote.tags
    )
    return f"""
    <div class="quote" itemscope itemtype="http://schema.org/CreativeWork">
        <span class="text" itemprop="text">{escape(quote.text)}</span>
        <span>by <small class="author" itemprop="author">{escape(quote.author.name)}</small>
        <a href="/author/{quote.author.slug}">(about)</a>
        </span>
        <div class="tags">
            Tags:
            <meta class="keywords" itemprop="keywords" content="{",".join(quote.tags)}" /    >
            {tags}
        </div>
    </div>
"""


def _page(number: int) -> str:
    pager = []
    if number > 1:
        pager.append(
            f'<li class="previous">\n                <a href="/page/{number - 1}/">'
            '<span aria-hidden="true">&larr;</span> Previous</a>\n            </li>'
        )
    if number < len(PAGES):
        pager.append(
            f'<li class="next">\n                <a href="/page/{number + 1}/">'
            'Next <span aria-hidden="true">&rarr;</span></a>\n            </li>'
        )
    quotes = "".join(_quote(quote) for quote in PAGES[number - 1])
    return (
        _HEAD
        + f"""
<div class="row">
    <div class="col-md-8">
{quotes}
    <nav>
        <ul class="pager">
            {"".join(pager)}
        </ul>
    </nav>
    </div>
{_SIDEBAR}
</div>"""
        + _FOOT
    )


def _author(author: Author) -> str:
    return (
        _HEAD
        + f"""
<div class="author-details">
    <h3 class="author-title">{escape(author.name)}
    </h3>
    <p><strong>Born:</strong> <span class="author-born-date">{author.born}</span>
        <span class="author-born-location">{escape(author.location)}</span></p>
    <p><strong>Description:</strong></p>
    <div class="author-description">
        A replica of {escape(author.name)}'s page.
    </div>
</div>"""
        + _FOOT
    )


def pages() -> dict[str, str]:
    """Every page of the site, by path (author pages at /author/<Slug>/)."""
    site = {"/": _page(1)}
    site.update({f"/page/{number}/": _page(number) for number in range(1, len(PAGES) + 1)})
    site.update({f"/author/{author.slug}/": _author(author) for author in AUTHORS})
    return site


def make_app() -> web.Application:
    """The site as an aiohttp application: /author/<Slug> redirects, other paths are 404."""
    site = pages()

    async def handle(request: web.Request) -> web.Response:
        request.app[HITS][request.path] += 1
        html = site.get(request.path)
        if html is None and request.path + "/" in site:
            raise web.HTTPMovedPermanently(request.path + "/")
        if html is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(text=html, content_type="text/html", charset="utf-8")

    app = web.Application()
    app[HITS] = Counter()
    app.router.add_get("/{tail:.*}", handle)
    return app


def expected_items(base_url: str) -> list[dict[str, Any]]:
    """What the `quotes` spider should yield when crawling this site at `base_url`."""
    quotes = [
        {"kind": "quote", "text": quote.text, "author": quote.author.name, "tags": list(quote.tags)}
        for page in PAGES
        for quote in page
    ]
    authors = [
        {
            "kind": "author",
            "name": author.name,
            "born": author.born,
            "url": urljoin(base_url, f"/author/{author.slug}/"),
        }
        for author in AUTHORS
    ]
    return quotes + authors
