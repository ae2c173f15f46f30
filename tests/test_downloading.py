"""Cookies, headers, proxies, handle_status and hooks, against real local servers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.support import Project, catch_all, serve_app


def recording_app(seen: dict[str, list[dict[str, str]]]) -> web.Application:
    """Records each request's headers by path; /login/<jar> sets a cookie; /missing is 404."""

    async def handle(request: web.Request) -> web.StreamResponse:
        path = request.path
        if path == "/robots.txt":
            raise web.HTTPNotFound()
        seen.setdefault(path, []).append(dict(request.headers))
        if path.startswith("/login/"):
            name = path.rsplit("/", 1)[1]
            response = web.Response(
                text=f'<a href="/a?{name}">a</a> <a href="/b?{name}">b</a>',
                content_type="text/html",
            )
            response.set_cookie("session", name, path="/")
            return response
        if path == "/missing":
            return web.Response(status=404, text="gone", content_type="text/html")
        if path == "/flaky" and len(seen[path]) == 1:
            return web.Response(text="try again later", content_type="text/html")
        return web.Response(text="<html>fine</html>", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def crawl(
    project: Project, spider: str, settings: str = "", *args: str
) -> tuple[dict[str, list[dict[str, str]]], str]:
    seen: dict[str, list[dict[str, str]]] = {}
    with serve_app(recording_app(seen)) as url:
        project.add_spider("probe", spider.replace("BASE", url))
        project.write_settings(settings)
        result = project.run("crawl", "probe", *args)
    assert result.returncode == 0, result.stderr
    return seen, url


COOKIE_SPIDER = """
    from crawler import Request, Spider

    class Probe(Spider):
        name = "probe"

        def start_requests(self):
            for jar in ("one", "two"):
                yield Request("BASElogin/" + jar, meta={"cookiejar": jar},
                              cookies={"lang": "en"})

        def parse(self, response):
            for link in response.css("a"):
                yield response.follow(link, meta={"cookiejar": response.meta["cookiejar"]})
            yield {"url": response.url}
"""


def test_cookies_are_kept_per_jar_across_downloader_processes(project: Project) -> None:
    seen, _ = crawl(project, COOKIE_SPIDER, "[processes]\ndownloaders = 2\n")
    assert len(project.items("probe")) == 6
    for path in ("/a", "/b"):
        cookies = sorted(h.get("Cookie", "") for h in seen[path])
        assert cookies == ["lang=en; session=one", "lang=en; session=two"], cookies
    assert all(h.get("Cookie") == "lang=en" for h in seen["/login/one"] + seen["/login/two"])


def test_cookies_can_be_turned_off(project: Project) -> None:
    seen, _ = crawl(project, COOKIE_SPIDER, "[downloader]\ncookies = false\n")
    assert all("Cookie" not in h for hs in seen.values() for h in hs)


HEADER_SPIDER = """
    from crawler import Request, Spider

    class Probe(Spider):
        name = "probe"
        custom_settings = CUSTOM
        start_urls = ["BASEplain"]

        def start_requests(self):
            yield Request("BASEplain")
            yield Request("BASEown", headers={"User-Agent": "Mine/2", "X-Extra": "1"})

        def parse(self, response):
            yield {"url": response.url}
"""


def test_default_user_agent_and_headers(project: Project) -> None:
    spider = HEADER_SPIDER.replace("CUSTOM", "{}")
    seen, _ = crawl(project, spider, '[downloader]\nheaders = { Accept-Language = "de" }\n')
    [plain], [own] = seen["/plain"], seen["/own"]
    assert plain["User-Agent"].startswith("crawler/") and "+https://" in plain["User-Agent"]
    assert plain["Accept-Language"] == "de" and own["Accept-Language"] == "de"
    assert own["User-Agent"] == "Mine/2" and own["X-Extra"] == "1"
    assert "gzip" in plain["Accept-Encoding"]


def test_user_agent_per_spider(project: Project) -> None:
    spider = HEADER_SPIDER.replace("CUSTOM", '{"downloader.user_agent": "ProbeBot/1.0"}')
    seen, _ = crawl(project, spider)
    assert seen["/plain"][0]["User-Agent"] == "ProbeBot/1.0"


STATUS_SPIDER = """
    from crawler import Request, Spider

    class Probe(Spider):
        name = "probe"
        handle_status = HANDLED

        def start_requests(self):
            yield Request("BASEmissing")
            yield Request("BASEmissing?meta", meta={"handle_status": [404]})

        def parse(self, response):
            yield {"url": response.url, "status": response.status, "text": response.text}
"""


def test_non_2xx_reach_callbacks_only_when_asked(project: Project) -> None:
    crawl(project, STATUS_SPIDER.replace("HANDLED", "[]"))
    [item] = project.items("probe")
    assert item["url"].endswith("missing?meta") and item["status"] == 404
    [error] = project.errors("probe")
    assert error["reason"] == "HTTP 404" and error["status"] == 404
    assert project.stats("probe")["failures"] == {"HTTP 404": 1}


def test_handle_status_on_the_spider(project: Project) -> None:
    crawl(project, STATUS_SPIDER.replace("HANDLED", "[404]"))
    assert sorted(item["status"] for item in project.items("probe")) == [404, 404]
    assert project.errors("probe") == []


def test_a_bad_handle_status_is_a_usage_error(project: Project) -> None:
    project.add_spider("probe", STATUS_SPIDER.replace("HANDLED", "['404']"))
    result = project.run("crawl", "probe")
    assert result.returncode == 2
    assert "Probe.handle_status must be a list of HTTP statuses" in result.stderr


def proxy_app(proxied: list[str]) -> web.Application:
    """A forward proxy's front: it records the absolute URL asked for and answers itself."""

    async def handle(request: web.Request) -> web.Response:
        if request.path == "/robots.txt":
            raise web.HTTPNotFound()  # robots.txt is fetched through the proxy too
        proxied.append(str(request.url))
        return web.Response(text="<html>via proxy</html>", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


PROXY_SPIDER = """
    from crawler import Request, Spider

    class Probe(Spider):
        name = "probe"

        def start_requests(self):
            yield Request("BASEglobal")
            yield Request("BASEown", meta={"proxy": "OTHER"})

        def parse(self, response):
            yield {"url": response.url, "text": response.text}
"""


def test_proxy_per_crawl_and_per_request(project: Project) -> None:
    via_a: list[str] = []
    via_b: list[str] = []
    with serve_app(proxy_app(via_a)) as proxy_a, serve_app(proxy_app(via_b)) as proxy_b:
        seen, base = crawl(
            project,
            PROXY_SPIDER.replace("OTHER", proxy_b.rstrip("/")),
            f'[downloader]\nproxy = "{proxy_a.rstrip("/")}"\n',
        )
    assert seen == {}  # the site itself was never asked
    assert via_a == [base + "global"] and via_b == [base + "own"]
    assert {item["text"] for item in project.items("probe")} == {"<html>via proxy</html>"}


HOOK_SPIDER = """
    import itertools

    from crawler import Hook, Request, Retry, Spider

    class Token(Hook):
        def __init__(self):
            self.counter = itertools.count(1)

        def request(self, request):
            request.headers["X-Token"] = f"t{next(self.counter)}"
            return request

    class TryAgain(Hook):
        async def response(self, response):
            if "try again later" in response.text:
                raise Retry("the page said try again later")
            return response

    class Probe(Spider):
        name = "probe"
        hooks = [Token(), TryAgain()]
        start_urls = ["BASEflaky", "BASEplain"]

        def parse(self, response):
            yield {"url": response.url, "text": response.text}
"""


def test_hooks_change_requests_and_retry_responses(project: Project) -> None:
    seen, base = crawl(project, HOOK_SPIDER, "[downloader]\nretry_backoff = 0.01\n")
    assert len(seen["/flaky"]) == 2 and len(seen["/plain"]) == 1
    tokens = Counter(h["X-Token"] for hs in seen.values() for h in hs)
    assert sum(tokens.values()) == 3 and all(t.startswith("t") for t in tokens)
    items = {item["url"]: item["text"] for item in project.items("probe")}
    assert items == {base + "flaky": "<html>fine</html>", base + "plain": "<html>fine</html>"}
    assert project.stats("probe")["retries"] == 1
    journal = (project.run_dir("probe") / "job" / "journal.bin").read_bytes()
    assert b"X-Token" not in journal  # a hook's change is for the attempt only


def test_retry_requested_gives_up_after_the_retries(project: Project) -> None:
    spider = HOOK_SPIDER.replace('"try again later" in response.text', "True")
    seen, base = crawl(project, spider, "[downloader]\nretries = 1\nretry_backoff = 0.01\n")
    assert len(seen["/plain"]) == 2
    errors: dict[str, Any] = {e["url"]: e for e in project.errors("probe")}
    assert errors[base + "plain"]["reason"] == "retry requested: the page said try again later"
    assert errors[base + "plain"]["attempts"] == 2


def test_max_retries_and_dont_retry_in_meta(project: Project) -> None:
    spider = """
        from crawler import Request, Spider

        class Probe(Spider):
            name = "probe"

            def start_requests(self):
                yield Request("BASEstatus/none", meta={"dont_retry": True})
                yield Request("BASEstatus/one", meta={"max_retries": 1})

            def parse(self, response):
                yield {"url": response.url}
    """
    hits: Counter[str] = Counter()

    async def always_500(request: web.Request) -> web.Response:
        if request.path == "/robots.txt":
            raise web.HTTPNotFound()
        hits[request.path] += 1
        return web.Response(status=500)

    app = web.Application()
    app.router.add_get("/{tail:.*}", always_500)
    with serve_app(app) as url:
        project.add_spider("probe", spider.replace("BASE", url))
        project.write_settings("[downloader]\nretries = 5\nretry_backoff = 0.01\n")
        result = project.run("crawl", "probe")
    assert result.returncode == 0, result.stderr
    assert hits == Counter({"/status/none": 1, "/status/one": 2})


def test_a_proxy_on_a_private_address_serves_a_public_crawl(project: Project) -> None:
    # 127.0.0.1 counts as public here and the proxy's 127.0.0.2 as private: the guard
    # against private addresses must not refuse the proxy itself.
    via: list[str] = []
    with serve_app(proxy_app(via), host="127.0.0.2") as proxy:
        seen, base = crawl(
            project,
            PROXY_SPIDER.replace("OTHER", proxy.rstrip("/")),
            f'[downloader]\nproxy = "{proxy.rstrip("/")}"\n'
            '[scope]\nprivate_networks = ["127.0.0.2/32"]\n',
        )
    assert seen == {} and sorted(via) == [base + "global", base + "own"]
    assert project.errors("probe") == []


def session_app() -> web.Application:
    """/login sets a session cookie and links to 12 pages that show the cookie they got."""

    async def handle(request: web.Request) -> web.Response:
        if request.path == "/robots.txt":
            raise web.HTTPNotFound()
        if request.path == "/login":
            links = "".join(f'<a href="/p/{n}">{n}</a>' for n in range(12))
            response = web.Response(text=links, content_type="text/html")
            response.set_cookie("session", "s3cr3t", path="/")
            return response
        cookie = request.cookies.get("session", "none")
        return web.Response(text=f'<p id="c">{cookie}</p>', content_type="text/html")

    return catch_all(handle)


SESSION_SPIDER = """
    from crawler import Spider

    class Session(Spider):
        name = "session"
        start_urls = ["BASElogin"]

        def parse(self, response):
            yield from response.follow_all(css="a", callback=self.parse_page)

        def parse_page(self, response):
            yield {"url": response.url, "cookie": response.css("p#c::text").get()}
"""


def test_a_resumed_crawl_keeps_its_cookie_jars(project: Project, tmp_path: Path) -> None:
    marker = tmp_path / "fired"
    marker.mkdir()
    kill = {"CRAWLER_FAILPOINTS": "scheduler.before_journal:6=kill"}
    with serve_app(session_app()) as url:
        project.add_spider("session", SESSION_SPIDER.replace("BASE", url))
        project.write_settings("[downloader]\nper_host = 1\n")
        killed = project.run(
            "crawl", "session", env={**kill, "CRAWLER_FAILPOINTS_ONCE": str(marker)}
        )
        assert killed.returncode != 0
        resumed = project.run("crawl", "session")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr
    items = project.items("session")
    assert len(items) == 12
    assert {item["cookie"] for item in items} == {"s3cr3t"}  # pages fetched after the resume too
