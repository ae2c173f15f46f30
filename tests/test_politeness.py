"""robots.txt, Crawl-delay and the auto-throttle, end to end against local servers."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections import Counter

from aiohttp import web

from tests.support import Project, catch_all, serve_app

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


def test_a_downloader_killed_while_fetching_robots_txt_hands_it_to_the_next(
    project: Project,
) -> None:
    """robots.txt is fetched by a downloader; its death loses neither the file nor the crawl."""
    hits: Counter[str] = Counter()
    robots_asked, killed = threading.Event(), threading.Event()

    async def handle(request: web.Request) -> web.Response:
        hits[request.path] += 1
        if request.path == "/robots.txt":
            if hits["/robots.txt"] == 1:
                robots_asked.set()
                while not killed.is_set():  # the downloader asking is killed meanwhile
                    await asyncio.sleep(0.05)
            return web.Response(text=ROBOTS)
        links = '<a href="/page/1">1</a><a href="/private/secret">s</a>'
        return web.Response(text=f"<html>{links}</html>", content_type="text/html")

    with serve_app(catch_all(handle, "GET")) as url:
        project.add_spider("polite", SPIDER.replace("BASE", url))
        project.write_settings("[processes]\ndownloaders = 1\n")
        process = project.start("crawl", "polite")
        try:
            assert robots_asked.wait(30), "no downloader asked for robots.txt"
            (downloader,) = (
                w["pid"] for w in project.status("polite")["workers"] if w["role"] == "downloader"
            )
            os.kill(downloader, signal.SIGKILL)
            killed.set()
            _, stderr = process.communicate(timeout=60)
        finally:
            killed.set()
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0, stderr
    assert hits["/robots.txt"] == 2 and hits["/private/secret"] == 0
    assert {item["url"] for item in project.items("polite")} == {url, url + "page/1"}
    stats = project.stats("polite")
    assert stats["worker_deaths"] == 1 and stats["robots"]["fetched"] == 1
