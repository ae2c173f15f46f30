"""Books to Scrape: every book in the catalogue, with its price, stock, UPC and rating.

crawler crawl books                                  # the real site
crawler crawl books -a base_url=http://127.0.0.1:8000/   # a local copy
"""

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from crawler import Request, Response, Spider


class BooksSpider(Spider):
    name = "books"
    base_url = "https://books.toscrape.com/"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start_urls = [self.base_url]
        self.allowed_domains = [urlsplit(self.base_url).hostname or ""]

    def parse(self, response: Response) -> Iterator[Request]:
        """A listing page: the index, or /catalogue/page-N.html."""
        yield from response.follow_all(css="article.product_pod h3 a", callback=self.parse_book)
        yield from response.follow_all(css="li.next a", callback=self.parse)

    def parse_book(self, response: Response) -> Iterator[dict[str, Any]]:
        """A book page: /catalogue/<slug>_<id>/index.html."""
        main = response.css("div.product_main")
        rating = main.css("p.star-rating::attr(class)").get(default="")
        yield {
            "url": response.url,
            "title": main.css("h1::text").get(),
            "price": main.css("p.price_color::text").get(),
            "availability": "".join(main.css("p.availability::text").getall()).strip(),
            "upc": response.xpath("//table//tr[th='UPC']/td/text()").get(),
            "rating": rating.removeprefix("star-rating").strip(),  # "star-rating Three"
        }
