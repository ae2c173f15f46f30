"""End to end: real crawler processes against a real catalogue site on 127.0.0.1."""

from __future__ import annotations

import json
import resource
import signal
from collections import Counter
from collections.abc import Iterator

import pytest
from aiohttp import web

from crawler.cli.demo.server import make_app
from crawler.cli.demo.site import Catalogue
from crawler.wire.transport import socket_dir
from tests.support import Project, interrupt, serve_app, wait_for

PRODUCTS = 200


def settings(
    downloaders: int = 2, parsers: int = 2, transport: str = "unix", extra: str = ""
) -> str:
    return f"""
        [processes]
        downloaders = {downloaders}
        parsers = {parsers}
        transport = "{transport}"

        [downloader]
        concurrency = 8
        {extra}
    """


def keys(items: list[dict[str, object]]) -> list[str]:
    return sorted(json.dumps(item, sort_keys=True) for item in items)


@pytest.fixture
def site() -> Iterator[str]:
    with serve_app(make_app(Catalogue(PRODUCTS))) as url:
        yield url


@pytest.fixture
def slow_site() -> Iterator[str]:
    with serve_app(make_app(Catalogue(PRODUCTS), delay=0.03)) as url:
        yield url


def crawl_demo(project: Project, url: str, *extra: str) -> None:
    result = project.run("crawl", "demo", "-a", f"base_url={url}", *extra)
    assert result.returncode == 0, result.stderr
    assert "crawl finished" in result.stderr


def assert_clean(project: Project) -> None:
    run = project.run_dir("demo")
    assert not socket_dir(run).exists(), "socket folder left behind"
    assert not list(run.rglob("*.tmp")), "temporary files left behind"


@pytest.mark.parametrize(
    ("downloaders", "parsers", "transport"),
    [(1, 1, "unix"), (2, 2, "unix"), (3, 1, "unix"), (1, 1, "tcp"), (2, 2, "tcp")],
)
def test_crawl_returns_every_item_once(
    project: Project, site: str, downloaders: int, parsers: int, transport: str
) -> None:
    project.copy_spider("demo")
    project.write_settings(settings(downloaders, parsers, transport))
    crawl_demo(project, site)
    assert keys(project.items("demo")) == keys(Catalogue(PRODUCTS).expected_items(site))
    stats = project.stats("demo")
    assert stats["state"] == "finished"
    assert stats["pages"] == Catalogue(PRODUCTS).page_count()
    assert project.errors("demo") == []
    assert_clean(project)


def test_finished_run_is_not_resumed(project: Project, site: str) -> None:
    project.copy_spider("demo")
    project.write_settings(settings(1, 1, extra=""))
    crawl_demo(project, site, "-s", "limits.max_pages=5")
    first = project.run_dir("demo")
    crawl_demo(project, site, "-s", "limits.max_pages=5")
    assert project.run_dir("demo") != first
    assert len(list((project.root / "output" / "demo").iterdir())) == 3  # two runs and latest


DUPLICATES_SPIDER = """
    from crawler import Spider

    class Dupes(Spider):
        name = "dupes"

        def parse(self, response):
            yield {"url": response.url}
            for href in response.css("a::attr(href)").getall():
                yield response.follow(href)
"""


