"""A small replica of books.toscrape.com: 3 listing pages of 4 books, with the real markup.

`/` and `/index.html` are the first listing page with links relative to the root
(`catalogue/<slug>_<id>/index.html`, next `catalogue/page-2.html`); `/catalogue/page-N.html`
link relative to `/catalogue/` (`<slug>_<id>/index.html`, next `page-N+1.html`); each book
page `/catalogue/<slug>_<id>/index.html` has the product table.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import urljoin

from aiohttp import web

HITS = web.AppKey("hits", Counter[str])  # requests served, by path

PER_PAGE = 4


@dataclass(frozen=True)
class Book:
    slug: str
    title: str
    price: str
    stock: int
    rating: str
    upc: str

    @property
    def availability(self) -> str:
        return f"In stock ({self.stock} available)" if self.stock else "Out of stock"

    @property
    def path(self) -> str:
        return f"catalogue/{self.slug}/index.html"


BOOKS = [
    Book(
        "a-light-in-the-attic_1000",
        "A Light in the Attic",
        "£51.77",
        22,
        "Three",
        "a897fe39b1053632",
    ),
    Book("tipping-the-velvet_999", "Tipping the Velvet", "£53.74", 20, "One", "90fa61229261140a"),
    Book("soumission_998", "Soumission", "£50.10", 20, "One", "6957f44c3847a760"),
    Book("sharp-objects_997", "Sharp Objects", "£47.82", 20, "Four", "e00eb4fd7b871a48"),
    Book(
        "sapiens-a-brief-history-of-humankind_996",
        "Sapiens: A Brief History of Humankind",
        "£54.23",
        20,
        "Five",
        "4165285e1663650f",
    ),
    Book("the-requiem-red_995", "The Requiem Red", "£22.65", 19, "One", "f77dbf2323deb740"),
    Book(
        "the-dirty-little-secrets-of-getting-your-dream-job_994",
        "The Dirty Little Secrets of Getting Your Dream Job",
        "£33.34",
        19,
        "Four",
        "2597b5a345f45e1b",
    ),
    Book("the-black-maria_991", "The Black Maria", "£52.15", 19, "One", "1dfe412b8ac00530"),
    Book(
        "starving-hearts-triangular-trade-trilogy-1_990",
        "Starving Hearts (Triangular Trade Trilogy, #1)",
        "£13.99",
        19,
        "Two",
        "0312262ecafa5a59",
    ),
    Book(
        "shakespeares-sonnets_989", "Shakespeare's Sonnets", "£20.66", 0, "Four", "30a7f60cd76ca58c"
    ),
    Book("set-me-free_988", "Set Me Free", "£17.46", 19, "Five", "ce6396b0f23f6ecc"),
    Book(
        "scott-pilgrims-precious-little-life-scott-pilgrim-1_987",
        "Scott Pilgrim's Precious Little Life (Scott Pilgrim #1)",
        "£52.29",
        19,
        "Five",
        "3b1c02bac2a429e6",
    ),
]
PAGES = -(-len(BOOKS) // PER_PAGE)

_HEAD = """<!DOCTYPE html>
<!--[if lt IE 7]>      <html lang="en-us" class="no-js lt-ie9 lt-ie8 lt-ie7"> <![endif]-->
<html lang="en-us" class="no-js">
    <head>
        <title>
    {title} | Books to Scrape - Sandbox
</title>
        <meta http-equiv="content-type" content="text/html; charset=UTF-8" />
        <link rel="stylesheet" type="text/css" href="{root}static/oscar/css/styles.css" />
    </head>
    <body id="default" class="default">
        <header class="header container-fluid">
            <div class="page_inner">
                <div class="row">
                    <div class="col-sm-8 h1"><a href="{root}index.html">Books to Scrape</a>
                    <small> We love being scraped!</small></div>
                </div>
            </div>
        </header>
        <div class="container-fluid page">
            <div class="page_inner">
"""

_FOOT = """
            </div>
        </div>
        <footer class="footer container-fluid"></footer>
    </body>
</html>
"""

_STARS = '<i class="icon-star"></i>' * 5


def _listing(number: int, at_root: bool = False) -> str:
    """Listing page `number`, served under /catalogue/, or `at_root` (the index page)."""
    prefix = "catalogue/" if at_root else ""
    root = "" if at_root else "../"
    books = BOOKS[(number - 1) * PER_PAGE : number * PER_PAGE]
    pods = "".join(
        f"""
            <li class="col-xs-6 col-sm-4 col-md-3 col-lg-3">
    <article class="product_pod">
            <div class="image_container">
                    <a href="{prefix}{book.slug}/index.html"><img
                        src="{root}media/cache/{book.upc}.jpg" alt="{escape(book.title)}"
                        class="thumbnail"></a>
            </div>
                <p class="star-rating {book.rating}">
                    {_STARS}
                </p>
            <h3><a href="{prefix}{book.slug}/index.html"
                title="{escape(book.title)}">{escape(_short(book.title))}</a></h3>
            <div class="product_price">
        <p class="price_color">{book.price}</p>
