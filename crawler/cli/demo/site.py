"""A deterministic catalogue site, generated on the fly; used by the demo, tests and benchmarks.

`/` links to the first listing page; each listing page `/catalogue/page-N.html` links to
20 products and to the next page; each product `/product/N.html` has a title, a price and
an availability, and links to two other products (so the crawl meets duplicates).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

PER_PAGE = 20
_ADJECTIVES = ("Red", "Quiet", "Swift", "Golden", "Hidden", "Lucky", "Brave", "Misty")
_NOUNS = ("Lantern", "River", "Compass", "Garden", "Harbor", "Violin", "Falcon", "Atlas")


_REVIEW_TEXT = (
    "Arrived quickly and well packed. The finish is better than the photos suggest, "
    "and it has held up to daily use for a month. <b>Recommended</b>, though the "
    "instructions could be clearer about assembly and care."
)
_NAVIGATION = (
    '<header><nav><ul class="categories">'
    + "".join(f'<li><a href="/category/{n}/">Category {n}</a></li>' for n in range(40))
    + '</ul></nav><form class="search"><input name="q"><button>Search</button></form>'
    '<ul class="breadcrumb"><li><a href="/">Home</a></li><li>Catalogue</li></ul></header>'
)
_FOOTER = (
    "<footer><ul>"
    + "".join(f'<li><a href="/help/{n}.html">Help topic {n}</a></li>' for n in range(20))
    + "</ul><p>&copy; 2026 The Demo Shop</p></footer>"
)


@dataclass(frozen=True)
class Product:
    number: int
    title: str
    price: str
    available: bool


class Catalogue:
    """`products` product pages in listing pages of 20."""

    def __init__(self, products: int, padding: int = 0, related: bool = True) -> None:
        self.products = products
        self.listing_pages = max(1, -(-products // PER_PAGE))
        self.padding = padding
        self.related = related

    def product(self, number: int) -> Product:
        digest = hashlib.blake2b(number.to_bytes(8, "little"), digest_size=8).digest()
        title = f"{_ADJECTIVES[digest[0] % 8]} {_NOUNS[digest[1] % 8]} No. {number}"
        price = f"£{10 + digest[2] % 90}.{digest[3] % 100:02d}"
        return Product(number, title, price, digest[4] % 5 != 0)

    def page_count(self) -> int:
        return 1 + self.listing_pages + self.products

    def render(self, path: str) -> bytes | None:
        """The HTML of `path`, or None for a 404."""
        if path in ("/", "/index.html"):
            return self._html(
                "Catalogue", '<a class="start" href="/catalogue/page-1.html">Browse</a>'
            )
        if path.startswith("/catalogue/page-") and path.endswith(".html"):
            number = _number(path[len("/catalogue/page-") : -5])
            if number is not None and 1 <= number <= self.listing_pages:
                return self._listing(number)
        if path.startswith("/product/") and path.endswith(".html"):
            number = _number(path[len("/product/") : -5])
            if number is not None and 1 <= number <= self.products:
                return self._product(number)
        return None

    def _listing(self, number: int) -> bytes:
        first = (number - 1) * PER_PAGE + 1
        last = min(self.products, number * PER_PAGE)
        links = "".join(
            f'<li class="product"><a href="/product/{n}.html">{self.product(n).title}</a></li>'
            for n in range(first, last + 1)
        )
        nav = (
            f'<li class="next"><a href="page-{number + 1}.html">next</a></li>'
            if number < self.listing_pages
            else ""
        )
        return self._html(
            f"Page {number}", f'<ol class="products">{links}</ol><ul class="pager">{nav}</ul>'
        )

    def _product(self, number: int) -> bytes:
        product = self.product(number)
        related = [(number * 7) % self.products + 1, (number * 13) % self.products + 1]
        related = related if self.related else []
        links = "".join(
            f'<a class="related" href="/product/{n}.html#reviews">{n}</a>' for n in related
        )
        body = (
            f'<article class="product"><h1>{product.title}</h1>'
            f'<p class="price">{product.price}</p>'
            f'<p class="availability">{"In stock" if product.available else "Out of stock"}</p>'
            f'<div class="related">{links}</div></article>'
        )
        if self.padding:
            body = _NAVIGATION + body + self._reviews(number) + _FOOTER
        return self._html(product.title, body)

    def _reviews(self, number: int) -> str:
        """`padding` reviews, about 600 bytes and 12 elements each: the bulk of a real page."""
        reviews = []
        for n in range(self.padding):
            digest = hashlib.blake2b(f"{number}/{n}".encode(), digest_size=4).digest()
            stars = "".join('<i class="star"></i>' for _ in range(1 + digest[0] % 5))
            reviews.append(
                f'<div class="review" id="r{n}"><div class="meta"><span class="author">'
                f"{_ADJECTIVES[digest[1] % 8]} {_NOUNS[digest[2] % 8]}</span>"
                f'<span class="date">2026-{1 + digest[3] % 12:02d}-{1 + n % 28:02d}</span>'
                f'<span class="rating">{stars}</span></div>'
                f'<p>{_REVIEW_TEXT}</p><ul class="votes"><li><a href="#r{n}">Helpful</a>'
                f'</li><li><a href="#r{n}">Report</a></li></ul></div>'
            )
        return f'<section class="reviews"><h2>Reviews</h2>{"".join(reviews)}</section>'

    def _html(self, title: str, body: str) -> bytes:
        return (
            f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title></head>'
            f"<body>{body}</body></html>"
        ).encode()

    def expected_items(self, base_url: str) -> list[dict[str, str | bool]]:
        """The items the demo spider must extract, one per product."""
        base = base_url.rstrip("/")
        return [
            {
                "url": f"{base}/product/{p.number}.html",
                "title": p.title,
                "price": p.price,
                "available": p.available,
            }
            for p in (self.product(n) for n in range(1, self.products + 1))
        ]


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() else None
