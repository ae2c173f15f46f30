"""The spider API end to end: callback styles, start requests, bad yields, settings, -o."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from aiohttp import web

from tests.support import Project, read_jsonl, serve_app

SETTINGS = """
    [processes]
    downloaders = 1
    parsers = 1
"""


@pytest.fixture
def site() -> Iterator[str]:
    """/n links to /n+1 .. up to /5, and every page has a title 'page n'."""

    async def handle(request: web.Request) -> web.Response:
        n = int(request.match_info["n"] or 0)
        link = f'<a href="/{n + 1}">next</a>' if n < 5 else ""
        html = f"<html><head><title>page {n}</title></head><body>{link}</body></html>"
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/{n:[0-9]*}", handle)
    with serve_app(app) as url:
        yield url


def crawl(project: Project, name: str, source: str, *args: str) -> str:
    project.add_spider(name, source)
    project.write_settings(SETTINGS)
    result = project.run("crawl", name, *args)
    assert result.returncode == 0, result.stderr
    return result.stderr


STYLES = {
    "function": """
        def parse(self, response):
            return [{"title": response.css("title::text").get()}] + response.follow_all(css="a")
    """,
    "generator": """
        def parse(self, response):
            yield {"title": response.css("title::text").get()}
            yield from response.follow_all(css="a")
    """,
    "coroutine": """
        async def parse(self, response):
            await asyncio.sleep(0)
            return [{"title": response.css("title::text").get()}, *response.follow_all(css="a")]
    """,
    "async_generator": """
        async def parse(self, response):
            await asyncio.sleep(0)
            yield {"title": response.css("title::text").get()}
            for request in response.follow_all(css="a"):
                yield request
    """,
    "dataclass_item": """
        def parse(self, response):
            yield Page(response.css("title::text").get())
            yield from response.follow_all(css="a")
    """,
}


@pytest.mark.parametrize("style", sorted(STYLES))
def test_callback_styles(project: Project, site: str, style: str) -> None:
    source = f"""
import asyncio
from dataclasses import dataclass
from crawler import Spider

@dataclass
class Page:
    title: str

class Styled(Spider):
    name = "styled"
    start_urls = [{site + "0"!r}]
{_indent(STYLES[style])}
"""
    crawl(project, "styled", source)
    titles = sorted(item["title"] for item in project.items("styled"))
    assert titles == [f"page {n}" for n in range(6)]


def _indent(code: str) -> str:
    import textwrap

    return textwrap.indent(textwrap.dedent(code), "    ")


def test_async_start_requests_and_meta(project: Project, site: str) -> None:
    source = f"""
from crawler import Request, Spider

class Starts(Spider):
    name = "starts"

    async def start_requests(self):
        for n in (1, 3):
            meta = {{"n": n, "tags": ["a"]}}
            yield Request({site!r} + str(n), callback=self.parse_page, meta=meta)

    def parse_page(self, response):
        yield {{"n": response.meta["n"], "tags": response.meta["tags"], "status": response.status}}
"""
    crawl(project, "starts", source)
    items = sorted(project.items("starts"), key=lambda item: item["n"])
    assert items == [{"n": 1, "tags": ["a"], "status": 200}, {"n": 3, "tags": ["a"], "status": 200}]


def test_cb_kwargs_reach_the_callback_as_keyword_arguments(project: Project, site: str) -> None:
    source = f"""
from crawler import Request, Spider

class Kwargs(Spider):
    name = "kwargs"

    def start_requests(self):
        yield Request({site!r}, callback=self.parse_page, cb_kwargs={{"n": 0, "tags": ["a"]}})

    def parse_page(self, response, n, tags):
        yield {{"n": n, "tags": tags, "same": response.cb_kwargs == {{"n": n, "tags": tags}}}}
        if n == 0:
            yield response.follow("1", callback=self.parse_page, cb_kwargs={{"n": 1, "tags": []}})
