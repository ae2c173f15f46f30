"""What a redirect becomes: a new request for its target, or the reason it fails.

Used by the scheduler: downloaders report redirects instead of following them, so every
hop is deduplicated, scoped and counted like any other URL.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from crawler.api.request import check_url
from crawler.urls.fingerprint import canonical_url
from crawler.wire.messages import RequestSpec

_CREDENTIALS = frozenset({"authorization", "cookie", "proxy-authorization"})
_BODY_HEADERS = frozenset({"content-type", "content-length", "content-encoding"})


def redirect_request(
    request: RequestSpec,
    status: int,
    location: str,
    max_redirects: int,
    fingerprint: Callable[[str, str, bytes], int],
) -> RequestSpec | str:
    """The request for `location`, or why following it fails (a loop, too many, a bad URL).

    `response.meta["redirect_urls"]` lists the URLs redirected from, in order, and
    `meta["redirect_statuses"]` their statuses.  301/302 turn a POST into a GET and 303
    anything but HEAD; 307/308 keep the method and body.  Credentials (Authorization,
    Cookie headers, per-request cookies) do not follow a redirect to another host.
    """
    chain = [*request.meta.get("redirect_urls", ()), request.url]
    statuses = [*request.meta.get("redirect_statuses", ()), status]
    try:
        check_url(location)
    except ValueError as exc:
        return f"redirect to a URL that cannot be fetched: {exc}"
    target = canonical_url(location)
    if any(canonical_url(url) == target for url in chain):
        return "redirect loop: " + " -> ".join([*chain, location])
    if len(chain) > max_redirects:
        return f"too many redirects: {len(chain)} (downloader.max_redirects is {max_redirects})"
    method, body, headers = request.method, request.body, dict(request.headers)
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method, body = "GET", b""
        headers = {k: v for k, v in headers.items() if k.lower() not in _BODY_HEADERS}
    same_host = urlsplit(location).netloc.lower() == urlsplit(request.url).netloc.lower()
    if not same_host:
        headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIALS}
    new = RequestSpec(
        url=location,
        method=method,
        headers=headers,
        body=body,
        callback=request.callback,
        meta={**request.meta, "redirect_urls": chain, "redirect_statuses": statuses},
        priority=request.priority,
        dont_filter=request.dont_filter,
        depth=request.depth,
        cookies=request.cookies if same_host else {},
        private=request.private,
        errback=request.errback,
        cb_kwargs=request.cb_kwargs,
    )
    if not new.dont_filter:
        new.fingerprint = fingerprint(new.method, new.url, new.body)
    return new
