"""RobotsCache, fetching with LocalRobotsFetcher, against real aiohttp servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from crawler.downloader.robots_fetch import MAX_ROBOTS_REDIRECTS, LocalRobotsFetcher
from crawler.scheduler.robots import RobotsCache, robots_agent
from crawler.settings.schema import DownloaderSettings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Site:
    """An aiohttp server on 127.0.0.1:<free port> that answers from `routes` and logs hits."""

    def __init__(self, routes: dict[str, Handler | str | bytes | int]) -> None:
        self.routes = routes
        self.hits: list[web.Request] = []
        self.runner: web.AppRunner | None = None
        self.origin = ""

    async def start(self) -> Site:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.origin = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def paths(self) -> list[str]:
        return [hit.path for hit in self.hits]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.hits.append(request)
        route = self.routes.get(request.path)
        if route is None:
            return web.Response(status=404)
        if isinstance(route, int):
            return web.Response(status=route)
        if isinstance(route, str):
            return web.Response(text=route)
        if isinstance(route, bytes):
            return web.Response(body=route)
        return await route(request)


def redirect(location: str, status: int = 301) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, headers={"Location": location})

    return handler


@pytest.fixture
async def sites() -> AsyncIterator[Callable[..., Awaitable[Site]]]:
    started: list[Site] = []

    async def make(routes: dict[str, Any]) -> Site:
        site = await Site(routes).start()
        started.append(site)
        return site

    yield make
    for site in started:
        await site.stop()


FETCHER_ARGS = ("session_factory", "public_session_factory", "backoffs")


@pytest.fixture
async def caches() -> AsyncIterator[Callable[..., RobotsCache]]:
    """RobotsCache(settings, fetcher, **kwargs), its fetcher a LocalRobotsFetcher (which
    takes the FETCHER_ARGS among kwargs) with no retry backoff; every one is closed."""
    made: list[tuple[RobotsCache, LocalRobotsFetcher]] = []

    def make(settings: DownloaderSettings | None = None, **kwargs: Any) -> RobotsCache:
        settings = settings or DownloaderSettings()
        options = {name: kwargs.pop(name) for name in FETCHER_ARGS if name in kwargs}
        options.setdefault("backoffs", (0.0, 0.0))
        fetcher = LocalRobotsFetcher(settings, **options)
        cache = RobotsCache(settings, fetcher.fetch, **kwargs)
        made.append((cache, fetcher))
        return cache

    yield make
    for cache, fetcher in made:
        await cache.close()
        await fetcher.close()


async def fetched(cache: RobotsCache, origin: str) -> RobotsCache:
    await cache.start(origin)
    assert cache.state(origin) == "ready"
    return cache


RULES = """\
User-agent: *
Disallow: /