"""
    crawl(project, "kwargs", source)
    items = sorted(project.items("kwargs"), key=lambda item: item["n"])
    assert items == [{"n": 0, "tags": ["a"], "same": True}, {"n": 1, "tags": [], "same": True}]


BAD_YIELDS = {
    "str": ('yield "just a string"', "yielded str"),
    "lambda_callback": ("yield response.follow('/2', callback=lambda r: None)", "not a method"),
    "plain_meta": ("yield response.follow('/2', meta={'when': object()})", "not plain data"),
    "unserialisable_item": ("yield {'value': object()}", "cannot be serialised"),
    "not_a_method": ("yield response.follow('/2', callback='nope')", "not a method"),
    "plain_cb_kwargs": ("yield response.follow('/2', cb_kwargs={'x': {1}})", "not plain data"),
}


@pytest.mark.parametrize("case", sorted(BAD_YIELDS))
def test_bad_yield_fails_only_that_page(project: Project, site: str, case: str) -> None:
    statement, message = BAD_YIELDS[case]
    source = f"""
from crawler import Spider

class Bad(Spider):
    name = "bad"
    start_urls = [{site + "0"!r}, {site + "1"!r}]

    def parse(self, response):
        yield {{"url": response.url}}
        if response.url.endswith("/1"):
            {statement}
"""
    stderr = crawl(project, "bad", source)
    assert [item["url"] for item in project.items("bad")] == [site + "0"]
    errors = project.errors("bad")
    assert [error["url"] for error in errors] == [site + "1"]
    assert message in errors[0]["reason"]
    assert "spider error processing" in stderr


def test_custom_settings_and_overrides(project: Project, site: str) -> None:
    source = f"""
from crawler import Spider

class Limited(Spider):
    name = "limited"
    start_urls = [{site + "0"!r}]
    custom_settings = {{"limits.max_pages": 2}}

    def parse(self, response):
        yield {{"url": response.url}}
        yield from response.follow_all(css="a")
"""
    crawl(project, "limited", source)
    assert len(project.items("limited")) == 2
    project.run("crawl", "limited", "-s", "limits.max_pages=4", "--fresh")
    assert len(project.items("limited")) == 4


def test_output_option_writes_one_more_export(project: Project, site: str) -> None:
    source = f"""
from crawler import Spider

class Out(Spider):
    name = "out"
    start_urls = [{site + "4"!r}]

    def parse(self, response):
        yield {{"url": response.url}}
        yield from response.follow_all(css="a")
"""
    crawl(project, "out", source, "-o", "exports/all.jsonl", "-s", "output.format=csv")
    assert read_jsonl(project.root / "exports" / "all.jsonl") == project.items("out")
    assert len(project.items("out")) == 2
    csv_lines = (project.run_dir("out") / "items.csv").read_text().splitlines()
    assert csv_lines[0] == "url" and len(csv_lines) == 3


def test_python_dash_m_and_console_script_agree(project: Project) -> None:
    project.add_spider(
        "one", "from crawler import Spider\n\nclass One(Spider):\n    name = 'one'\n"
    )
    result = project.run("list")
    assert result.returncode == 0 and "one\tspiders.one.One" in result.stdout


def test_stats_json_fields(project: Project, site: str) -> None:
    source = f"""
from crawler import Spider

class S(Spider):
    name = "s"
    start_urls = [{site + "0"!r}, {site + "missing"!r}]

    def parse(self, response):
        yield {{"url": response.url}}
"""
    crawl(project, "s", source)
    stats = project.stats("s")
    assert stats["state"] == "finished"
    assert stats["pages"] == 1 and stats["items"] == 1 and stats["failed"] == 1
    assert stats["statuses"] == {"200": 1, "404": 1}
    assert stats["failures"] == {"HTTP 404": 1}
    assert json.loads((project.run_dir("s") / "errors.jsonl").read_text())["status"] == 404


def test_response_headers_are_built_on_first_use_and_content_type_reads_the_raw_ones() -> None:
    from crawler.api.request import Request
    from crawler.api.response import Response

    raw = [
        ("content-TYPE", "text/html; charset=utf-8"),
        ("Set-Cookie", "a=1"),
        ("set-cookie", "b=2"),
    ]
    response = Response("http://a.com/", 200, raw, b"<h1>x</h1>", Request("http://a.com/"))
    assert response.content_type == "text/html; charset=utf-8"
    assert response._headers is None
    assert response.headers.getall("Set-Cookie") == ["a=1", "b=2"]
    assert response.content_type == "text/html; charset=utf-8"
    gen = Response("http://a.com/", 200, (h for h in raw), b"", Request("http://a.com/"))
    assert gen.content_type == gen.headers["Content-Type"]
    assert Response("http://a.com/", 200, [], b"", Request("http://a.com/")).content_type is None
