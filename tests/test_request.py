"""request.py: URL checks, callback names, plain meta, and the wire form of a Request."""

from __future__ import annotations

import datetime
import functools
from typing import Any

import msgspec
import pytest

from crawler.api.request import Request, callback_name, check_plain, check_url, from_spec, to_spec
from crawler.api.spider import Spider
from crawler.wire.messages import RequestSpec


class Shop(Spider):
    name = "shop"

    def parse(self, response: Any) -> None:
        pass

    def parse_item(self, response: Any) -> None:
        pass

    @staticmethod
    def helper(response: Any) -> None:
        pass

    label = "not callable"


class Other:
    def parse_item(self, response: Any) -> None:
        pass


def parse_item(response: Any) -> None:
    """A module-level function that happens to share a spider method's name."""


# ---- check_url ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "https://example.com/a/b?c=d#e",
        "HTTP://EXAMPLE.COM/",
        "http://127.0.0.1:8080/x",
        "http://[::1]:8765/",
        "https://user:pw@example.com/",
        "http://例え.jp/パス",
        "http://example.com/a b",  # the downloader escapes the space, as a browser does
        "http://example.com:65535/",
    ],
)
def test_check_url_accepts_absolute_http_urls(url: str) -> None:
    check_url(url)
    assert Request(url).url == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("example.com/page", "missing scheme in request URL 'example.com/page': it must start"),
        ("/relative/path", "missing scheme in request URL '/relative/path'"),
        ("//example.com/x", "missing scheme in request URL '//example.com/x'"),
        ("localhost:8080", "missing scheme in request URL 'localhost:8080'"),
        ("example.com:80/x", "missing scheme in request URL 'example.com:80/x'"),
        (
            "ftp://example.com/f",
            "unsupported scheme 'ftp' in request URL 'ftp://example.com/f': "
            "only http and https can be fetched",
        ),
        ("file:///etc/passwd", "unsupported scheme 'file'"),
        ("javascript:void(0)", "unsupported scheme 'javascript'"),
        ("mailto:someone@example.com", "unsupported scheme 'mailto'"),
        ("data:text/plain,hi", "unsupported scheme 'data'"),
        (" http://example.com/", "has leading or trailing whitespace or control characters"),
        ("http://example.com/ ", "has leading or trailing whitespace or control characters"),
        ("http://example.com/\n", "has leading or trailing whitespace or control characters"),
        ("http://exam\tple.com/", "has leading or trailing whitespace or control characters"),
        ("http://example.com/\x00", "has leading or trailing whitespace or control characters"),
        ("http://example.com/\x7f", "has leading or trailing whitespace or control characters"),
        ("http://exa mple.com/", "has whitespace in its host"),
        (
            "http://example.com:99999/",
            "invalid port in request URL 'http://example.com:99999/': "
            "a port is a number 1 to 65535",
        ),
        ("http://example.com:abc/", "invalid port"),
        ("http://example.com:-1/", "invalid port"),
        ("http://example.com:0/", "invalid port"),
        ("http:///path", "missing host in request URL 'http:///path'"),
        ("http://:80/", "missing host"),
        ("http://user@/x", "missing host"),
        ("http:example.com", "missing host"),
        ("http://[::1/", "invalid request URL 'http://[::1/': Invalid IPv6 URL"),
        ("", "request URL is empty"),
    ],
)
def test_check_url_refuses(url: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        check_url(url)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError):
        Request(url)


def test_request_url_must_be_a_str() -> None:
    with pytest.raises(TypeError, match="Request url must be str, got bytes"):
        Request(b"http://example.com/")  # type: ignore[arg-type]


# ---- callback_name --------------------------------------------------------------------


def test_callback_name_of_spider_methods() -> None:
    spider = Shop()
    assert callback_name(spider, spider.parse_item, "parse") == "parse_item"
    assert callback_name(spider, "parse_item", "parse") == "parse_item"
    assert callback_name(spider, Shop.parse_item, "parse") == "parse_item"
    assert callback_name(spider, spider.helper, "parse") == "helper"
    assert callback_name(spider, None, "parse") == "parse"
    assert callback_name(spider, None, None) is None


def test_callback_name_of_a_decorated_method() -> None:
    def logged(function: Any) -> Any:
        @functools.wraps(function)
        def wrapper(self: Any, response: Any) -> Any:
            return function(self, response)

        return wrapper

    class Decorated(Spider):
        @logged
        def parse_page(self, response: Any) -> None:
            pass

    spider = Decorated()
    assert callback_name(spider, spider.parse_page, None) == "parse_page"


@pytest.mark.parametrize(
    ("callback", "message"),
    [
        (lambda response: None, "is not a method of spider Shop"),
        ("parse_missing", "callback 'parse_missing' is not a method of spider Shop"),
        ("label", "callback 'label' is not a method of spider Shop"),
        (Other().parse_item, "is bound to another object than the spider"),
        (Shop().parse_item, "is bound to another object than the spider"),  # another Shop
        (parse_item, "is not spider Shop's method 'parse_item' but another function"),
        (functools.partial(Shop.parse_item), "is not a method of spider Shop"),
        (print, "callback <built-in function print> is not a method of spider Shop"),
    ],
)
def test_callback_name_refuses(callback: Any, message: str) -> None:
    with pytest.raises(ValueError) as info:
        callback_name(Shop(), callback, "parse")
    assert message in str(info.value)


# ---- check_plain ----------------------------------------------------------------------


