"""`crawler parse SPIDER URL` (one page, one callback, its items on stdout) and `crawler shell`."""

from __future__ import annotations

import json
import subprocess

from aiohttp import web

from crawler.cli.bench.server import free_port
from tests.support import Project, serve_app


def shop_app() -> web.Application:
    async def product(request: web.Request) -> web.Response:
        return web.Response(
            text='<h1>Blue mug</h1><p class="price">4.50</p><a href="/p/2">next</a>',
            content_type="text/html",
        )

    async def old(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("/p/1")

    app = web.Application()
    app.router.add_get("/p/1", product)
    app.router.add_get("/old", old)
    return app


SPIDER = """
    from crawler import Spider

    class Shop(Spider):
        name = "shop"

        def parse_product(self, response, currency="EUR"):
            yield {"title": response.css("h1::text").get(), "currency": currency,
                   "price": response.css("p.price::text").get(), "tag": self.tag,
                   "meta": response.meta}
            yield from response.follow_all(css="a", callback=self.parse_product)

        def broken(self, response):
            yield {"title": response.css("h1::text").get()}
            raise RuntimeError("selector changed")

        def strings(self, response):
            yield "a string"
"""


def test_parse_prints_the_items_and_the_requests(project: Project) -> None:
    project.add_spider("shop", SPIDER)
    with serve_app(shop_app()) as url:
        result = project.run(
            "parse", "shop", url + "old", "-c", "parse_product", "-a", "tag=new",
            "--meta", '{"from": "cli"}', "--cb-kwargs", '{"currency": "GBP"}',
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [item] = [json.loads(line) for line in result.stdout.splitlines()]
    assert item == {
        "title": "Blue mug",
        "currency": "GBP",
        "price": "4.50",
        "tag": "new",
        "meta": {"from": "cli"},
    }
    assert f"HTTP 200 {url}p/1 " in result.stderr  # the redirect was followed
    assert f"-> GET {url}p/2 parse_product()" in result.stderr
    assert "1 items, 1 requests" in result.stderr
    assert not (project.root / "output").exists()  # no run folder, no journal


def test_parse_reports_what_would_fail_the_page(project: Project) -> None:
    project.add_spider("shop", SPIDER)
    with serve_app(shop_app()) as url:
        raised = project.run("parse", "shop", url + "p/1", "-c", "broken")
        strings = project.run("parse", "shop", url + "p/1", "-c", "strings")
        missing = project.run("parse", "shop", url + "p/1", "-c", "nope")
    assert raised.returncode == 1 and "RuntimeError: selector changed" in raised.stderr
    assert "Traceback" in raised.stderr and raised.stdout == ""
    assert strings.returncode == 1 and "strings() yielded str; expected an item" in strings.stderr
    assert missing.returncode == 2 and "spider 'shop' has no callback 'nope'" in missing.stderr


def test_parse_says_why_it_cannot_fetch(project: Project) -> None:
    project.add_spider("shop", SPIDER)
    closed = f"http://127.0.0.1:{free_port()}/p/1"
    result = project.run("parse", "shop", closed, "-c", "parse_product")
    assert result.returncode == 2
    assert f"error: cannot fetch {closed}: ClientConnectorError" in result.stderr
    bad = project.run("parse", "shop", "ftp://x/", "--meta", "[1]")
    assert bad.returncode == 2 and "not a JSON object" in bad.stderr


def test_shell_fetches_into_response_and_knows_the_spider(project: Project) -> None:
    project.add_spider("shop", SPIDER)
    commands = (
        'print("title:", response.css("h1::text").get())\n'
        'fetch(response.urljoin("/old")).status\n'
        'print("again:", response.url, spider.name, spider.tag)\n'
    )
    with serve_app(shop_app()) as url:
        result = subprocess.run(
            project.command("shell", url + "p/1", "--spider", "shop", "-a", "tag=x"),
            cwd=project.root,
            input=commands,
            capture_output=True,
            text=True,
            timeout=60,
        )
        missing = project.run("shell", f"http://127.0.0.1:{free_port()}/")
    assert result.returncode == 0, result.stderr
    assert "title: Blue mug" in result.stdout
    assert f"again: {url}p/1 shop x" in result.stdout  # fetch() followed the redirect
    assert f"crawler shell: 200 {url}p/1 (" in result.stderr
    assert missing.returncode == 2 and "error: cannot fetch" in missing.stderr
