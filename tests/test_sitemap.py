"""SitemapSpider: robots.txt -> sitemap index -> (gzipped) sitemaps -> pages, by rules."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import pytest
from aiohttp import web

from crawler.api.request import Request
from crawler.api.response import Response
from crawler.api.sitemap import SitemapSpider, _unpack
from crawler.errors import PageError
from tests.support import Project, catch_all, serve_app

NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'


def urlset(*locs: str) -> str:
    entries = "".join(f"<url><loc>{loc}</loc><lastmod>2026-01-01</lastmod></url>" for loc in locs)
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset {NS}>{entries}</urlset>'


def sitemap_app(hits: Counter[str]) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        hits[request.path] += 1
        base = f"http://{request.host}"
        if request.path == "/robots.txt":
            text = f"User-agent: *\nAllow: /\n\nSitemap: {base}/sitemap-index.xml\n"
            return web.Response(text=text)
        if request.path == "/sitemap-index.xml":
            entries = "".join(
                f"<sitemap><loc>{base}/{name}</loc></sitemap>"
                for name in ("sitemap-products.xml.gz", "sitemap-blog.xml")
            )
            body = f"<sitemapindex {NS}>{entries}</sitemapindex>"
            return web.Response(text=body, content_type="application/xml")
        if request.path == "/sitemap-products.xml.gz":  # a gzip file, not a gzip encoding
            body = urlset(f"{base}/product/1", f"{base}/about", f" {base}/product/2 ")
            return web.Response(body=gzip.compress(body.encode()), content_type="application/gzip")
        if request.path == "/sitemap-blog.xml":
            return web.Response(text=urlset(f"{base}/blog/1"), content_type="application/xml")
        return web.Response(text=f"<h1>{request.path}</h1>", content_type="text/html")

    return catch_all(handle)


SPIDER = """
    from crawler.api.sitemap import SitemapSpider

    class Shop(SitemapSpider):
        name = "shop"
        sitemap_urls = ["BASErobots.txt"]
        sitemap_rules = [("/product/", "parse_product")]
        sitemap_follow = ["products"]

        def parse_product(self, response):
            yield {"url": response.url, "title": response.css("h1::text").get()}
"""


def test_robots_index_gzipped_sitemap_and_rules(project: Project) -> None:
    hits: Counter[str] = Counter()
    with serve_app(sitemap_app(hits)) as url:
        project.add_spider("shop", SPIDER.replace("BASE", url))
        result = project.run("crawl", "shop")
    assert result.returncode == 0, result.stderr
    items = sorted(project.items("shop"), key=lambda item: item["url"])
    assert items == [
        {"url": f"{url}product/1", "title": "/product/1"},
        {"url": f"{url}product/2", "title": "/product/2"},
    ]
    assert hits["/sitemap-products.xml.gz"] == 1
    assert hits["/sitemap-blog.xml"] == 0  # not in sitemap_follow
    assert hits["/about"] == 0  # no rule matches it
    assert project.errors("shop") == []


def page(body: bytes, url: str = "http://a.test/sitemap.xml") -> Response:
    return Response(url, 200, [("Content-Type", "application/xml")], body, Request(url))


def test_entities_are_never_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET")
    body = f"""<?xml version="1.0"?>
    <!DOCTYPE urlset [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>
    <urlset><url><loc>http://a.test/&xxe;</loc></url><url><loc>http://a.test/ok</loc></url></urlset>"""
    urls = [request.url for request in SitemapSpider().parse_sitemap(page(body.encode()))]
    assert urls[-1] == "http://a.test/ok"
    assert not any("SECRET" in url for url in urls)


def test_what_is_not_a_sitemap_fails_its_page() -> None:
    with pytest.raises(PageError, match=r"is not a sitemap \(its root element is <html>\)"):
        list(SitemapSpider().parse_sitemap(page(b"<html><body>hi</body></html>")))
    with pytest.raises(PageError, match="is not XML"):
        list(SitemapSpider().parse_sitemap(page(b"  ")))


def test_a_gzipped_sitemap_is_unpacked_only_up_to_the_limit() -> None:
    bomb = gzip.compress(b"<" * 10_000_000)
    assert len(bomb) < 50_000 and len(_unpack(bomb, 1000)) == 1000
    assert _unpack(b"<urlset/>", 1000) == b"<urlset/>"
