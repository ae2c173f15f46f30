"""Crash safety: real SIGKILLs and failpoints, then the invariants (items once, no leftovers)."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from aiohttp import web

from crawler.cli.demo.server import make_app
from crawler.cli.demo.site import Catalogue
from crawler.wire.transport import socket_dir
from tests.support import Project, descendants, interrupt, is_alive, serve_app, wait_for

PRODUCTS = 100
SETTINGS = """
    [processes]
    downloaders = 2
    parsers = 2

    [downloader]
    concurrency = 8
    per_host = 4
    retries = 1

    [limits]
    hang_timeout = 2.0
    max_restarts = 20
"""


@pytest.fixture
def site() -> Iterator[str]:
    with serve_app(make_app(Catalogue(PRODUCTS), delay=0.01)) as url:
        yield url


@pytest.fixture
def demo(project: Project) -> Project:
    project.copy_spider("demo")
    project.write_settings(SETTINGS)
    return project


def keys(items: list[dict[str, object]]) -> list[str]:
    return sorted(json.dumps(item, sort_keys=True) for item in items)


def expected(site: str) -> list[str]:
    return keys(Catalogue(PRODUCTS).expected_items(site))


def failpoints(tmp: Path, spec: str, once: bool = True) -> dict[str, str]:
    env = {"CRAWLER_FAILPOINTS": spec}
    if once:
        marker = tmp / "failpoints-fired"
        marker.mkdir(exist_ok=True)
        env["CRAWLER_FAILPOINTS_ONCE"] = str(marker)
    return env


def crawl(
    project: Project, site: str, env: dict[str, str] | None = None, *args: str
) -> subprocess.CompletedProcess[str]:
    return project.run("crawl", "demo", "-a", f"base_url={site}", *args, env=env, timeout=120)


def committed(project: Project) -> int:
    parts = project.root / "output" / "demo" / "latest" / "job" / "parts"
    return sum(p.read_bytes().count(b"\n") for p in parts.glob("*.jsonl")) if parts.exists() else 0


def worker_starts(project: Project, role: str) -> int:
    return sum(w["starts"] for w in project.status("demo")["workers"] if w["role"] == role)


@pytest.mark.parametrize(
    "spec",
    [
        "downloader.mid_frame:5=kill",
        "downloader.after_fetch:5=kill",
        "parser.after_item:3=kill",
        "parser.mid_chunk:3=kill",
        "parser.after_write:3=kill",
        "parser.before_ack:3=kill",
    ],
)
def test_a_worker_killed_at_any_point_loses_nothing(
    demo: Project, site: str, tmp_path: Path, spec: str
) -> None:
    result = crawl(demo, site, failpoints(tmp_path, spec))
    assert result.returncode == 0, result.stderr
    assert keys(demo.items("demo")) == expected(site)
    assert demo.stats("demo")["worker_deaths"] == 1
    role = spec.split(".")[0]
    other = "parser" if role == "downloader" else "downloader"
    assert worker_starts(demo, role) == 3 and worker_starts(demo, other) == 2
    assert "died (SIGKILL)" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_crashed_downloader_task_ends_its_process_and_loses_nothing(
    demo: Project, site: str, tmp_path: Path
) -> None:
    # The 5th fetch task of a downloader raises outside the per-request error handling:
    # the downloader exits, logged, with 70; the scheduler requeues its leases and
    # restarts it, and every item is written once.
    result = crawl(demo, site, failpoints(tmp_path, "downloader.task:5=raise"))
    assert result.returncode == 0, result.stderr
    assert keys(demo.items("demo")) == expected(site)
    assert demo.errors("demo") == []
    assert demo.stats("demo")["worker_deaths"] == 1
    assert worker_starts(demo, "downloader") == 3 and worker_starts(demo, "parser") == 2
    assert "a task crashed; exiting, to be restarted" in result.stderr
    assert "RuntimeError: failpoint raised (raise)" in result.stderr
    assert "died (exit code 70)" in result.stderr


def test_an_error_inside_a_fetch_is_reported_and_ends_nothing(
    demo: Project, site: str, tmp_path: Path
) -> None:
    # The same fault inside the per-request error handling: an internal error, retried.
    result = crawl(demo, site, failpoints(tmp_path, "downloader.after_fetch:5=raise"))
    assert result.returncode == 0, result.stderr
    assert keys(demo.items("demo")) == expected(site)
    assert demo.stats("demo")["worker_deaths"] == 0
    assert worker_starts(demo, "downloader") == 2
    assert "internal error fetching" in result.stderr


def test_a_poison_page_becomes_dead_and_the_crawl_finishes(
    demo: Project, site: str, tmp_path: Path
) -> None:
    env = failpoints(tmp_path, "parser.after_item=kill@/product/7.html", once=False)
    result = crawl(demo, site, env)
    assert result.returncode == 0, result.stderr
    items = demo.items("demo")
    assert keys(items) == [k for k in expected(site) if '/product/7.html"' not in k]
    errors = demo.errors("demo")
    assert [(e["url"], e["state"]) for e in errors] == [(f"{site}product/7.html", "dead")]
    assert "crashed 3 times (SIGKILL)" in errors[0]["reason"]
    assert demo.stats("demo")["dead"] == 1
    assert demo.stats("demo")["worker_deaths"] == 3
    assert worker_starts(demo, "parser") <= 2 + 3


def test_a_hung_parser_is_killed_and_replaced(demo: Project, site: str, tmp_path: Path) -> None:
    env = failpoints(tmp_path, "parser.after_item=sleep:1000@/product/9.html")
    result = crawl(demo, site, env)
    assert result.returncode == 0, result.stderr
    assert "is hung" in result.stderr
    assert keys(demo.items("demo")) == expected(site)


@pytest.mark.parametrize(
    ("spec", "once"),
    [
        ("scheduler.before_journal:40=enospc", True),
        # The disk stays full: the scheduler's write fails, and so does the last one at close.
        ("journal.write:5+=enospc", False),
    ],
)
def test_journal_write_failure_aborts_with_state_saved(
    demo: Project, site: str, tmp_path: Path, spec: str, once: bool
) -> None:
    result = crawl(demo, site, failpoints(tmp_path, spec, once))
    assert result.returncode == 3, result.stderr
    assert "No space left on device" in result.stderr and "to resume" in result.stderr
    assert "Traceback" not in result.stderr
    assert demo.stats("demo")["state"] == "failed"
    assert crawl(demo, site).returncode == 0
    assert keys(demo.items("demo")) == expected(site)


def test_a_journal_that_cannot_be_started_ends_with_exit_3(
    demo: Project, site: str, tmp_path: Path
) -> None:
    result = crawl(demo, site, failpoints(tmp_path, "journal.write=enospc", once=False))
    assert result.returncode == 3, result.stderr
    assert "error: cannot write the journal" in result.stderr
    assert "Traceback" not in result.stderr
    # Nothing was committed: the same run folder starts afresh, no --fresh needed.
    assert crawl(demo, site).returncode == 0
    assert keys(demo.items("demo")) == expected(site)


def test_disk_full_in_a_parser_aborts_and_resume_completes(
    demo: Project, site: str, tmp_path: Path
) -> None:
    env = failpoints(tmp_path, "parser.mid_chunk:4=enospc")
    result = crawl(demo, site, env)
    assert result.returncode == 3, result.stderr
    assert "No space left on device" in result.stderr
    partial = demo.items("demo")
    assert len(set(keys(partial))) == len(partial)
    assert crawl(demo, site).returncode == 0
    assert keys(demo.items("demo")) == expected(site)


@pytest.mark.parametrize("spill", [False, True])
def test_scheduler_sigkill_leaves_no_orphans_and_resumes(
    demo: Project, site: str, spill: bool
) -> None:
    if spill:  # most pending requests wait on disk when the scheduler dies
        demo.write_settings(SETTINGS + '[frontier]\nmemory_limit = 10\norder = "breadth-first"\n')
    process = demo.start("crawl", "demo", "-a", f"base_url={site}")
    wait_for(lambda: committed(demo) >= 10, timeout=60)
    pids = [w["pid"] for w in demo.status("demo")["workers"]]
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=10)
    wait_for(lambda: not descendants(), timeout=2.0)
    assert not any(is_alive(pid) for pid in pids)
    assert socket_dir(demo.run_dir("demo")).exists()  # left by the killed run; reused next
    result = crawl(demo, site)
    assert result.returncode == 0, result.stderr
    assert "resuming" in result.stderr
    assert keys(demo.items("demo")) == expected(site)
    assert not socket_dir(demo.run_dir("demo")).exists()
    assert not (demo.run_dir("demo") / "job" / "spill").exists()


def test_a_killed_fork_server_takes_its_workers_and_loses_nothing(demo: Project) -> None:
    with serve_app(make_app(Catalogue(PRODUCTS), delay=0.1)) as site:  # about 3 s in all
        process = demo.start("crawl", "demo", "-a", f"base_url={site}")
        wait_for(lambda: committed(demo) >= 10, timeout=60)
        workers = [w["pid"] for w in demo.status("demo")["workers"]]
        (server,) = {psutil.Process(pid).parent() for pid in workers}
        assert server.ppid() == process.pid and "forkserver" in " ".join(server.cmdline())
        server.kill()
        wait_for(lambda: not any(is_alive(pid) for pid in workers), timeout=5.0)
        _out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert keys(demo.items("demo")) == expected(site)
    assert demo.stats("demo")["worker_deaths"] == 4
    assert worker_starts(demo, "parser") == 4 and worker_starts(demo, "downloader") == 4
    assert "Traceback" not in err


def test_crash_restart_loop_ends_with_the_undisturbed_output(demo: Project) -> None:
    seed = int(os.environ.get("CRASH_LOOP_SEED", "20261126"))
    rng = random.Random(seed)
    # Slow pages, so that all the rounds kill one run part-way (about 13 pages/s).
    with serve_app(make_app(Catalogue(PRODUCTS), delay=0.3)) as site:
        for _ in range(20):
            process = demo.start("crawl", "demo", "-a", f"base_url={site}")
            time.sleep(rng.uniform(0.2, 1.5))
            finished = process.poll() is not None
            if not finished:
                os.kill(process.pid, signal.SIGKILL)
            process.communicate(timeout=30)
            wait_for(lambda: not descendants(), timeout=5.0)
            if finished:
                break
        result = crawl(demo, site)
    assert result.returncode == 0, f"seed {seed}: {result.stderr}"
    runs = [p for p in (demo.root / "output" / "demo").iterdir() if not p.is_symlink()]
    assert len(runs) == 1, f"seed {seed}: every round must resume the same run"
    assert keys(demo.items("demo")) == expected(site), f"seed {seed}"
    assert not socket_dir(demo.run_dir("demo")).exists()


def test_second_sigint_stops_at_once_and_resume_completes(demo: Project, site: str) -> None:
    process = demo.start("crawl", "demo", "-a", f"base_url={site}")
    wait_for(lambda: committed(demo) >= 10, timeout=60)
    interrupt(process, signal.SIGINT)
    time.sleep(0.05)
    interrupt(process, signal.SIGINT)
    _out, err = process.communicate(timeout=10)
    assert process.returncode == 130, err
    items = demo.items("demo")
    assert len(set(keys(items))) == len(items)
    assert crawl(demo, site).returncode == 0
    assert keys(demo.items("demo")) == expected(site)


def test_sigint_during_start_up_leaves_a_resumable_run(demo: Project, site: str) -> None:
    process = demo.start("crawl", "demo", "-a", f"base_url={site}")
    wait_for(lambda: (demo.root / "output" / "demo" / "latest" / "job").exists(), timeout=30)
    interrupt(process, signal.SIGINT)
    _out, err = process.communicate(timeout=30)
    assert process.returncode in (0, 130), err
    result = crawl(demo, site)
    assert result.returncode == 0, result.stderr
    assert keys(demo.items("demo")) == expected(site)


def test_foreign_clients_on_a_parser_socket_are_refused(demo: Project, site: str) -> None:
    slow = serve_app(make_app(Catalogue(PRODUCTS), delay=0.05))
    with slow as url:
        process = demo.start("crawl", "demo", "-a", f"base_url={url}")
        wait_for(lambda: committed(demo) >= 5, timeout=60)
        folder = socket_dir(demo.run_dir("demo"))
        sockets = sorted(folder.glob("*.sock"))
        assert sockets and oct(folder.stat().st_mode & 0o777) == "0o700"
        for payload in (b"junk junk junk", struct.pack("!i", 2**30), b""):
            client = socket.socket(socket.AF_UNIX)
            client.connect(str(sockets[0]))
            client.sendall(payload)
            client.close()
        _out, err = process.communicate(timeout=90)
    assert process.returncode == 0, err
    assert "closed a bad connection" in err or "refused a connection" in err
    assert demo.stats("demo")["worker_deaths"] == 0
    assert keys(demo.items("demo")) == keys(Catalogue(PRODUCTS).expected_items(url))


MEMORY_HOG = """
    from crawler import Spider

    class Hog(Spider):
        name = "hog"
        start_urls = [{urls}]

        def parse(self, response):
            if response.url.endswith("/product/3.html"):
                hoard = []
                while True:
                    hoard.append(bytearray(64 * 2**20))
            yield {{"url": response.url}}
