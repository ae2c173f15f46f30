"""Retries: exponential backoff with jitter, Retry-After honoured (and capped)."""

from __future__ import annotations

import email.utils
import time
from collections import defaultdict

from aiohttp import web

from crawler.downloader.outcome import retry_after
from crawler.scheduler.backoff import HostBackoff
from tests.support import Project, catch_all, serve_app

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


def test_host_backoff_doubles_honours_retry_after_caps_and_resets() -> None:
    backoff = HostBackoff(base=1.0, cap=10.0)
    first, second, third = (backoff.slowed("a.com", 0.0) for _ in range(3))
    assert 0.5 <= first <= 1.5 and 1.0 <= second <= 3.0 and 2.0 <= third <= 6.0
    fourth, fifth, sixth = (backoff.slowed("a.com", 0.0) for _ in range(3))
    assert 4.0 <= fourth <= 10.0 and 8.0 <= fifth <= 10.0
    assert sixth == 10.0  # 32 s jittered down to 16 s at least: always capped
    assert backoff.slowed("b.com", 7.0) == 7.0  # Retry-After, longer than the backoff
    assert backoff.slowed("c.com", 99.0) == 10.0  # capped by max_retry_after
    backoff.recovered("a.com")
    assert 0.5 <= backoff.slowed("a.com", 0.0) <= 1.5


def paced_app(hits: dict[str, list[float]]) -> web.Application:
    """/slow answers 429 with Retry-After: 2 the first time; every other path is a page."""

    async def handle(request: web.Request) -> web.Response:
        if request.path == "/robots.txt":
            raise web.HTTPNotFound()
        hits[request.path].append(time.monotonic())
        if request.path == "/slow" and len(hits["/slow"]) == 1:
            return web.Response(status=429, headers={"Retry-After": "2"})
        return web.Response(text="<html>ok</html>", content_type="text/html")

    return catch_all(handle)


PACED = """
    from crawler import Request, Spider

    class Paced(Spider):
        name = "paced"

        def start_requests(self):
            yield Request("SLOWslow", priority=10)
            for n in range(4):
                yield Request(f"SLOWp{n}")
                yield Request(f"OTHERq{n}")

        def parse(self, response):
            yield {"url": response.url}
"""


def test_a_429_pauses_its_host_and_only_its_host(project: Project) -> None:
    slow: dict[str, list[float]] = defaultdict(list)
    other: dict[str, list[float]] = defaultdict(list)
    with serve_app(paced_app(slow)) as slow_url, serve_app(paced_app(other)) as other_url:
        project.add_spider("paced", PACED.replace("SLOW", slow_url).replace("OTHER", other_url))
        project.write_settings("[downloader]\nper_host = 1\nretry_backoff = 0.2\n")
        result = project.run("crawl", "paced")
    assert result.returncode == 0, result.stderr
    refused = slow["/slow"][0]
    pages = [hits[0] for path, hits in slow.items() if path != "/slow"]
    assert len(pages) == 4 and min(pages) - refused >= 1.9  # Retry-After: 2, for the host
    assert slow["/slow"][1] - refused >= 1.9  # and for the request itself
    assert max(hits[0] for hits in other.values()) < min(pages)  # the other host went on
    assert len(project.items("paced")) == 9
    assert project.stats("paced")["host_pauses"] == 1