def test_check_plain_accepts_plain_data() -> None:
    check_plain(
        {
            "s": "x",
            "i": -(2**63),
            "big": 2**64 - 1,
            "f": 1.5,
            "b": True,
            "n": None,
            "bytes": b"\x00",
            "list": [1, [2, {"deep": ["x"]}]],
            "tuple": (1, 2),
            "empty": {},
        }
    )
    shared = [1, 2]
    check_plain({"a": shared, "b": shared})  # the same list twice is not a cycle


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"a": {1, 2}}, "meta['a'] holds a set, which is not plain data"),
        ({"a": [0, datetime.datetime(2024, 1, 1)]}, "meta['a'][1] holds a datetime"),
        ({"a": [{"b": object()}]}, "meta['a'][0]['b'] holds a object"),
        ({"a": [{1: "x"}]}, "meta['a'][0] has a key 1 of type int; keys must be str"),
        ({("t",): 1}, "meta has a key ('t',) of type tuple"),
        ({"f": len}, "meta['f'] holds a builtin_function_or_method"),
        ({"n": 2**64}, "meta['n'] holds an int too large for 64 bits"),
        ({"n": -(2**63) - 1}, "meta['n'] holds an int too large for 64 bits"),
        ({"b": bytearray(b"x")}, "meta['b'] holds a bytearray"),
    ],
)
def test_check_plain_refuses_with_a_path(meta: dict[Any, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        check_plain(meta)
    assert message in str(info.value)


def test_check_plain_refuses_cycles() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    with pytest.raises(ValueError, match=r"meta\['x'\]\[1\] contains itself"):
        check_plain({"x": loop})


def test_check_plain_path_prefix() -> None:
    with pytest.raises(ValueError, match=r"^cb_kwargs\['k'\] holds a set"):
        check_plain({"k": set()}, "cb_kwargs")


# ---- to_spec / from_spec --------------------------------------------------------------


def test_to_spec_and_back_through_msgpack() -> None:
    spider = Shop()
    request = Request(
        "http://example.com/item?id=3",
        callback=spider.parse_item,
        method="post",
        headers={"X-Token": "t"},
        body="a=1",
        meta={"page": 2, "tags": ["x"]},
        priority=-4,
        dont_filter=True,
    )
    spec = to_spec(spider, request, depth=3)
    assert spec == RequestSpec(
        url="http://example.com/item?id=3",
        method="POST",
        headers={"X-Token": "t"},
        body=b"a=1",
        callback="parse_item",
        meta={"page": 2, "tags": ["x"]},
        priority=-4,
        dont_filter=True,
        depth=3,
    )
    wire = msgspec.msgpack.decode(msgspec.msgpack.encode(spec), type=RequestSpec)
    assert wire == spec
    back = from_spec(wire)
    assert isinstance(back, Request)
    assert (back.url, back.method, back.headers, back.body) == (
        request.url,
        request.method,
        request.headers,
        request.body,
    )
    assert back.callback == "parse_item"
    assert (back.meta, back.priority, back.dont_filter) == (request.meta, -4, True)
    assert to_spec(spider, back, depth=3) == spec


def test_to_spec_defaults() -> None:
    spec = to_spec(Shop(), Request("http://example.com/"))
    assert spec == RequestSpec("http://example.com/", callback="parse")
    assert (spec.method, spec.body, spec.meta, spec.headers, spec.depth) == ("GET", b"", {}, {}, 0)


def test_to_spec_refuses_bad_meta_and_callback() -> None:
    spider = Shop()
    with pytest.raises(ValueError, match=r"meta\[.when.\] holds a date,"):
        to_spec(spider, Request("http://e.com/", meta={"when": datetime.date(2024, 1, 1)}))
    with pytest.raises(ValueError, match=r"cb_kwargs\[.when.\] holds a date,"):
        to_spec(spider, Request("http://e.com/", cb_kwargs={"when": datetime.date(2024, 1, 1)}))
    with pytest.raises(ValueError, match="is not a method of spider Shop"):
        to_spec(spider, Request("http://e.com/", callback=lambda r: None))


@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        ("url", "ftp://e.com/", "unsupported scheme 'ftp'"),
        ("headers", {"X-N": 1}, "headers must map str to str"),
        ("body", {"a": 1}, "body must be bytes or str, got dict"),
        ("priority", "high", "priority must be a 64-bit int, got 'high'"),
        ("priority", 2**63, "priority must be a 64-bit int"),
        ("method", "GET /x", "method must be a word like GET or POST"),
        ("meta", [1], "meta must be a dict, got list"),
        ("cb_kwargs", None, "cb_kwargs must be a dict, got NoneType"),
        ("dont_filter", "yes", "dont_filter must be True or False"),
    ],
)
def test_to_spec_checks_attributes_changed_after_creation(
    attribute: str, value: Any, message: str
) -> None:
    """Only what can cross a process boundary is sent; a ValueError names the problem."""
    request = Request("http://e.com/")
    setattr(request, attribute, value)
    with pytest.raises(ValueError) as info:
        to_spec(Shop(), request)
    assert message in str(info.value)


def test_request_repr_and_defaults() -> None:
    request = Request("http://e.com/", method="put", body=b"x")
    assert repr(request) == "<Request PUT http://e.com/>"
    assert request.meta == {} and request.headers == {}
    assert request.priority == 0 and request.dont_filter is False
    assert Request("http://e.com/", body=None).body == b""
