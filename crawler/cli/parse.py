"""`crawler parse SPIDER URL`: fetch one page, run one callback on it, print what it yields.

For writing and debugging a spider (Scrapy's `scrapy parse`): no scheduler, no workers,
no run folder.  Items go to stdout as JSON lines, exactly as `items.jsonl` would hold them;
the page's status and the requests the callback yields go to stderr.  The items and
requests are checked as a crawl checks them, so what fails here fails in a crawl too.
"""

from __future__ import annotations

import asyncio
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from crawler.api import hooks
from crawler.api.request import Request, check_plain, to_spec
from crawler.api.response import Response
from crawler.api.spider import Spider
from crawler.downloader.failures import Failed
from crawler.downloader.standalone import fetch_one
from crawler.errors import ExitCode, UsageError
from crawler.parser.process import each_output, is_item, run_response_hooks
from crawler.scheduler.crawl import load_spider
from crawler.settings.schema import Settings
from crawler.wire.messages import RequestSpec


@dataclass
class ParseRequest:
    """What `crawler parse` was asked for."""

    root: Path
    spider: str
    url: str
    callback: str = "parse"
    meta: dict[str, Any] = field(default_factory=dict)
    cb_kwargs: dict[str, Any] = field(default_factory=dict)
    spider_args: dict[str, str] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)
    settings_path: Path | None = None


def run(request: ParseRequest) -> int:
    """Fetch, parse, print; 0 if the callback ran, 1 if it failed."""
    _, spider, settings = load_spider(
        request.root, request.spider, request.settings_path, request.overrides, request.spider_args
    )
    callback = getattr(spider, request.callback, None)
    if not callable(callback):
        raise UsageError(f"spider {spider.name!r} has no callback {request.callback!r}")
    try:
        page = Request(request.url, callback=request.callback, meta=request.meta)
        page.cb_kwargs = request.cb_kwargs
        check_plain(request.meta, "meta")
        check_plain(request.cb_kwargs, "cb_kwargs")
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    response = fetch_page(page, settings)
    print(f"HTTP {response.status} {response.url} ({len(response.body):,} bytes)", file=sys.stderr)
    try:
        outputs = asyncio.run(_call(spider, callback, response))
    except Exception:
        traceback.print_exc()
        print(f"{request.callback}() failed on {response.url}", file=sys.stderr)
        return ExitCode.ERROR  # the callback failed
    try:
        lines, found = _check(spider, request.callback, outputs)
    except (ValueError, TypeError) as exc:  # what would fail the page in a crawl
        print(f"{request.callback}() on {response.url}: {exc}", file=sys.stderr)
        return ExitCode.ERROR  # the callback failed
    for spec in found:
        print(f"-> {spec.method} {spec.url} {spec.callback}()", file=sys.stderr)
    sys.stdout.buffer.write(b"".join(lines))
    sys.stdout.flush()
    items, requests = len(lines), len(found)
    print(f"{items} items, {requests} requests", file=sys.stderr)
    return 0


def _check(
    spider: Spider, callback: str, outputs: list[Any]
) -> tuple[list[bytes], list[RequestSpec]]:
    """The items as JSON lines and the requests' wire forms, checked as a crawl checks them."""
    encoder = msgspec.json.Encoder()
    lines: list[bytes] = []
    found: list[RequestSpec] = []
    for output in outputs:
        if isinstance(output, Request):
            found.append(to_spec(spider, output))
        elif is_item(output):
            schema = type(spider).item_schema
            if schema is not None:
                try:
                    output = msgspec.convert(output, schema, from_attributes=True)
                except msgspec.ValidationError as exc:  # a crawl drops it (invalid_items.jsonl)
                    print(f"invalid item (item_schema): {exc}: {output!r}", file=sys.stderr)
                    continue
            lines.append(encoder.encode(output) + b"\n")
        else:
            raise TypeError(
                f"{callback}() yielded {type(output).__name__}; "
                "expected an item (dict or dataclass) or a Request"
            )
    return lines, found


def fetch_page(request: Request, settings: Settings) -> Response:
    """Fetch one page now (redirects followed); UsageError saying why it cannot be fetched."""
    page = fetch_one(request.url, settings.downloader)
    if isinstance(page, Failed):
        raise UsageError(f"cannot fetch {request.url}: {page.detail}") from page.error
    return Response(page.url, page.status, page.headers, page.body, request)


async def _call(spider: Spider, callback: Any, response: Response) -> list[Any]:
    """Run the spider's response hooks and the callback; every output, in order."""
    response = await run_response_hooks(hooks.overrides(type(spider).hooks, "response"), response)
    outputs: list[Any] = []
    await each_output(callback(response, **response.request.cb_kwargs), outputs.append)
    return [output for output in outputs if output is not None]
