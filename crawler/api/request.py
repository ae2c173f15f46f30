"""The user's `Request`, and its conversion to the wire form; used by the scheduler and parsers."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from crawler.api.forms import FormData, encode_body
from crawler.wire.messages import FailureKind, RequestSpec

Callback = Callable[..., Any]

_PLAIN_SCALARS = (str, int, float, bool, bytes, type(None))


class Request:
    """A page to fetch, and the spider method that will parse it."""

    __slots__ = (
        "body",
        "callback",
        "cb_kwargs",
        "cookies",
        "dont_filter",
        "errback",
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
        method: str | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | str | None = None,
        meta: dict[str, Any] | None = None,
        priority: int = 0,
        dont_filter: bool = False,
        cookies: Mapping[str, str] | None = None,
        errback: Callback | str | None = None,
        cb_kwargs: Mapping[str, Any] | None = None,
        formdata: FormData | None = None,
        json: Any = None,
    ) -> None:
        if not isinstance(url, str):
            raise TypeError(f"Request url must be str, got {type(url).__name__}")
        check_url(url)
        self.headers = dict(headers or {})
        if formdata is not None or json is not None:
            if body is not None or (formdata is not None and json is not None):
                raise ValueError("a Request takes only one of body, formdata and json")
            method = (method or "POST").upper()
            url, body = encode_body(method, url, self.headers, formdata, json)
        self.url = url
        self.callback = callback
        self.method = (method or "GET").upper()
        self.body = body.encode() if isinstance(body, str) else (body or b"")
        self.meta = meta if meta is not None else {}
        self.priority = priority
        self.dont_filter = dont_filter
        self.cookies = dict(cookies or {})
        self.errback = errback
        self.cb_kwargs = dict(cb_kwargs or {})

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.url}>"


# Plain http(s) URLs (the vast majority) pass this one regex; the rest get the full checks.
_PLAIN_URL = re.compile(
    r"https?://[A-Za-z0-9.\-]+"
    r"(?::(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
    r"(?:[/?#][^\x00-\x20\x7f-\x9f]*)?\Z"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_PLAIN_METHODS = frozenset({"GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"})


def check_url(url: str) -> None:
    """Raise ValueError unless `url` is an absolute http(s) URL."""
    if isinstance(url, str) and _PLAIN_URL.match(url):
        return
    _check_url_fully(url)


def _check_url_fully(url: str) -> None:
    if not isinstance(url, str):
        raise ValueError(f"request URL must be a str, got {type(url).__name__}")
    if not url:
        raise ValueError("request URL is empty")
    if url != url.strip() or _CONTROL.search(url):
        raise ValueError(
            f"request URL {url!r} has leading or trailing whitespace or control characters"
        )
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValueError(f"invalid request URL {url!r}: {exc}") from exc
    looks_like_host = re.match(r"\d+(/|$)", url[len(parts.scheme) + 1 :])  # "localhost:80"
    if not parts.scheme or (parts.scheme not in ("http", "https") and looks_like_host):
        raise ValueError(
            f"missing scheme in request URL {url!r}: it must start with http:// or https://"
        )
    if parts.scheme not in ("http", "https"):
        raise ValueError(
            f"unsupported scheme {parts.scheme!r} in request URL {url!r}: only http and https "
            "can be fetched"
        )
    if not parts.hostname:
        raise ValueError(f"missing host in request URL {url!r}")
    if any(c.isspace() for c in parts.netloc):
        raise ValueError(f"request URL {url!r} has whitespace in its host")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ValueError(f"invalid port in request URL {url!r}: a port is a number 1 to 65535")


def callback_name(
    spider: object, callback: Callback | str | None, default: str | None, role: str = "callback"
) -> str | None:
    """Return the spider method name of `callback`, or raise ValueError if it is not one.

    Callbacks cross process boundaries by name, so a callback must be a method of the
    spider's class: its name, the method bound to this spider, or the class's function.
    """
    if callback is None:
        return default
    spider_cls = type(spider)
    if getattr(callback, "__self__", None) is spider:  # the common case: self.parse_item
        name = getattr(callback, "__name__", None)
        if isinstance(name, str) and getattr(spider_cls, name, None) is getattr(
            callback, "__func__", None
        ):
            return name
    where = f"spider {spider_cls.__name__}"
    if isinstance(callback, str):
        if not callable(getattr(spider_cls, callback, None)):
            raise ValueError(
                f"{role} {callback!r} is not a method of {where}; "
                "callbacks cross process boundaries by name"
            )
        return callback
    name = getattr(callback, "__name__", None)
    if not isinstance(name, str):
        name = None
    method = getattr(spider_cls, name, None) if name is not None else None
    if name is None or not callable(method):
        raise ValueError(
            f"{role} {callback!r} is not a method of {where}; "
            "callbacks cross process boundaries by name, so use a method of the spider"
        )
    bound_self = getattr(callback, "__self__", None)
    if bound_self is not None and bound_self is not spider:
        raise ValueError(
            f"{role} {callback!r} is bound to another object than the spider; "
            f"use a method of {where}"
        )
    function = getattr(callback, "__func__", callback) if bound_self is spider else callback
    if function is not method:
        raise ValueError(
            f"{role} {callback!r} is not {where}'s method {name!r} but another function "
            "of that name; callbacks cross process boundaries by name"
        )
    return name


_INT_RANGE = (-(2**63), 2**64 - 1)  # what msgpack carries


def check_plain(value: Any, path: str = "meta") -> None:
    """Raise ValueError unless `value` is plain data: str, int, float, bool, None, bytes, and
    lists and str-keyed dicts of those; the message names where, e.g. meta['a'][0]."""
    if value.__class__ is dict and not value:
        return  # (most requests have no meta)
    _check_plain(value, path, set())


def _check_plain(value: Any, path: str, parents: set[int]) -> None:
    if isinstance(value, int) and not isinstance(value, bool):
        if not _INT_RANGE[0] <= value <= _INT_RANGE[1]:
            raise ValueError(f"{path} holds an int too large for 64 bits: {value}")
        return
    if isinstance(value, _PLAIN_SCALARS):
        return
    if isinstance(value, list | tuple | dict):
        if id(value) in parents:
            raise ValueError(f"{path} contains itself (a reference cycle)")
        parents.add(id(value))
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ValueError(
                        f"{path} has a key {key!r} of type {type(key).__name__}; keys must be str"
                    )
                _check_plain(item, f"{path}[{key!r}]", parents)
        else:
            for index, item in enumerate(value):
                _check_plain(item, f"{path}[{index}]", parents)
        parents.discard(id(value))
        return
    raise ValueError(
        f"{path} holds a {type(value).__name__}, which is not plain data "
        "(str, int, float, bool, None, bytes, list or dict)"
    )


def to_spec(spider: object, request: Request, depth: int = 0) -> RequestSpec:
    """Convert a user `Request` into its wire form; ValueError if it cannot cross processes.

    Checks the URL, callback name, meta, and the types of the other fields (a Request's
    attributes can be changed after it was made).
    """
    check_url(request.url)
    _check_fields(request)
    check_plain(request.meta)
    if request.cb_kwargs:
        check_plain(request.cb_kwargs, "cb_kwargs")
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
        cookies=request.cookies,
        errback=callback_name(spider, request.errback, None, "errback") or "",
        cb_kwargs=request.cb_kwargs,
    )


def _check_fields(request: Request) -> None:
    problem = _field_problem(request)
    if problem is not None:
        raise ValueError(f"request {request.url}: {problem}")


def _field_problem(request: Request) -> str | None:
    """What is wrong with a request's fields (other than its URL and meta), if anything."""
    method = request.method
    if method not in _PLAIN_METHODS and (
        not isinstance(method, str) or not re.fullmatch(r"[A-Z0-9_-]+", method)
    ):
        return f"method must be a word like GET or POST, got {request.method!r}"
    if not isinstance(request.headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in request.headers.items()
    ):
        return f"headers must map str to str, got {request.headers!r}"
    if not isinstance(request.cookies, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in request.cookies.items()
    ):
        return f"cookies must map str to str, got {request.cookies!r}"
    if not isinstance(request.body, bytes):
        return f"body must be bytes or str, got {type(request.body).__name__}"
    if not isinstance(request.meta, dict):
        return f"meta must be a dict, got {type(request.meta).__name__}"
    if not isinstance(request.cb_kwargs, dict):
        return f"cb_kwargs must be a dict, got {type(request.cb_kwargs).__name__}"
    priority = request.priority
    if not isinstance(priority, int) or isinstance(priority, bool) or abs(priority) >= 2**63:
        return f"priority must be a 64-bit int, got {priority!r}"
    if not isinstance(request.dont_filter, bool):
        return f"dont_filter must be True or False, got {request.dont_filter!r}"
    return None


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
    request.cookies = dict(spec.cookies)
    request.errback = spec.errback or None
    request.cb_kwargs = dict(spec.cb_kwargs)
    return request


@dataclass(frozen=True)
class Failure:
    """What an errback receives: the request that finally failed, and why.

    `kind` says why, as a `FailureKind` (a str: `failure.kind == "http"` works).
    """

    request: Request
    reason: str
    kind: FailureKind
    status: int = 0


def max_retries(spec: RequestSpec, default: int) -> int:
    """Retries allowed for a request: `meta["max_retries"]`, 0 with `meta["dont_retry"]`."""
    meta = spec.meta
    if not meta:
        return default
    if meta.get("dont_retry"):
        return 0
    value = meta.get("max_retries", default)
    return (
        value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default
    )
