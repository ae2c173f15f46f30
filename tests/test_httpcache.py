"""The HTTP cache: a second crawl is answered from disk, redirects included; retryable
statuses are not kept; expired entries are fetched again."""

from __future__ import annotations

from collections import Counter

from aiohttp import web

from tests.support import Project, catch_all, serve_app


def counting_app(runs: list[Counter[str]]) -> web.Application:
    """Counts each path's requests in the last counter of `runs`."""

    async def handle(request: web.Request) -> web.Response:
        runs[-1][request.path] += 1
        if request.path == "/robots.txt":
            return web.Response(text="User-agent: *\nDisallow: /p/2\n")
        if request.path == "/old":
            raise web.HTTPMovedPermanently("/new")
        if request.path == "/busy":
            return web.Response(status=503)
        links = (
            "".join(f'<a href="/p/{n}">{n}</a>' for n in range(3)) if request.path == "/" else ""
        )
        body = f"<html><h1>{request.path}</h1>{links}</html>"
        return web.Response(text=body, content_type="text/html")

    return catch_all(handle)


SPIDER = """
    from crawler import Spider

    class Cached(Spider):
        name = "cached"
        start_urls = ["BASE", "BASEold", "BASEbusy"]

        def parse(self, response):
            yield {"url": response.url, "title": response.css("h1::text").get()}
            yield from response.follow_all(css="a")
"""

SETTINGS = """
[downloader]
retries = 1
retry_backoff = 0.01

[cache]
enabled = true
EXTRA
"""


def crawl_twice(project: Project, extra: str = "") -> tuple[Counter[str], Counter[str]]:
    """The requests the server saw in each of two crawls (the same URLs, so the same keys)."""
    runs: list[Counter[str]] = []
    with serve_app(counting_app(runs)) as url:
        project.add_spider("cached", SPIDER.replace("BASE", url))
        project.write_settings(SETTINGS.replace("EXTRA", extra))
        for _ in range(2):
            runs.append(Counter())
            result = project.run("crawl", "cached", "--fresh")
            assert result.returncode == 0, result.stderr
            titles = sorted(item["title"] for item in project.items("cached"))
            assert titles == ["/", "/new", "/p/0", "/p/1"]  # robots.txt forbids /p/2
    return runs[0], runs[1]


def test_a_second_crawl_is_answered_from_the_cache(project: Project) -> None:
    first, second = crawl_twice(project)
    assert first["/"] == first["/p/1"] == first["/old"] == first["/new"] == 1
    assert first["/robots.txt"] == 1 and first["/p/2"] == 0
    assert first["/busy"] == 2  # one retry
    assert sum(second.values()) == 2  # /busy twice (a 503 is not kept); robots.txt was kept
    assert second["/busy"] == 2
    folder = project.root / ".cache" / "http" / "cached"
    files = [path for path in folder.rglob("*") if path.is_file()]
    assert len(files) == 6  # 4 pages, 1 redirect, robots.txt


def test_expired_entries_are_fetched_again(project: Project) -> None:
    _, second = crawl_twice(project, "expiration = 0.001")
    assert second["/"] == second["/p/1"] == second["/old"] == second["/robots.txt"] == 1
