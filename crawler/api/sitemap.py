"""`SitemapSpider`: crawl the pages a site lists in its sitemaps (Scrapy's `SitemapSpider`).

Sitemaps are found in robots.txt (`Sitemap:` lines) or given directly; sitemap indexes are
followed, gzipped sitemaps (`.xml.gz`) are unpacked, and each listed URL goes to the
callback of the first rule whose pattern it matches.  The XML is parsed with lxml without
resolving entities or fetching anything (no XXE), and a sitemap is cut off at
`sitemap_max_size` bytes unpacked: the protocol's own limit is 50 MB.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from typing import Any, ClassVar

from lxml import etree

from crawler.api.request import Request
from crawler.api.spider import Spider
from crawler.errors import PageError

_GZIP_MAGIC = b"\x1f\x8b"


class SitemapSpider(Spider):
    """Set `sitemap_urls` (robots.txt or sitemap URLs) and `sitemap_rules`.

    `sitemap_rules`: (regex, callback name) pairs; a listed URL goes to the first rule whose
    regex it contains (`re.search`); URLs no rule matches are not fetched.  The default
    sends every URL to `parse`.  `sitemap_follow`: regexes of the sitemaps an index may
    lead to (default: all).  `sitemap_alternate_links`: also follow the `hreflang`
    alternates of each URL.
    """

    sitemap_urls: ClassVar[list[str]] = []
    sitemap_rules: ClassVar[list[tuple[str, str]]] = [("", "parse")]
    sitemap_follow: ClassVar[list[str]] = [""]
    sitemap_alternate_links: ClassVar[bool] = False
    sitemap_max_size: ClassVar[int] = 50 * 1024 * 1024

    def start_requests(self) -> Iterator[Request]:
        for url in self.sitemap_urls:
            yield Request(url, callback=self.parse_sitemap)

    def parse_sitemap(self, response: Any) -> Iterator[Request]:
        """The callback of robots.txt files, sitemap indexes and sitemaps."""
        if response.url.endswith("/robots.txt"):
            for line in response.text.splitlines():
                key, _, value = line.partition(":")
                if key.strip().lower() == "sitemap" and value.strip():
                    yield Request(response.urljoin(value.strip()), callback=self.parse_sitemap)
            return
        root = _parse_xml(_unpack(response.body, self.sitemap_max_size), response.url)
        kind = etree.QName(root).localname
        if kind == "sitemapindex":
            follow = [re.compile(pattern) for pattern in self.sitemap_follow]
            for loc in _locations(root, "sitemap"):
                if any(pattern.search(loc) for pattern in follow):
                    yield Request(response.urljoin(loc), callback=self.parse_sitemap)
        elif kind == "urlset":
            rules = [(re.compile(pattern), callback) for pattern, callback in self.sitemap_rules]
            for loc in _locations(root, "url", self.sitemap_alternate_links):
                for pattern, callback in rules:
                    if pattern.search(loc):
                        yield Request(response.urljoin(loc), callback=callback)
                        break
        else:
            raise PageError(f"{response.url} is not a sitemap (its root element is <{kind}>)")


def _unpack(body: bytes, limit: int) -> bytes:
    """The body, gunzipped if it is gzip (a .xml.gz file), cut off at `limit` bytes."""
    if not body.startswith(_GZIP_MAGIC):
        return body[:limit]
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        return inflater.decompress(body, limit)
    except zlib.error as exc:
        raise PageError(f"corrupt gzipped sitemap: {exc}") from exc


def _parse_xml(data: bytes, url: str) -> Any:
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=False)
    root = etree.fromstring(data, parser=parser) if data.strip() else None
    if root is None:
        raise PageError(f"{url} is not XML")
    return root


def _locations(root: Any, entry: str, alternates: bool = False) -> Iterator[str]:
    """The <loc> of each <url> or <sitemap> entry (any namespace), and its alternates."""
    for element in root:
        if not isinstance(element.tag, str) or etree.QName(element).localname != entry:
            continue
        for child in element:
            if not isinstance(child.tag, str):
                continue
            name = etree.QName(child).localname
            if name == "loc" and child.text and child.text.strip():
                yield child.text.strip()
            elif alternates and name == "link" and child.get("rel") == "alternate":
                href = child.get("href")
                if href:
                    yield href.strip()