<p class="instock availability">
    <i class="icon-ok"></i>
        {book.availability}
</p>
    <form>
        <button type="submit" class="btn btn-primary btn-block"
                data-loading-text="Adding...">Add to basket</button>
    </form>
            </div>
    </article>
</li>"""
        for book in books
    )
    pager = [f'<li class="current">\n            Page {number} of {PAGES}\n        </li>']
    if number > 1:
        pager.insert(0, f'<li class="previous"><a href="page-{number - 1}.html">previous</a></li>')
    if number < PAGES:
        pager.append(f'<li class="next"><a href="{prefix}page-{number + 1}.html">next</a></li>')
    body = f"""
<ul class="breadcrumb">
    <li><a href="{root}index.html">Home</a></li>
    <li class="active">All products</li>
</ul>
<div class="page-header action"><h1>All products</h1></div>
<form method="get" class="form-horizontal">
    <strong>{len(BOOKS)}</strong> results - showing <strong>{(number - 1) * PER_PAGE + 1}</strong>
    to <strong>{(number - 1) * PER_PAGE + len(books)}</strong>.
</form>
<section>
    <div>
        <ol class="row">{pods}
        </ol>
            <div>
                <ul class="pager">
                    {"".join(pager)}
                </ul>
            </div>
    </div>
</section>"""
    return _HEAD.format(title="All products", root=root) + body + _FOOT


def _book(book: Book) -> str:
    stock = "instock" if book.stock else "outofstock"
    rows = [
        ("UPC", book.upc),
        ("Product Type", "Books"),
        ("Price (excl. tax)", book.price),
        ("Price (incl. tax)", book.price),
        ("Tax", "£0.00"),
        ("Availability", book.availability),
        ("Number of reviews", "0"),
    ]
    table = "".join(f"<tr>\n    <th>{th}</th><td>{escape(td)}</td>\n</tr>" for th, td in rows)
    body = f"""
<ul class="breadcrumb">
    <li><a href="../../index.html">Home</a></li>
    <li><a href="../category/books_1/index.html">Books</a></li>
    <li class="active">{escape(book.title)}</li>
</ul>
<article class="product_page"><!-- Start of product page -->
    <div class="row">
        <div class="col-sm-6">
            <div id="product_gallery" class="carousel">
                <div class="thumbnail"><div class="carousel-inner"><div class="item active">
                    <img src="../../media/cache/{book.upc}.jpg" alt="{escape(book.title)}" />
                </div></div></div>
            </div>
        </div>
        <div class="col-sm-6 product_main">
            <h1>{escape(book.title)}</h1>
<p class="price_color">{book.price}</p>
<p class="{stock} availability">
    <i class="icon-ok"></i>
        {book.availability}
</p>
    <p class="star-rating {book.rating}">
        {_STARS}
    </p>
    <hr/>
        </div><!-- /col-sm-6 -->
    </div><!-- /row -->
    <div id="product_description" class="sub-header"><h2>Product Description</h2></div>
    <p>A replica of a book page; {escape(book.title)} costs {book.price}.</p>
    <div class="sub-header"><h2>Product Information</h2></div>
    <table class="table table-striped">
    {table}
    </table>
</article>"""
    return _HEAD.format(title=escape(book.title), root="../../") + body + _FOOT


def _short(title: str) -> str:
    """The listing shows long titles cut, like the real site ("A Light in the ...")."""
    return title if len(title) < 20 else title[:16].rstrip() + " ..."


def pages() -> dict[str, str]:
    """Every page of the site, by path."""
    site = {"/": _listing(1, at_root=True), "/index.html": _listing(1, at_root=True)}
    for number in range(1, PAGES + 1):
        site[f"/catalogue/page-{number}.html"] = _listing(number)
    for book in BOOKS:
        site[f"/{book.path}"] = _book(book)
    return site


def make_app() -> web.Application:
    """The site as an aiohttp application (404 for any other path)."""
    site = pages()

    async def handle(request: web.Request) -> web.Response:
        request.app[HITS][request.path] += 1
        html = site.get(request.path)
        if html is None:
            return web.Response(status=404, text="404 Not Found")
        return web.Response(text=html, content_type="text/html", charset="utf-8")

    app = web.Application()
    app[HITS] = Counter()
    app.router.add_get("/{tail:.*}", handle)
    return app


def expected_items(base_url: str) -> list[dict[str, Any]]:
    """What the `books` spider should yield when crawling this site at `base_url`."""
    return [
        {
            "url": urljoin(base_url, book.path),
            "title": book.title,
            "price": book.price,
            "availability": book.availability,
            "upc": book.upc,
            "rating": book.rating,
        }
        for book in BOOKS
    ]
