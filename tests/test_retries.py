"""Retries: exponential backoff with jitter, Retry-After honoured (and capped)."""

from __future__ import annotations

import email.utils
import time
from collections import defaultdict

from aiohttp import web

from crawler.downloader import retry_after
from tests.support import Project, serve_app

SPIDER = """
    from crawler import Spider

    class Flaky(Spider):
        name = "flaky"
        start_urls = [{urls}]

        def parse(self, response):
            yield {{"url": response.url}}
"""


def flaky_app(hits: dict[str, list[float]]) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        hits[request.path].append(time.monotonic())
        if request.path == "/busy" and len(hits[request.path]) == 1:
            return web.Response(status=503, headers={"Retry-After": "1"})
        if request.path == "/broken":
            return web.Response(status=500)
        return web.Response(text="<html><body>ok</body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    return app


def test_retry_after_and_backoff(project: Project) -> None:
    hits: dict[str, list[float]] = defaultdict(list)
    with serve_app(flaky_app(hits)) as url:
        urls = ", ".join(repr(url + path) for path in ("busy", "broken"))
        project.add_spider("flaky", SPIDER.format(urls=urls))
        project.write_settings("[downloader]\nretries = 2\nretry_backoff = 0.2\n")
        result = project.run("crawl", "flaky")
    assert result.returncode == 0, result.stderr
    busy, broken = hits["/busy"], hits["/broken"]
    assert len(busy) == 2 and busy[1] - busy[0] >= 0.95  # Retry-After: 1
    assert len(broken) == 3  # one try and two retries
    assert broken[1] - broken[0] >= 0.2 * 0.5 and broken[2] - broken[1] >= 0.4 * 0.5
    assert [item["url"] for item in project.items("flaky")] == [url + "busy"]
    [error] = project.errors("flaky")
    assert error["reason"] == "HTTP 500" and error["attempts"] == 3 and error["status"] == 500
    assert project.stats("flaky")["retries"] == 3


def test_retry_after_values() -> None:
    assert retry_after("7") == 7.0
    assert retry_after(None) == 0.0 and retry_after("soon") == 0.0
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= retry_after(future) <= 31
    past = email.utils.formatdate(time.time() - 30, usegmt=True)
    assert retry_after(past) == 0.0


DELAYED = """
    from crawler import Spider

    class Polite(Spider):
        name = "polite"
        start_urls = [{urls}]

        def parse(self, response):
            yield {{"url": response.url}}
"""


def test_per_host_delay_holds_across_downloaders(project: Project) -> None:
    hits: dict[str, list[float]] = defaultdict(list)
    with serve_app(flaky_app(hits)) as url:
        urls = ", ".join(repr(f"{url}page/{n}") for n in range(6))
        project.add_spider("polite", DELAYED.format(urls=urls))
        project.write_settings(
            "[processes]\ndownloaders = 2\nparsers = 1\n[downloader]\ndelay = 0.3\n"
        )
        result = project.run("crawl", "polite")
    assert result.returncode == 0, result.stderr
    times = sorted(t for path, stamps in hits.items() for t in stamps if path != "/robots.txt")
    assert len(times) == 6
    # Leases are spaced at least 0.15 s apart (0.3 s, jittered 0.5x-1.5x) whichever of the
    # two downloaders fetches; arrival times also carry each downloader's own latency, so
    # check the span (without a delay, all six arrive within a few milliseconds).
    assert times[-1] - times[0] >= 5 * 0.3 * 0.5 - 0.05, dict(hits)
    assert len(project.items("polite")) == 6
