"""Redirects: followed through the scheduler, deduplicated, limited, loops recorded."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from aiohttp import web

from tests.support import Project, serve_app

SPIDER = """
    from crawler import Request, Spider

    class Hops(Spider):
        name = "hops"
        start_urls = {urls!r}

        def start_requests(self):
            for url in self.start_urls:
                if url.endswith(("/post", "/keep")):
                    yield Request(url, method="POST", body=b"x=1",
                                  headers={{"Authorization": "Bearer secret"}})
                else:
                    yield Request(url, headers={{"Authorization": "Bearer secret"}})

        def parse(self, response):
            yield {{
                "url": response.url,
                "method": response.text.split()[0],
                "auth": response.text.split()[1],
                "redirect_urls": response.meta.get("redirect_urls", []),
                "redirect_statuses": response.meta.get("redirect_statuses", []),
            }}
"""


def redirect_app(hits: Counter[str], other_host: list[str]) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        path = request.path
        if path == "/robots.txt":
            raise web.HTTPNotFound()
        hits[path] += 1
        if path.startswith("/chain/"):
            left = int(path.rsplit("/", 1)[1])
            target = f"/chain/{left - 1}" if left > 1 else "/final"
            raise web.HTTPFound(target)
        redirects = {
            "/loop/a": "/loop/b",
            "/loop/b": "/loop/a",
            "/old1": "/same",
            "/old2": "/same",
            "/ftp": "ftp://127.0.0.1/file",
            "/away": other_host[0] + "landing",
        }
        if path in redirects:
            raise web.HTTPMovedPermanently(redirects[path])
        if path == "/post":
            raise web.HTTPSeeOther("/after-post")
        if path == "/keep":
            raise web.HTTPTemporaryRedirect("/kept")
        auth = request.headers.get("Authorization", "none").replace(" ", "_")
        return web.Response(text=f"{request.method} {auth}", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def crawl(project: Project, paths: list[str], settings: str = "") -> tuple[Counter[str], Any]:
    hits: Counter[str] = Counter()
    other: list[str] = []
    with serve_app(redirect_app(hits, other)) as url:
        other.append(url.replace("127.0.0.1", "localhost"))
        project.add_spider("hops", SPIDER.format(urls=[url + p.lstrip("/") for p in paths]))
        project.write_settings(settings)
        result = project.run("crawl", "hops")
    assert result.returncode == 0, result.stderr
    return hits, url


def by_path(items: list[dict[str, Any]], base: str) -> dict[str, dict[str, Any]]:
    return {item["url"].replace(base, "/").replace("http://localhost", "L"): item for item in items}


def test_a_chain_ends_at_its_final_url_with_the_chain_in_meta(project: Project) -> None:
    hits, base = crawl(project, ["/chain/3"])
    [item] = project.items("hops")
    assert item["url"] == base + "final"
    assert item["redirect_urls"] == [base + "chain/3", base + "chain/2", base + "chain/1"]
    assert item["redirect_statuses"] == [302, 302, 302]
    assert hits == Counter({"/chain/3": 1, "/chain/2": 1, "/chain/1": 1, "/final": 1})
    assert project.stats("hops")["redirects"] == 3


def test_a_loop_and_a_long_chain_fail_as_recorded_failures(project: Project) -> None:
    hits, base = crawl(project, ["/loop/a", "/chain/5"], "[downloader]\nmax_redirects = 2\n")
    assert project.items("hops") == []
    errors = {e["url"]: e["reason"] for e in project.errors("hops")}
    assert errors[base + "loop/b"].startswith("redirect loop: ")
    assert errors[base + "chain/3"] == "too many redirects: 3 (downloader.max_redirects is 2)"
    assert hits["/loop/a"] == 1 and hits["/loop/b"] == 1
    assert hits["/chain/2"] == 0  # never requested beyond the limit
    assert project.stats("hops")["failures"] == {"redirect loop": 1, "too many redirects": 1}


def test_a_redirect_target_is_deduplicated(project: Project) -> None:
    hits, base = crawl(project, ["/old1", "/old2", "/same"])
    assert [item["url"] for item in project.items("hops")] == [base + "same"]
    assert hits["/same"] == 1
    assert project.stats("hops")["duplicates"] == 2


def test_methods_schemes_and_credentials(project: Project) -> None:
    hits, base = crawl(project, ["/post", "/keep", "/ftp", "/away"])
    items = {item["url"].rsplit("/", 1)[1]: item for item in project.items("hops")}
    assert items["after-post"]["method"] == "GET"  # 303: GET
    assert items["kept"]["method"] == "POST"  # 307 keeps the method
    assert items["after-post"]["auth"] == "Bearer_secret"  # same host: kept
    assert items["landing"]["auth"] == "none"  # another host: not sent on
    [error] = project.errors("hops")
    assert error["url"] == base + "ftp"
    assert error["reason"].startswith("redirect to a URL that cannot be fetched")
    assert hits["/file"] == 0


def test_per_request_chains_are_independent(project: Project) -> None:
    hits, _ = crawl(project, ["/chain/2", "/chain/1"])
    chains: dict[str, list[str]] = defaultdict(list)
    for item in project.items("hops"):
        chains[item["url"]].append(item["redirect_urls"])
    # /chain/1 is a start URL and a hop of /chain/2: fetched once, final page once.
    assert hits["/chain/1"] == 1 and hits["/final"] == 1
    assert sum(len(v) for v in chains.values()) == 1
