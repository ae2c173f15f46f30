"""Crawler traps and crawl scope end to end (FAULTS.md 3.8 T1-T3, T5; security point 3).

Real crawls of a trap site on 127.0.0.1 that counts every request; a second server on
127.0.0.2 stands for an internal host.  Each test checks what the server saw, and the
`filtered` counts of stats.json.
"""

from __future__ import annotations

import re
import secrets
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from aiohttp import web

from tests.support import Project, serve_app, serve_on

SETTINGS = """
    [processes]
    downloaders = 1
    parsers = 1

    [downloader]
    concurrency = 8
"""

SPIDER = """
    from crawler import Spider

    class Trap(Spider):
        name = "trap"
        start_urls = [{start!r}]
        {extra}

        def parse(self, response):
            yield {{"url": response.url}}
            yield from response.follow_all(css="a")
"""

SESSION_PAGES = 6


def page(*links: str) -> web.Response:
    anchors = "".join(f'<a href="{link}">link</a>' for link in links)
    return web.Response(text=f"<html><body>{anchors}</body></html>", content_type="text/html")


def trap_app(hits: list[str], other: dict[str, str]) -> web.Application:
    """Every trap of this module; `hits` gets each request's raw path (with its query)."""

    async def calendar(request: web.Request) -> web.Response:
        day = date.fromisoformat(request.query["d"]) + timedelta(days=1)
        return page(f"/cal?d={day.isoformat()}")

    async def session(request: web.Request) -> web.Response:
        # Every link carries a new session id, in the query or as a path parameter.
        links = []
        for n in range(SESSION_PAGES):
            links.append(f"/s/{n}?sid={secrets.token_hex(8)}")
            links.append(f"/s/{n};jsessionid={secrets.token_hex(8).upper()}")
            links.append(f"/s/{n}?PHPSESSID={secrets.token_hex(8)}&SID={secrets.token_hex(4)}")
        return page(*links)

    async def loop(request: web.Request) -> web.Response:
        return page("a/b/", "x/")  # relative: /loop/a/b/a/b/..., /loop/x/x/...

    async def permutations(request: web.Request) -> web.Response:
        return page("/item?a=1&b=2", "/item?b=2&a=1", "/item?b=2&a=1#reviews", "/ITEM?a=1")

    async def scoped(request: web.Request) -> web.Response:
        return page("/scope/public/1", "/scope/public/secret", "/scope/private/1", "/scope/other")

    async def caps(request: web.Request) -> web.Response:
        many = "&".join(f"p{i}={i}" for i in range(6))
        return page("/caps/ok?a=1&b=2", f"/caps/many?{many}", "/caps/long/" + "x" * 80)

    async def private(request: web.Request) -> web.Response:
        return page(other["url"], "/leaf")

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(other["url"])

    async def leaf(request: web.Request) -> web.Response:
        return page()

    @web.middleware
    async def count(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path != "/robots.txt":
            hits.append(request.raw_path)
        return await handler(request)  # type: ignore[no-any-return]

    app = web.Application(middlewares=[count])
    app.router.add_get("/cal", calendar)
    app.router.add_get("/s/{tail:.*}", session)
    app.router.add_get("/loop/{tail:.*}", loop)
    app.router.add_get("/perm", permutations)
    app.router.add_get("/scope/index", scoped)
    app.router.add_get("/caps", caps)
    app.router.add_get("/private", private)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/{tail:.*}", leaf)
    return app


class Site:
    """The trap site on 127.0.0.1; `other` is the internal server on 127.0.0.2."""

    def __init__(self, url: str, hits: list[str], other: dict[str, str]) -> None:
        self.url = url
        self.hits = hits
        self.other = other


@pytest.fixture
def site() -> Iterator[Site]:
    hits: list[str] = []
    other: dict[str, str] = {}
    with serve_app(trap_app(hits, other)) as url:
        yield Site(url.rstrip("/"), hits, other)


def crawl(project: Project, start: str, *args: str, extra: str = "") -> dict[str, Any]:
    """Crawl from `start` to the end; return stats.json."""
    project.add_spider("trap", SPIDER.format(start=start, extra=extra))
    project.write_settings(SETTINGS)
    result = project.run("crawl", "trap", "--fresh", *args)
    assert result.returncode == 0, result.stderr
    stats = project.stats("trap")
    assert stats["state"] == "finished"
    return stats


def test_calendar_ends_at_max_depth(project: Project, site: Site) -> None:
    stats = crawl(project, f"{site.url}/cal?d=2024-12-25", "-s", "limits.max_depth=20")
    assert len(site.hits) == 21 == len(set(site.hits))  # depth 0 to 20
    assert site.hits[-1] == "/cal?d=2025-01-14"
    assert stats["filtered"] == {"max_depth": 1}


def test_calendar_ends_at_max_pages(project: Project, site: Site) -> None:
    stats = crawl(project, f"{site.url}/cal?d=2024-01-01", "-s", "limits.max_pages=15")
    assert len(site.hits) == 15
    assert stats["pages"] == 15


def test_session_ids_do_not_multiply_pages(project: Project, site: Site) -> None:
    stats = crawl(project, f"{site.url}/s/0")
    pages = Counter(re.sub(r"[;?].*", "", hit) for hit in site.hits)
    assert pages == {f"/s/{n}": 1 for n in range(SESSION_PAGES)}
    assert len(site.hits) == len(set(site.hits)) == SESSION_PAGES  # fetched URLs == pages
    assert stats["pages"] == SESSION_PAGES
    links = SESSION_PAGES * 3 * SESSION_PAGES  # each page links 3 ways to every page
    assert stats["duplicates"] == links - (SESSION_PAGES - 1)  # all but /s/1 to /s/5


# Independent of crawler.urls.scope: a run of segments three times back to back.
THREE_REPEATS = re.compile(r"((?:/[^/?]+)+)\1\1(?=/|$|\?)")


def test_relative_link_loop_stops_at_two_repeats(project: Project, site: Site) -> None:
    stats = crawl(project, f"{site.url}/loop/", "-s", "limits.max_depth=6")
    assert not [hit for hit in site.hits if THREE_REPEATS.search(hit)]
    assert {"/loop/a/b/a/b/", "/loop/x/x/", "/loop/x/a/b/a/b/x/"} <= set(site.hits)
    assert "/loop/a/b/a/b/a/b/" not in site.hits
    assert stats["filtered"]["repeated_segments"] > 0
    assert len(site.hits) == len(set(site.hits))


def test_parameter_permutations_are_fetched_once(project: Project, site: Site) -> None:
    stats = crawl(project, f"{site.url}/perm")
    assert sorted(site.hits) == ["/ITEM?a=1", "/item?a=1&b=2", "/perm"]  # paths keep case
    assert stats["duplicates"] == 2


def test_allow_and_deny_from_settings_and_spider(project: Project, site: Site) -> None:
    spider_rules = 'allow = [r"/scope/public/", r"/scope/private/"]\n        deny = [r"secret$"]'
    stats = crawl(
        project,
        f"{site.url}/scope/index",
        "-s",
        'scope.deny=["/private/"]',
        extra=spider_rules,
    )
    assert sorted(site.hits) == ["/scope/index", "/scope/public/1"]
    assert stats["filtered"] == {"deny": 2, "allow": 1}


def test_bad_spider_pattern_fails_before_the_crawl(project: Project, site: Site) -> None:
    project.add_spider("trap", SPIDER.format(start=f"{site.url}/perm", extra='deny = ["(x"]'))
    project.write_settings(SETTINGS)
    result = project.run("crawl", "trap")
    assert result.returncode == 2, result.stderr
    assert "spider 'trap' (Trap): deny pattern '(x' is not a valid regular expression" in (
        result.stderr
    )
    assert site.hits == []
    assert not (project.root / "output").exists()


def test_url_length_and_query_parameter_caps(project: Project, site: Site) -> None:
    caps = ("-s", "scope.max_url_length=80", "-s", "scope.max_query_params=5")
    stats = crawl(project, f"{site.url}/caps", *caps)
    assert sorted(site.hits) == ["/caps", "/caps/ok?a=1&b=2"]
    assert stats["filtered"] == {"url_length": 1, "query_params": 1}


PUBLIC_LOOPBACK = ("-s", 'scope.private_networks=["127.0.0.2/32"]')


@pytest.fixture
def internal() -> Iterator[tuple[int, list[str]]]:
    """The internal server on 127.0.0.2; its hits include /robots.txt."""
    hits: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        hits.append(request.raw_path)
        return page()

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    with serve_on(app, "127.0.0.2") as port:
        yield port, hits


def test_public_page_links_to_private_address_are_not_followed(
    project: Project, site: Site, internal: tuple[int, list[str]]
) -> None:
    port, internal_hits = internal
    site.other["url"] = f"http://127.0.0.2:{port}/admin"
    stats = crawl(project, f"{site.url}/private", *PUBLIC_LOOPBACK)
    assert internal_hits == []
    assert sorted(site.hits) == ["/leaf", "/private"]
    assert stats["filtered"] == {"private_address": 1}


def test_allow_private_follows_them(
    project: Project, site: Site, internal: tuple[int, list[str]]
) -> None:
    port, internal_hits = internal
    site.other["url"] = f"http://127.0.0.2:{port}/admin"
    stats = crawl(
        project, f"{site.url}/private", *PUBLIC_LOOPBACK, "-s", "scope.allow_private=true"
    )
    assert "/admin" in internal_hits
    assert stats["filtered"] == {}
    assert stats["pages"] == 3


def test_private_start_follows_private_links(
    project: Project, site: Site, internal: tuple[int, list[str]]
) -> None:
    """The default private_networks hold 127.0.0.0/8: a crawl started there may stay there."""
    port, internal_hits = internal
    site.other["url"] = f"http://127.0.0.2:{port}/admin"
    stats = crawl(project, f"{site.url}/private")
    assert "/admin" in internal_hits
    assert stats["pages"] == 3


RESOLVE_INTERNAL = ("-s", 'downloader.resolve={"internal.test"="127.0.0.2"}')


def test_name_resolving_to_private_address_is_refused(
    project: Project, site: Site, internal: tuple[int, list[str]]
) -> None:
    port, internal_hits = internal
    target = f"http://internal.test:{port}/admin"
    site.other["url"] = target
    no_robots = ("-s", "downloader.obey_robots=false")  # see the next test
    stats = crawl(project, f"{site.url}/private", *PUBLIC_LOOPBACK, *RESOLVE_INTERNAL, *no_robots)
    assert internal_hits == []
    [error] = project.errors("trap")
    assert error["url"] == target
    assert error["reason"] == "private address refused: 127.0.0.2 (scope.private_networks)"
    assert error["attempts"] == 1  # final: not retried
    assert stats["pages"] == 2


def test_robots_txt_of_a_private_name_is_not_fetched(
    project: Project, site: Site, internal: tuple[int, list[str]]
) -> None:
    port, internal_hits = internal
    site.other["url"] = f"http://internal.test:{port}/admin"
    crawl(project, f"{site.url}/private", *PUBLIC_LOOPBACK, *RESOLVE_INTERNAL)
    assert internal_hits == []  # nothing at all, not even /robots.txt
    [error] = project.errors("trap")
    assert error["reason"].startswith("private address refused: 127.0.0.2")


def test_redirect_to_a_private_literal_is_refused(
    project: Project, site: Site, internal: tuple[int, list[str]]
) -> None:
    """A public page redirecting to http://127.0.0.2/: refused at link or at connect time."""
    port, internal_hits = internal
    site.other["url"] = f"http://127.0.0.2:{port}/admin"
    no_robots = ("-s", "downloader.obey_robots=false")
    stats = crawl(project, f"{site.url}/redirect", *PUBLIC_LOOPBACK, *no_robots)
    assert internal_hits == []
    assert stats["pages"] == 0
    reasons = [error["reason"] for error in project.errors("trap")]
    refused = reasons == ["private address refused: 127.0.0.2 (scope.private_networks)"]
    assert refused or stats["filtered"] == {"private_address": 1}, (reasons, stats)
