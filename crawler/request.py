"""The user's `Request`, and its conversion to the wire form; used by the scheduler and parsers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from crawler.messages import RequestSpec

Callback = Callable[..., Any]

_PLAIN_SCALARS = (str, int, float, bool, bytes, type(None))


class Request:
    """A page to fetch, and the spider method that will parse it."""

    __slots__ = (
        "body",
        "callback",
        "dont_filter",
        "headers",
        "meta",
        "method",
        "priority",
        "url",
    )

    def __init__(
        self,
        url: str,
        callback: Callback | str | None = None,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: bytes | str | None = None,
        meta: dict[str, Any] | None = None,
        priority: int = 0,
        dont_filter: bool = False,
    ) -> None:
        if not isinstance(url, str):
            raise TypeError(f"Request url must be str, got {type(url).__name__}")
        check_url(url)
        self.url = url
        self.callback = callback
        self.method = method.upper()
        self.headers = dict(headers or {})
        self.body = body.encode() if isinstance(body, str) else (body or b"")
        self.meta = meta if meta is not None else {}
        self.priority = priority
        self.dont_filter = dont_filter

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.url}>"


def check_url(url: str) -> None:
    """Raise ValueError unless `url` is an absolute http(s) URL."""
    if url != url.strip() or any(ord(c) < 32 for c in url):
        raise ValueError(f"URL has whitespace or control characters: {url!r}")
    parts = urlsplit(url)
    if not parts.scheme:
        raise ValueError(f"missing scheme in request URL: {url!r}")
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"unsupported URL scheme {parts.scheme!r} in {url!r} (http or https)")
    if not parts.hostname:
        raise ValueError(f"missing host in request URL: {url!r}")
    try:
        parts.port  # noqa: B018 - raises on an invalid port
    except ValueError as exc:
        raise ValueError(f"invalid port in request URL: {url!r}") from exc


def callback_name(spider: object, callback: Callback | str | None, default: str | None) -> str | None:
    """Return the spider method name of `callback`, or raise ValueError if it is not one."""
    if callback is None:
        return default
    name = callback if isinstance(callback, str) else getattr(callback, "__name__", None)
    method = getattr(type(spider), name, None) if isinstance(name, str) else None
    if name is None or not callable(method):
        raise ValueError(
            f"callback {callback!r} is not a method of spider {type(spider).__name__}; "
            "callbacks cross process boundaries by name"
        )
    bound_self = getattr(callback, "__self__", spider)
    if not isinstance(callback, str) and bound_self is not spider:
        raise ValueError(f"callback {callback!r} is bound to another object than the spider")
    return name


def check_plain(value: Any, path: str = "meta") -> None:
    """Raise ValueError unless `value` is plain data (str, numbers, bool, None, bytes, lists, dicts)."""
    if isinstance(value, _PLAIN_SCALARS):
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_plain(item, f"{path}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{path} has a non-str key {key!r}")
            check_plain(item, f"{path}[{key!r}]")
        return
    raise ValueError(f"{path} holds a {type(value).__name__}, which is not plain data")


def to_spec(spider: object, request: Request, depth: int = 0) -> RequestSpec:
    """Convert a user `Request` into its wire form, checking callback names and meta."""
    check_plain(request.meta)
    return RequestSpec(
        url=request.url,
        method=request.method,
        headers=request.headers,
        body=request.body,
        callback=callback_name(spider, request.callback, "parse") or "parse",
        meta=request.meta,
        priority=request.priority,
        dont_filter=request.dont_filter,
        depth=depth,
    )


def from_spec(spec: RequestSpec) -> Request:
    """Rebuild the user-facing `Request` a page was fetched for."""
    request = Request.__new__(Request)
    request.url = spec.url
    request.callback = spec.callback
    request.method = spec.method
    request.headers = dict(spec.headers)
    request.body = spec.body
    request.meta = spec.meta
    request.priority = spec.priority
    request.dont_filter = spec.dont_filter
    return request
