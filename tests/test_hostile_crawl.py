"""A whole crawl against a server that misbehaves on purpose: every page ends well or recorded."""

from __future__ import annotations

import contextlib
import signal
import socket
import time

from tests.hostile import CHARSET_CASES, MIB, serve_hostile
from tests.support import Project, interrupt, wait_for

SPIDER = """
    from crawler import Spider

    class Hostile(Spider):
        name = "hostile"
        start_urls = URLS

        def parse(self, response):
            if not response.is_text:
                try:
                    response.text
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"
                yield {"url": response.url, "bytes": len(response.body), "error": error}
                return
            yield {"url": response.url, "text": response.text}
"""

GOOD = ["/ok", "/encoded/br", "/encoded/zstd", "/encoded/nested", "/encoded/deflate-raw"]
CHARSETS = [f"/charset/{case}" for case in CHARSET_CASES]
BAD = {
    "/bomb/gzip": "decompressed body exceeds max_decompressed_size 4194304",
    "/bomb/zstd": "decompressed body exceeds max_decompressed_size 4194304",
    "/huge?chunked=1": "body exceeds max_body_size 2097152",
    "/huge?chunked=0": "body of 1073741824 bytes exceeds max_body_size 2097152",
    "/encoded/unknown": "unsupported Content-Encoding 'foo'",
    "/slowloris?interval=0.2": "timeout",
    "/stall/headers": "read timeout",
}
RETRIED = ["/truncated", "/reset/mid_body", "/reset/before_headers"]

SETTINGS = f"""
[downloader]
obey_robots = false
timeout = 2.0
read_timeout = 1.0
retries = 1
retry_backoff = 0.01
max_body_size = {2 * MIB}
max_decompressed_size = {4 * MIB}
"""


def test_a_hostile_server_never_loses_a_page(project: Project) -> None:
    with serve_hostile() as server:
        paths = [*GOOD, *CHARSETS, "/binary/png", *BAD, *RETRIED]
        urls = [server.url(path) for path in paths]
        project.add_spider("hostile", SPIDER.replace("URLS", repr(urls)))
        project.write_settings(SETTINGS)
        result = project.run("crawl", "hostile")
        log = list(server.log)
    assert result.returncode == 0, result.stderr
    items = {item["url"]: item for item in project.items("hostile")}
    errors = {error["url"]: error for error in project.errors("hostile")}
    # Every page ends as an item or a recorded failure, never both, never neither.
    assert set(items) | set(errors) == set(urls) and not set(items) & set(errors)
    for path in GOOD:
        assert "<h1>ok</h1>" in items[server.url(path)]["text"]
    for case, expected in CHARSET_CASES.items():
        assert expected.golden in items[server.url(f"/charset/{case}")]["text"], case
    png = items[server.url("/binary/png")]
    assert png["bytes"] > 1000 and png["error"].startswith("NotTextError: response from ")
    for path, reason in BAD.items():
        assert errors[server.url(path)]["reason"] == reason, path
    for path in RETRIED:
        error = errors[server.url(path)]
        assert error["attempts"] == 2, error  # one retry, then recorded
        assert error["reason"].startswith(
            ("ClientPayloadError", "ServerDisconnectedError", "ClientOSError")
        ), error
    # The bombs and the endless body were cut off near the limits, not read to the end.
    sent = {
        entry["path"] + (f"?{entry['query']}" if entry["query"] else ""): entry for entry in log
    }
    assert sent["/huge?chunked=1"]["bytes_sent"] < 16 * MIB
    assert sent["/bomb/gzip"]["bytes_sent"] < 3 * MIB
    stats = project.stats("hostile")
    assert stats["warnings"]["charset"] >= 3  # wrong, unknown and undeclared charsets
    assert stats["retries"] == len(RETRIED) + 2  # and the two timeouts


def test_a_connect_that_never_completes_times_out_and_other_hosts_go_on(
    project: Project,
) -> None:
    # A listening socket whose accept queue is full drops new SYNs: a connect that hangs.
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(0)
    port = blackhole.getsockname()[1]
    fillers = [socket.socket() for _ in range(3)]
    for filler in fillers:
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
    try:
        with serve_hostile() as server:
            urls = [f"http://127.0.0.1:{port}/", server.url("/ok")]
            project.add_spider("hostile", SPIDER.replace("URLS", repr(urls)))
            project.write_settings(
                SETTINGS.replace("timeout = 2.0", "timeout = 5.0") + "connect_timeout = 0.5\n"
            )
            result = project.run("crawl", "hostile")
    finally:
        for sock in [*fillers, blackhole]:
            sock.close()
    assert result.returncode == 0, result.stderr
    [error] = project.errors("hostile")
    assert error["url"] == urls[0] and error["reason"] == "connect timeout"
    assert error["attempts"] == 2
    assert [item["url"] for item in project.items("hostile")] == [urls[1]]


def test_a_stop_cancels_the_fetches_in_flight_at_once(project: Project) -> None:
    # Stalled responses (no read timeout, a long total one) are in flight when the crawl
    # is stopped: each downloader cancels its fetches and exits by itself, long before the
    # scheduler would kill it (5 s).
    with serve_hostile() as server:
        stalls = [f"/stall/{where}?n={n}" for n in range(4) for where in ("headers", "body")]
        urls = [server.url(path) for path in stalls]
        project.add_spider("hostile", SPIDER.replace("URLS", repr(urls)))
        project.write_settings(
            SETTINGS.replace("timeout = 2.0", "timeout = 60.0").replace(
                "read_timeout = 1.0", "read_timeout = 0"
            )
        )
        crawl = project.start("crawl", "hostile")
        wait_for(lambda: len(server.log) >= 2, timeout=30)
        started = time.monotonic()
        interrupt(crawl, signal.SIGINT)
        time.sleep(0.05)
        interrupt(crawl, signal.SIGINT)  # the second one: stop now, do not drain
        _out, err = crawl.communicate(timeout=30)
        elapsed = time.monotonic() - started
    assert crawl.returncode == 130, err
    assert "did not stop" not in err and "Traceback" not in err, err
    assert elapsed < 3.0, err
