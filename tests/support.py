"""Helpers for end-to-end tests: a project folder, a crawl in a subprocess, a server in a thread."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
from aiohttp import web

REPO = Path(__file__).resolve().parent.parent


def catch_all(handler: Any, method: str = "*") -> web.Application:
    """An aiohttp app whose every path goes to `handler`."""
    app = web.Application()
    app.router.add_route(method, "/{tail:.*}", handler)
    return app


@contextmanager
def serve_app(app: web.Application, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve an aiohttp app on `host`:<free port> from a thread; yield its base URL."""
    with serve_on(app, host) as port:
        yield f"http://{host}:{port}/"


@contextmanager
def serve_on(
    app: web.Application, host: str = "127.0.0.1", ssl_context: Any = None
) -> Iterator[int]:
    """Serve an aiohttp app on `host`:<free port> from a thread; yield the port."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    started = threading.Event()
    box: dict[str, Any] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, host, 0, ssl_context=ssl_context)
        loop.run_until_complete(site.start())
        box["port"] = runner.addresses[0][1]
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10), f"server on {host} did not start"
    try:
        yield box["port"]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


class Project:
    """A throw-away project root: settings.toml, spiders/, output/."""

    def __init__(self, root: Path, settings: str = "") -> None:
        self.root = root
        (root / "spiders").mkdir(parents=True, exist_ok=True)
        (root / "spiders" / "__init__.py").write_text("")
        self.write_settings(settings)

    def write_settings(self, text: str) -> None:
        (self.root / "settings.toml").write_text(textwrap.dedent(text))

    def add_spider(self, module: str, source: str) -> None:
        (self.root / "spiders" / f"{module}.py").write_text(textwrap.dedent(source))

    def copy_spider(self, module: str) -> None:
        source = (REPO / "spiders" / f"{module}.py").read_text()
        (self.root / "spiders" / f"{module}.py").write_text(source)

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "crawler", *args]

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 90
    ) -> subprocess.CompletedProcess[str]:
        """Run the command line to its end, in its own session (like a terminal job)."""
        return subprocess.run(
            self.command(*args),
            cwd=self.root,
            env=_env(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            start_new_session=True,
        )

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start the command line in the background, in its own session."""
        return subprocess.Popen(
            self.command(*args),
            cwd=self.root,
            env=_env(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def run_dir(self, spider: str) -> Path:
        return (self.root / "output" / spider / "latest").resolve()

    def items(self, spider: str) -> list[dict[str, Any]]:
        return read_jsonl(self.run_dir(spider) / "items.jsonl")

    def errors(self, spider: str) -> list[dict[str, Any]]:
        return read_jsonl(self.run_dir(spider) / "errors.jsonl")

    def stats(self, spider: str) -> dict[str, Any]:
        return dict(json.loads((self.run_dir(spider) / "stats.json").read_text()))

    def status(self, spider: str) -> dict[str, Any]:
        return dict(json.loads((self.run_dir(spider) / "job" / "status.json").read_text()))


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Parse every line; fail on a partial or malformed one."""
    text = path.read_text()
    assert text == "" or text.endswith("\n"), f"{path} ends with a partial line"
    return [json.loads(line) for line in text.splitlines()]


def wait_for(predicate: Any, timeout: float = 30.0, interval: float = 0.05) -> None:
    """Poll until `predicate()` is true; fail after `timeout` seconds (a hang detector)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")


def descendants() -> list[psutil.Process]:
    """Every live process below this test run (orphans included: we are a subreaper)."""
    alive = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                alive.append(child)
            elif child.ppid() == os.getpid():
                os.waitpid(child.pid, os.WNOHANG)  # reap orphans re-parented to us
        except (psutil.NoSuchProcess, ChildProcessError):
            pass
    return alive


def is_alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def assert_no_leftovers(timeout: float = 5.0) -> None:
    """No descendant process left (within `timeout` seconds)."""
    wait_for(lambda: not descendants(), timeout)


def interrupt(process: subprocess.Popen[str], signum: int = signal.SIGINT) -> None:
    """Send `signum` to the process group, as a terminal's Ctrl-C does."""
    os.killpg(process.pid, signum)