User-agent: crawler
Disallow: /private
Crawl-delay: 2.5
"""


def test_key_is_the_origin() -> None:
    assert RobotsCache.key("HTTP://Example.COM/a/b?c#d") == "http://example.com"
    assert RobotsCache.key("http://example.com:80/") == "http://example.com"
    assert RobotsCache.key("https://example.com:443") == "https://example.com"
    assert RobotsCache.key("https://example.com:80/") == "https://example.com:80"
    assert RobotsCache.key("http://user:pw@example.com:8080?q") == "http://example.com:8080"
    assert RobotsCache.key("http://[::1]:8080/x") == "http://[::1]:8080"
    assert RobotsCache.key("http://bücher.de/") == "http://xn--bcher-kva.de"
    assert RobotsCache.key("http://a.test/") != RobotsCache.key("https://a.test/")
    for bad in ("/relative", "ftp://a.test/", "http:///path", "http://a.test:99999/"):
        with pytest.raises(ValueError):
            RobotsCache.key(bad)


def test_agent_is_the_product_token() -> None:
    assert robots_agent(DownloaderSettings()) == "crawler"
    assert robots_agent(DownloaderSettings(user_agent="MyBot/2.0 (+https://x.test)")) == "MyBot"
    assert robots_agent(DownloaderSettings(user_agent="MyBot (+https://x.test/bot)")) == "MyBot"


async def test_rules_for_our_agent_and_for_others(sites: Any, caches: Any) -> None:
    site = await sites({"/robots.txt": RULES})
    ours = await fetched(caches(), site.origin)
    assert ours.allowed(f"{site.origin}/public")
    assert not ours.allowed(f"{site.origin}/private/page")
    assert ours.crawl_delay(site.origin) == 2.5
    assert ours.stats()["fetched"] == 1

    theirs = await fetched(caches(DownloaderSettings(user_agent="Other/1.0")), site.origin)
    assert not theirs.allowed(f"{site.origin}/public")
    assert theirs.crawl_delay(site.origin) is None


async def test_request_rate_is_a_delay(sites: Any, caches: Any) -> None:
    site = await sites({"/robots.txt": "User-agent: *\nRequest-rate: 1/10s\n"})
    cache = await fetched(caches(), site.origin)
    assert cache.crawl_delay(site.origin) == 10.0
    site2 = await sites({"/robots.txt": "User-agent: *\nRequest-rate: 2/1m\nCrawl-delay: 5\n"})
    cache = await fetched(cache, site2.origin)
    assert cache.crawl_delay(site2.origin) == 30.0  # the larger of the two


async def test_states_and_on_ready(sites: Any, caches: Any) -> None:
    site = await sites({"/robots.txt": RULES})
    ready: list[str] = []
    cache = caches(on_ready=ready.append)
    assert cache.state(site.origin) == "unknown"
    with pytest.raises(LookupError):
        cache.allowed(f"{site.origin}/")
    task = cache.start(site.origin)
    assert cache.state(site.origin) == "fetching"
    await task
    assert cache.state(site.origin) == "ready"
    assert ready == [site.origin]
    await cache.start(site.origin)  # ready: a finished no-op, no new fetch, no new on_ready
    assert ready == [site.origin]
    assert site.paths() == ["/robots.txt"]


async def test_one_fetch_per_origin(sites: Any, caches: Any) -> None:
    release = asyncio.Event()

    async def slow(request: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.Response(text=RULES)

    site = await sites({"/robots.txt": slow})
    ready: list[str] = []
    cache = caches(on_ready=ready.append)
    tasks = {cache.start(site.origin) for _ in range(50)}
    assert len(tasks) == 1
    while not site.hits:
        await asyncio.sleep(0)
    tasks |= {cache.start(site.origin) for _ in range(50)}
    assert len(tasks) == 1
    release.set()
    await asyncio.gather(*tasks)
    assert site.paths() == ["/robots.txt"]
    assert ready == [site.origin]


async def test_ports_are_separate_origins(sites: Any, caches: Any) -> None:
    open_site = await sites({"/robots.txt": "User-agent: *\nDisallow:\n"})
    closed_site = await sites({"/robots.txt": "User-agent: *\nDisallow: /\n"})
    cache = caches()
    a, b = cache.key(f"{open_site.origin}/x"), cache.key(f"{closed_site.origin}/x")
    assert a != b
    await asyncio.gather(cache.start(a), cache.start(b))
    assert cache.allowed(f"{open_site.origin}/x")
    assert not cache.allowed(f"{closed_site.origin}/x")
    assert len(open_site.hits) == len(closed_site.hits) == 1


@pytest.mark.parametrize("status", [404, 401, 403, 410])
async def test_4xx_allows_everything(sites: Any, caches: Any, status: int) -> None:
    site = await sites({"/robots.txt": status})
    cache = await fetched(caches(), site.origin)
    assert cache.allowed(f"{site.origin}/anything")
    assert cache.crawl_delay(site.origin) is None
    assert cache.stats()["missing"] == 1
    assert len(site.hits) == 1


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_server_error_disallows_after_retries(
    sites: Any, caches: Any, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    site = await sites({"/robots.txt": status})
    cache = await fetched(caches(), site.origin)
    assert site.paths() == ["/robots.txt"] * 3
    assert not cache.allowed(f"{site.origin}/")
    assert cache.stats()["unreachable"] == 1
    assert cache.stats()["retries"] == 2
    assert site.origin in caplog.text


async def test_recovers_when_a_retry_succeeds(sites: Any, caches: Any) -> None:
    answers = iter([web.Response(status=502), web.Response(text="User-agent: *\nDisallow: /x\n")])

    async def flaky(request: web.Request) -> web.StreamResponse:
        return next(answers)

    site = await sites({"/robots.txt": flaky})
    cache = await fetched(caches(), site.origin)
    assert len(site.hits) == 2
    assert cache.allowed(f"{site.origin}/y")
    assert not cache.allowed(f"{site.origin}/x")


async def test_connection_refused_is_unreachable(caches: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    origin = f"http://127.0.0.1:{port}"
    cache = await fetched(caches(), origin)
    assert not cache.allowed(f"{origin}/")
    assert cache.stats()["unreachable"] == 1
    assert cache.stats()["retries"] == 2


async def test_redirect_is_followed(sites: Any, caches: Any) -> None:
    other = await sites({"/real-robots.txt": "User-agent: *\nDisallow: /b\n"})
    site = await sites(
        {
            "/robots.txt": redirect("/moved/robots.txt", 301),
            "/moved/robots.txt": redirect(f"{other.origin}/real-robots.txt", 307),
        }
    )
    cache = await fetched(caches(), site.origin)
    assert site.paths() == ["/robots.txt", "/moved/robots.txt"]
    assert other.paths() == ["/real-robots.txt"]
    assert cache.allowed(f"{site.origin}/a")
    assert not cache.allowed(f"{site.origin}/b")
    assert cache.state(other.origin) == "unknown"  # the rules are the first origin's
    assert cache.stats()["redirects"] == 2


async def test_redirect_loop_ends_as_missing(sites: Any, caches: Any) -> None:
    site = await sites({"/robots.txt": redirect("/again"), "/again": redirect("/robots.txt")})
    cache = await fetched(caches(), site.origin)
    assert len(site.hits) == MAX_ROBOTS_REDIRECTS + 1
    assert cache.allowed(f"{site.origin}/x")
    assert cache.stats()["missing"] == 1


@pytest.mark.parametrize("location", [None, "ftp://a.test/robots.txt", "http://[::1"])
async def test_unusable_redirect_is_missing(sites: Any, caches: Any, location: str | None) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=302, headers={"Location": location} if location else {})

    site = await sites({"/robots.txt": handler})
    cache = await fetched(caches(), site.origin)
    assert len(site.hits) == 1
    assert cache.allowed(f"{site.origin}/x")


async def test_huge_file_parses_the_first_500_kib(sites: Any, caches: Any) -> None:
    head = b"User-agent: *\nDisallow: /early\n"
    filler = b"# " + b"x" * 97 + b"\n"
    body = head + filler * (5 * 1024 * 1024 // len(filler)) + b"Disallow: /late\n"
    site = await sites({"/robots.txt": body})
    cache = await fetched(caches(), site.origin)
    assert not cache.allowed(f"{site.origin}/early")
    assert cache.allowed(f"{site.origin}/late")
    assert cache.stats()["truncated"] == 1


async def test_large_file_is_parsed_in_full_below_500_kib(sites: Any, caches: Any) -> None:
    lines = b"".join(b"Disallow: /p%d/\n" % i for i in range(20000))  # about 300 KiB
    site = await sites({"/robots.txt": b"User-agent: crawler\n" + lines})
    cache = await fetched(caches(), site.origin)
    assert not cache.allowed(f"{site.origin}/p19999/x")
    assert cache.allowed(f"{site.origin}/q")
    assert cache.stats()["truncated"] == 0


async def test_non_utf8_and_garbage_bodies(sites: Any, caches: Any) -> None:
    latin1 = "User-agent: *\nDisallow: /caf\xe9\nDisallow: /private\n".encode("latin-1")
    site = await sites({"/robots.txt": latin1})
    html = await sites({"/robots.txt": b"<html><body>Not found \xff\xfe</body></html>"})
    binary = await sites({"/robots.txt": bytes(range(256)) * 100})
    cache = caches()
    for origin in (site.origin, html.origin, binary.origin):
        await fetched(cache, origin)
    assert not cache.allowed(f"{site.origin}/private")
    assert cache.allowed(f"{site.origin}/public")
    assert cache.allowed(f"{html.origin}/x")
    assert cache.allowed(f"{binary.origin}/x")


async def test_body_over_the_download_limit_is_unreachable(sites: Any, caches: Any) -> None:
    site = await sites({"/robots.txt": b"User-agent: *\n" + b"#" * 4096})
    cache = await fetched(caches(DownloaderSettings(max_body_size=1024)), site.origin)
    assert not cache.allowed(f"{site.origin}/")
    assert len(site.hits) == 1  # not retried: it would fail the same way
    assert cache.stats()["unreachable"] == 1


async def test_request_goes_through_the_proxy(sites: Any, caches: Any) -> None:
    proxy = await sites({"/robots.txt": "User-agent: *\nDisallow: /via-proxy\n"})
    settings = DownloaderSettings(proxy=proxy.origin)
    cache = await fetched(caches(settings), "http://robots.test")
    assert [str(hit.url) for hit in proxy.hits] == ["http://robots.test/robots.txt"]
    assert not cache.allowed("http://robots.test/via-proxy")


async def test_sends_our_user_agent(sites: Any, caches: Any) -> None:
    site = await sites({"/robots.txt": RULES})
    await fetched(caches(DownloaderSettings(user_agent="MyBot/3.1")), site.origin)
    assert site.hits[0].headers["User-Agent"] == "MyBot/3.1"


async def test_on_ready_errors_are_logged(
    sites: Any, caches: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(key: str) -> None:
        raise RuntimeError("boom")

    site = await sites({"/robots.txt": RULES})
    cache = await fetched(caches(on_ready=broken), site.origin)
    assert cache.allowed(f"{site.origin}/private") is False
    assert "on_ready failed" in caplog.text


async def test_close_cancels_fetches(sites: Any, caches: Any) -> None:
    never = asyncio.Event()

    async def hang(request: web.Request) -> web.StreamResponse:
        await never.wait()
        return web.Response(text="")

    site = await sites({"/robots.txt": hang})
    ready: list[str] = []
    cache = caches(on_ready=ready.append)
    task = cache.start(site.origin)
    while not site.hits:
        await asyncio.sleep(0)
    await cache.close()
    assert task.cancelled()
    assert cache.state(site.origin) == "unknown"
    assert ready == []
    never.set()  # let the server shut down without waiting for the handler


async def test_session_factory_is_used(sites: Any, caches: Any) -> None:
    from crawler.downloader.session import make_session

    made: list[object] = []
    settings = DownloaderSettings()

    def factory() -> Any:
        made.append(session := make_session(dataclasses.replace(settings, user_agent="F/1")))
        return session

    site = await sites({"/robots.txt": RULES})
    await fetched(caches(settings, session_factory=factory), site.origin)
    assert len(made) == 1
    assert site.hits[0].headers["User-Agent"] == "F/1"


async def test_a_cancelled_fetch_can_start_again(sites: Any, caches: Any) -> None:
    site = await sites({"/robots.txt": RULES})
    cache = caches()
    cache.start(site.origin).cancel()  # before it ran
    await asyncio.sleep(0)
    assert cache.state(site.origin) == "unknown"
    await fetched(cache, site.origin)
    assert not cache.allowed(f"{site.origin}/private")
