"""Serving the demo catalogue with aiohttp's server, and `crawler demo` (serve, then crawl)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

from aiohttp import web

from crawler import settings as settings_module
from crawler.cli.demo.site import Catalogue
from crawler.errors import UsageError
from crawler.scheduler.crawl import CrawlRequest, main_guarded
from crawler.scheduler.processes import CONTEXT, start_deaf

logger = logging.getLogger(__name__)


def make_app(catalogue: Catalogue, delay: float = 0.0) -> web.Application:
    """An aiohttp application serving `catalogue` (optionally `delay` seconds per page)."""

    async def handle(request: web.Request) -> web.Response:
        if delay:
            await asyncio.sleep(delay)
        body = catalogue.render(request.path)
        if body is None:
            return web.Response(status=404, text="not found")
        return web.Response(body=body, content_type="text/html", charset="utf-8")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    return app


def serve_forever(port: int, products: int, delay: float = 0.0) -> None:
    """Serve the demo catalogue on 127.0.0.1:`port` until killed."""
    web.run_app(
        make_app(Catalogue(products), delay),
        host="127.0.0.1",
        port=port,
        print=None,
        access_log=None,
    )


def _serve_child(port: int, products: int) -> None:
    import os

    from crawler.wire.runtime import detach_from_terminal_signals

    detach_from_terminal_signals(os.getppid())
    serve_forever(port, products)


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise UsageError(f"the demo site did not start on 127.0.0.1:{port}")


def run_demo(request: CrawlRequest) -> int:
    """Serve the demo site on its port, crawl it with the `demo` spider, stop the site."""
    path = request.settings_path or request.root / "settings.toml"
    settings = settings_module.load(path if path.exists() else None, request.overrides)
    port, products = settings.demo.port, settings.demo.pages
    probe = socket.socket()
    try:
        probe.bind(("127.0.0.1", port))
    except OSError as exc:
        raise UsageError(
            f"demo port {port} is busy ({exc.strerror}); choose another with -s demo.port=N"
        ) from exc
    finally:
        probe.close()
    server = CONTEXT.Process(target=_serve_child, args=(port, products), name="demo-site")
    start_deaf(server)
    try:
        wait_for_port(port)
        request.spider_args.setdefault("base_url", f"http://127.0.0.1:{port}/")
        return main_guarded(request)
    finally:
        server.kill()
        server.join()