def test_duplicate_links_are_fetched_once(project: Project) -> None:
    hits: Counter[str] = Counter()
    links = ["/a?x=1&y=2", "/a?y=2&x=1", "/a?x=1&y=2#frag", "/b", "/b#top", "/", "/B:80"]

    async def handle(request: web.Request) -> web.Response:
        hits[request.path_qs] += 1
        body = "".join(f'<a href="{href}">x</a>' for href in links)
        return web.Response(text=f"<html><body>{body}</body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    with serve_app(app) as url:
        project.add_spider("dupes", DUPLICATES_SPIDER + f"\n        start_urls = [{url!r}]\n")
        project.write_settings(settings(2, 2))
        result = project.run("crawl", "dupes")
    assert result.returncode == 0, result.stderr
    assert all(count == 1 for count in hits.values()), hits
    assert set(hits) == {"/robots.txt", "/", "/a?x=1&y=2", "/b", "/B:80"}
    assert len(project.items("dupes")) == 4
    assert project.stats("dupes")["duplicates"] > 0


RAISING_SPIDER = """
    from crawler import Spider

    class Raising(Spider):
        name = "raising"
        base_url = ""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.start_urls = [self.base_url]

        def parse(self, response):
            yield response.follow("/catalogue/page-1.html", callback=self.parse_listing)

        def parse_listing(self, response):
            for link in response.css("li.product a::attr(href)").getall()[:5]:
                yield response.follow(link, callback=self.parse_product)

        def parse_product(self, response):
            yield {"url": response.url, "partial": True}
            if response.url.endswith("/3.html"):
                raise ValueError("no price on this page")
            yield {"url": response.url}
"""


def test_callback_error_fails_the_page_and_the_crawl_goes_on(project: Project, site: str) -> None:
    project.add_spider("raising", RAISING_SPIDER)
    project.write_settings(settings(1, 2))
    result = project.run("crawl", "raising", "-a", f"base_url={site}")
    assert result.returncode == 0, result.stderr
    urls = [item["url"] for item in project.items("raising")]
    assert len(urls) == 8  # 4 good pages x 2 items; nothing from the failed page
    assert not any(url.endswith("/3.html") for url in urls)
    errors = project.errors("raising")
    assert [e["url"] for e in errors] == [f"{site}product/3.html"]
    assert "ValueError: no price on this page" in errors[0]["reason"]
    assert "spider error processing" in result.stderr
    assert project.stats("raising")["failed"] == 1


def test_allowed_domains_max_pages_and_max_depth(project: Project, site: str) -> None:
    project.copy_spider("demo")
    project.write_settings(settings(1, 1))
    offsite = site.replace("127.0.0.1", "localhost")
    crawl_demo(project, offsite, "-s", "limits.max_depth=2", "--fresh")
    # depth 0: index; 1: listing 1; 2: its 20 products and listing 2 (no deeper)
    assert project.stats("demo")["pages"] == 23
    assert len(project.items("demo")) == 20
    assert project.stats("demo")["filtered"]["max_depth"] > 0

    crawl_demo(project, site, "-s", "limits.max_pages=30", "--fresh")
    assert project.stats("demo")["pages"] == 30
    assert project.stats("demo")["filtered"]["max_pages"] > 0


OFFSITE_SPIDER = """
    from crawler import Spider

    class Offsite(Spider):
        name = "offsite"

        def parse(self, response):
            yield {"url": response.url}
            yield response.follow(response.url.replace("127.0.0.1", "localhost") + "other")
            yield response.follow("/catalogue/page-1.html")
"""


def test_offsite_links_are_filtered(project: Project, site: str) -> None:
    project.add_spider(
        "offsite",
        OFFSITE_SPIDER
        + f"\n        start_urls = [{site!r}]\n        allowed_domains = ['127.0.0.1']\n",
    )
    project.write_settings(settings(1, 1))
    result = project.run("crawl", "offsite")
    assert result.returncode == 0, result.stderr
    assert {item["url"] for item in project.items("offsite")} == {
        site,
        f"{site}catalogue/page-1.html",
    }
    assert project.stats("offsite")["filtered"]["offsite"] >= 1


def committed_items(project: Project) -> int:
    parts = project.root / "output" / "demo" / "latest" / "job" / "parts"
    return sum(p.read_bytes().count(b"\n") for p in parts.glob("*.jsonl")) if parts.exists() else 0


def test_sigint_saves_state_and_the_next_run_completes(project: Project, slow_site: str) -> None:
    project.copy_spider("demo")
    project.write_settings(settings(2, 2, extra="per_host = 4"))
    crawl = project.start("crawl", "demo", "-a", f"base_url={slow_site}")
    wait_for(lambda: committed_items(project) >= 20, timeout=60)
    interrupt(crawl, signal.SIGINT)
    _out, err = crawl.communicate(timeout=30)
    assert crawl.returncode == 130, err
    assert "to resume" in err
    first = project.items("demo")
    assert 0 < len(first) < PRODUCTS
    assert len(keys(first)) == len(set(keys(first)))
    assert project.stats("demo")["state"] == "interrupted"

    crawl_demo(project, slow_site)
    assert keys(project.items("demo")) == keys(Catalogue(PRODUCTS).expected_items(slow_site))
    assert_clean(project)


@pytest.mark.parametrize("role", ["downloader", "parser"])
def test_sigkill_of_a_worker_loses_nothing(project: Project, slow_site: str, role: str) -> None:
    project.copy_spider("demo")
    project.write_settings(settings(2, 2, extra="per_host = 4"))
    crawl = project.start("crawl", "demo", "-a", f"base_url={slow_site}")
    wait_for(lambda: committed_items(project) >= 20, timeout=60)
    victim = next(w for w in project.status("demo")["workers"] if w["role"] == role)
    import os

    os.kill(victim["pid"], signal.SIGKILL)
    _out, err = crawl.communicate(timeout=90)
    assert crawl.returncode == 0, err
    assert f"{role}-{victim['index']} died (SIGKILL)" in err
    assert keys(project.items("demo")) == keys(Catalogue(PRODUCTS).expected_items(slow_site))
    assert project.stats("demo")["worker_deaths"] == 1
    assert_clean(project)


def test_unknown_spider_lists_the_known_ones(project: Project) -> None:
    project.copy_spider("demo")
    result = project.run("crawl", "nope")
    assert result.returncode == 2
    assert "no spider named 'nope'" in result.stderr and "demo" in result.stderr


def test_list_shows_spiders(project: Project) -> None:
    project.copy_spider("demo")
    result = project.run("list")
    assert result.returncode == 0
    assert result.stdout.startswith("demo\t")


def test_a_frontier_over_its_memory_limit_loses_nothing(project: Project, site: str) -> None:
    project.copy_spider("demo")
    extra = '[frontier]\nmemory_limit = 10\norder = "breadth-first"\n'
    project.write_settings(settings(2, 2, "unix") + extra)
    crawl_demo(project, site)
    assert keys(project.items("demo")) == keys(Catalogue(PRODUCTS).expected_items(site))
    assert project.stats("demo")["pages"] == Catalogue(PRODUCTS).page_count()
    assert not (project.run_dir("demo") / "job" / "spill").exists()


BURNING_SPIDER = """
    import time

    from crawler import Spider

    class Burning(Spider):
        name = "burning"

        def parse(self, response):
            started = time.process_time()
            while time.process_time() - started < 1.5:
                pass
            return {"url": response.url}
"""


def test_the_workers_cpu_time_reaches_whoever_runs_the_crawl(project: Project, site: str) -> None:
    # The workers are reaped by the fork server; the crawl must reap the server, or
    # `time`, getrusage and the benchmark would see the scheduler's CPU time only.
    project.add_spider("burning", BURNING_SPIDER + f"\n        start_urls = [{site!r}]\n")
    project.write_settings(settings(1, 1))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = project.run("crawl", "burning")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert result.returncode == 0, result.stderr
    assert len(project.items("burning")) == 1
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert used >= 1.5