"""


def test_a_callback_that_eats_memory_fails_only_its_page(project: Project, site: str) -> None:
    urls = ", ".join(repr(f"{site}product/{n}.html") for n in range(1, 6))
    project.add_spider("hog", MEMORY_HOG.format(urls=urls))
    # Zeroing 1.5 GiB takes seconds on a slow VM: give the heartbeat check room.
    settings = SETTINGS.replace("hang_timeout = 2.0", "hang_timeout = 60.0")
    project.write_settings(settings + "    parser_memory_mb = 1536\n")
    result = project.run("crawl", "hog", timeout=120)
    assert result.returncode == 0, result.stderr
    assert sorted(item["url"] for item in project.items("hog")) == sorted(
        f"{site}product/{n}.html" for n in (1, 2, 4, 5)
    )
    errors = project.run_dir("hog") / "errors.jsonl"
    assert "MemoryError" in errors.read_text()


def test_slow_parsers_hold_the_downloaders_back(project: Project, tmp_path: Path) -> None:
    hits = {"products": 0}
    catalogue = Catalogue(30)

    async def handle(request: web.Request) -> web.Response:
        if request.path.startswith("/product/"):
            hits["products"] += 1
        body = catalogue.render(request.path)
        return web.Response(body=body or b"", status=200 if body else 404, content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    project.copy_spider("demo")
    project.write_settings(SETTINGS + "\n    [parser]\n    window = 2\n")
    env = failpoints(tmp_path, "parser.after_item=sleep:0.2", once=False)
    with serve_app(app) as url:
        process = project.start("crawl", "demo", "-a", f"base_url={url}", env=env)
        most_ahead = 0
        while process.poll() is None:
            most_ahead = max(most_ahead, hits["products"] - committed(project))
            time.sleep(0.02)
        _out, err = process.communicate()
    assert process.returncode == 0, err
    assert len(project.items("demo")) == 30
    assert most_ahead <= 2 * 2, most_ahead  # two parsers, a window of two pages each


def test_sigint_during_resume_leaves_a_resumable_run(demo: Project, site: str) -> None:
    process = demo.start("crawl", "demo", "-a", f"base_url={site}")
    wait_for(lambda: committed(demo) >= 10, timeout=60)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=10)
    wait_for(lambda: not descendants(), timeout=5.0)
    resumed = demo.start("crawl", "demo", "-a", f"base_url={site}")
    time.sleep(0.3)  # inside start-up and journal replay
    interrupt(resumed, signal.SIGINT)
    _out, err = resumed.communicate(timeout=30)
    assert resumed.returncode in (0, 130), err
    assert "Traceback" not in err
    result = crawl(demo, site)
    assert result.returncode == 0, result.stderr
    assert keys(demo.items("demo")) == expected(site)
