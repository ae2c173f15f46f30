"""robots.txt, Crawl-delay and the auto-throttle, end to end against local servers."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from aiohttp import web

from tests.support import Project, serve_app

SPIDER = """
    from crawler import Spider

    class Polite(Spider):
        name = "polite"
        start_urls = ["BASE"]

        def parse(self, response):
            yield from response.follow_all(css="a")
            yield {"url": response.url}
"""

ROBOTS = "User-agent: *\nDisallow: /private\nCrawl-delay: 0.3\n"


def site(hits: Counter[str], times: list[float], robots: str | int) -> web.Application:
    links = "".join(f'<a href="/page/{i}">{i}</a>' for i in range(4))

    async def handle(request: web.Request) -> web.Response:
        hits[request.path] += 1
        if request.path == "/robots.txt":
            if isinstance(robots, int):
                return web.Response(status=robots)
            return web.Response(text=robots)
        times.append(time.monotonic())
        html = f'<html>{links}<a href="/private/secret">s</a></html>'
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    return app


def crawl(
    project: Project, robots: str | int, settings: str = "", downloaders: int = 2
) -> tuple[Counter[str], list[float]]:
    hits: Counter[str] = Counter()
    times: list[float] = []
    with serve_app(site(hits, times, robots)) as url:
        project.add_spider("polite", SPIDER.replace("BASE", url))
        project.write_settings(f"[processes]\ndownloaders = {downloaders}\n" + settings)
        result = project.run("crawl", "polite")
    assert result.returncode == 0, result.stderr
    return hits, times


def test_robots_txt_is_obeyed_with_its_crawl_delay(project: Project) -> None:
    hits, times = crawl(project, ROBOTS, downloaders=1)
    assert hits["/robots.txt"] == 1
    assert hits["/private/secret"] == 0
    assert len(project.items("polite")) == 5
    stats = project.stats("polite")
    assert stats["filtered"] == {"robots": 1}
    assert stats["robots"]["fetched"] == 1
    # Crawl-delay 0.3 s, jittered 0.5x-1.5x, between lease times; arrival times also carry
    # the downloader's latency, so check the span (without the delay, all five pages
    # arrive within a few milliseconds).
    assert len(times) == 5
    assert times[-1] - times[0] >= 4 * 0.3 * 0.5 - 0.05, times


def test_robots_txt_can_be_ignored(project: Project) -> None:
    hits, _ = crawl(project, ROBOTS, "[downloader]\nobey_robots = false\n")
    assert hits["/robots.txt"] == 0 and hits["/private/secret"] == 1
    assert len(project.items("polite")) == 6


def test_missing_robots_txt_allows_everything(project: Project) -> None:
    hits, _ = crawl(project, 404)
    assert hits["/robots.txt"] == 1 and hits["/private/secret"] == 1


def test_a_failing_robots_txt_disallows_the_site(project: Project) -> None:
    hits, _ = crawl(project, 500)
    assert hits["/robots.txt"] == 3  # one try and two retries, then "unreachable"
    assert project.items("polite") == []
    stats = project.stats("polite")
    assert stats["filtered"] == {"robots": 1} and stats["robots"]["unreachable"] == 1


def test_the_summary_shows_robots_and_filtered_counts(project: Project) -> None:
    hits: Counter[str] = Counter()
    with serve_app(site(hits, [], ROBOTS)) as url:
        project.add_spider("polite", SPIDER.replace("BASE", url))
        result = project.run("crawl", "polite")
    assert result.returncode == 0, result.stderr
    assert "filtered: robots: 1" in result.stderr
    assert "robots.txt: 1 fetched" in result.stderr


def slow_site(in_flight: list[int]) -> web.Application:
    links = "".join(f'<a href="/page/{i}">{i}</a>' for i in range(12))
    current = [0]

    async def handle(request: web.Request) -> web.Response:
        if request.path == "/robots.txt":
            return web.Response(status=404)
        current[0] += 1
        in_flight.append(current[0])
        await asyncio.sleep(0.1)
        current[0] -= 1
        return web.Response(text=f"<html>{links}</html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    return app


def test_auto_throttle_keeps_a_slow_host_at_its_target_concurrency(project: Project) -> None:
    for throttle, bound in (("true", 3), ("false", None)):
        in_flight: list[int] = []
        with serve_app(slow_site(in_flight)) as url:
            project.add_spider("polite", SPIDER.replace("BASE", url))
            project.write_settings(
                f"[throttle]\nenabled = {throttle}\nstart_delay = 0.2\ntarget_concurrency = 1.0\n"
            )
            result = project.run("crawl", "polite", "--fresh")
        assert result.returncode == 0, result.stderr
        assert len(project.items("polite")) == 13
        if bound is not None:
            assert max(in_flight) <= bound, in_flight
        else:
            assert max(in_flight) > 3, in_flight  # without it, all 12 links go at once
