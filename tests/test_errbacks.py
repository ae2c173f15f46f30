"""Errbacks: a request that finally fails goes to its errback, which runs in a parser."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from aiohttp import web

from crawler.api.request import Request, to_spec
from crawler.cli.bench.server import free_port
from crawler.journal.export import write_errors, write_items
from crawler.journal.records import Done, Failed, Seeded
from crawler.journal.replay import replay
from crawler.journal.stats import CrawlStats
from crawler.wire.messages import RequestSpec
from tests.support import Project, catch_all, serve_app


def failing_app(hits: Counter[str]) -> web.Application:
    """/missing* are 404, /broken is always 500, everything else is a small page."""

    async def handle(request: web.Request) -> web.Response:
        if request.path == "/robots.txt":
            raise web.HTTPNotFound()
        hits[request.path_qs] += 1
        if request.path.startswith("/missing"):
            return web.Response(status=404, text="gone", content_type="text/html")
        if request.path == "/hop":
            raise web.HTTPFound("/missing-after-hop")
        if request.path == "/badloc":  # a Location that cannot be parsed
            return web.Response(status=301, headers={"Location": "http://[::1"})
        if request.path == "/broken":
            return web.Response(status=500, text="oops", content_type="text/html")
        return web.Response(text="<html>fine</html>", content_type="text/html")

    return catch_all(handle)


SPIDER = """
    from crawler import Request, Spider

    class Probe(Spider):
        name = "probe"
        custom_settings = {
            "downloader.retries": 1,
            "downloader.retry_backoff": 0.01,
            "downloader.obey_robots": False,
        }

        def start_requests(self):
            yield Request("BASEmissing", errback=self.failed)
            yield Request("BASEbroken", errback="failed")
            yield Request("http://127.0.0.1:CLOSED/refused", errback=self.failed)
            yield Request("BASEfine", errback=self.failed)
            yield Request("BASEmissing-plain")
            yield Request("BASEhop", errback=self.failed, cb_kwargs={"via": "hop"})
            yield Request("BASEbadloc", errback=self.failed)

        def parse(self, response):
            yield {"ok": response.url}

        def failed(self, failure):
            BODY
"""

RECORD = """
            yield {"url": failure.request.url, "reason": failure.reason,
                   "kind": failure.kind, "status": failure.status,
                   "via": failure.request.cb_kwargs.get("via")}
            if failure.status == 404:
                yield Request("BASEfine?found-by-errback")
"""


def crawl(project: Project, body: str, *env: tuple[str, str]) -> tuple[Counter[str], str]:
    hits: Counter[str] = Counter()
    with serve_app(failing_app(hits)) as url:
        source = SPIDER.replace("BODY", body.strip()).replace("BASE", url)
        project.add_spider("probe", source.replace("CLOSED", str(free_port())))
        result = project.run("crawl", "probe", env=dict(env) or None)
    assert result.returncode == 0, result.stderr
    return hits, result.stderr


def test_a_final_failure_goes_to_its_errback_once_after_the_retries(project: Project) -> None:
    hits, _ = crawl(project, RECORD)
    items = project.items("probe")
    failures = {item["url"].rsplit("/", 1)[1]: item for item in items if "reason" in item}
    assert failures["missing"] == {**failures["missing"], "kind": "http", "status": 404}
    assert failures["missing"]["reason"] == "HTTP 404"
    assert failures["broken"]["kind"] == "http" and failures["broken"]["status"] == 500
    assert failures["refused"]["kind"] == "network" and failures["refused"]["status"] == 0
    hop = failures["missing-after-hop"]  # a redirect keeps the errback and the cb_kwargs
    assert hop["status"] == 404 and hop["via"] == "hop"
    bad = failures["badloc"]
    assert bad["kind"] == "redirect" and bad["status"] == 301
    assert bad["reason"].startswith("bad redirect Location")
    assert len(failures) == 5  # fine succeeded; missing-plain has no errback
    pages = sorted(item["ok"].rsplit("/", 1)[1] for item in items if "ok" in item)
    assert pages == ["fine", "fine?found-by-errback"]  # an errback's requests are crawled
    assert hits["/broken"] == 2  # one retry, then the errback, once
    assert hits["/missing"] == 1
    errors = {e["url"].rsplit("/", 1)[1]: e for e in project.errors("probe")}
    assert set(errors) == {
        "missing",
        "broken",
        "refused",
        "missing-plain",
        "missing-after-hop",
        "badloc",
    }
    stats = project.stats("probe")
    assert stats["failed"] == 6 and stats["items"] == 7 and stats["pages"] == 2


def test_an_errback_that_raises_is_recorded_with_the_failure(project: Project) -> None:
    _, stderr = crawl(project, 'raise ValueError("boom")')
    errors = {e["url"].rsplit("/", 1)[1]: e for e in project.errors("probe")}
    assert errors["missing"]["reason"] == "HTTP 404; errback error: ValueError: boom"
    assert "(errback failed)" in stderr
    assert [item["ok"].rsplit("/", 1)[1] for item in project.items("probe")] == ["fine"]


def test_a_parser_killed_in_an_errback_runs_it_again_and_commits_once(
    project: Project, tmp_path: Path
) -> None:
    marker = tmp_path / "fired"
    marker.mkdir()
    _, stderr = crawl(
        project,
        RECORD,
        ("CRAWLER_FAILPOINTS", "parser.after_item=kill@/missing"),
        ("CRAWLER_FAILPOINTS_ONCE", str(marker)),
    )
    assert "died (SIGKILL)" in stderr
    urls = Counter(item.get("url") or item["ok"] for item in project.items("probe"))
    assert max(urls.values()) == 1 and len(urls) == 7
    assert project.stats("probe")["worker_deaths"] == 1


def test_an_errback_must_be_a_spider_method() -> None:
    class Probe:
        def failed(self, failure: object) -> None: ...

    spider = Probe()
    assert to_spec(spider, Request("http://a.test/", errback=spider.failed)).errback == "failed"
    assert to_spec(spider, Request("http://a.test/")).errback == ""
    with pytest.raises(ValueError, match=r"^errback <built-in function print> is not a method"):
        to_spec(spider, Request("http://a.test/", errback=print))


def test_what_an_errback_committed_survives_a_resume(tmp_path: Path) -> None:
    parts = tmp_path / "parts"
    parts.mkdir()
    (parts / "0.jsonl").write_bytes(b'{"a":1}\n{"failed":"x"}\n')
    start = RequestSpec("http://a.test/x", id=1, fingerprint=11, errback="failed")
    found = RequestSpec("http://a.test/y", id=2, fingerprint=12)
    records = [
        Seeded(1, [start, RequestSpec("http://a.test/z", id=3, fingerprint=13)]),
        Done(3, 200, "0.jsonl", 0, 8, 1, []),
        Failed(1, start.url, "HTTP 404", 1, 404, False, "0.jsonl", 8, 23, 1, [found]),
    ]
    stats = CrawlStats()
    state = replay(records, stats, lambda: records)
    assert [request.url for request in state.pending] == ["http://a.test/y"]
    assert 12 in state.seen and stats.items == 2 and stats.failed == 1
    assert write_items(records, parts, tmp_path / "items.jsonl") == 23
    assert (tmp_path / "items.jsonl").read_bytes() == b'{"a":1}\n{"failed":"x"}\n'
    assert write_errors(records, tmp_path / "errors.jsonl") == 1
