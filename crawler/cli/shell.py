"""`crawler shell URL`: fetch a page and explore it in an interactive Python prompt.

Scrapy's `scrapy shell`, for trying selectors: `response` is the page (a `Response`, as a
callback gets it), `fetch(url)` fetches another one into `response`, and with `--spider`
the spider's settings apply and `spider` is an instance of it.
"""

from __future__ import annotations

import code
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crawler import settings as settings_module
from crawler.api.request import Request
from crawler.api.response import Response
from crawler.cli.parse import fetch_page
from crawler.errors import UsageError
from crawler.scheduler.crawl import load_spider

BANNER = """crawler shell: {status} {url} ({size:,} bytes)
  response            the page: response.css("h1::text").get(), response.xpath(...), .text
  fetch(url)          fetch another page into `response`
  spider, settings    the spider ({spider}) and the settings in use
Ctrl-D leaves."""


@dataclass
class ShellRequest:
    """What `crawler shell` was asked for."""

    root: Path
    url: str
    spider: str | None = None
    overrides: list[str] = field(default_factory=list)
    spider_args: dict[str, str] = field(default_factory=dict)
    settings_path: Path | None = None


def run(request: ShellRequest) -> int:
    spider: Any = None
    if request.spider is not None:
        _, spider, settings = load_spider(
            request.root,
            request.spider,
            request.settings_path,
            request.overrides,
            request.spider_args,
        )
    else:
        path = request.settings_path or request.root / "settings.toml"
        settings = settings_module.load(path if path.exists() else None, request.overrides)
    namespace: dict[str, Any] = {"spider": spider, "settings": settings, "Request": Request}

    def fetch(url: str) -> Response:
        """Fetch `url` into `response` (and return it)."""
        try:
            page = Request(url)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        namespace["response"] = response = fetch_page(page, settings)
        return response

    namespace["fetch"] = fetch
    response = fetch(request.url)
    banner = BANNER.format(
        status=response.status,
        url=response.url,
        size=len(response.body),
        spider=request.spider or "none: --spider NAME",
    )
    print(banner, file=sys.stderr)
    code.interact(banner="", local=namespace, exitmsg="")
    return 0
