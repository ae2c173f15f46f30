"""Response.follow / follow_all: which links of a page become requests."""

from __future__ import annotations

import pytest

from crawler import Response
from crawler.api.request import Request

PAGE = b"""<html><body>
<a href="/a">A</a>
<a name="top">an anchor, no link</a>
<a href=" /b
">B, with whitespace</a>
<a href="">this page</a>
<a href="mailto:x@example.com">mail</a>
<a href="javascript:void(0)">script</a>
<img src="/c.png">
<div class="box">not a link</div>
</body></html>"""


def response() -> Response:
    url = "http://example.com/dir/page.html"
    return Response(url, 200, [("Content-Type", "text/html")], PAGE, Request(url))


def test_follow_all_takes_hrefs_and_skips_elements_without_one() -> None:
    urls = [request.url for request in response().follow_all(css="a")]
    assert urls == [
        "http://example.com/a",
        "http://example.com/b",
        "http://example.com/dir/page.html",  # href="" is the page itself, as in a browser
    ]


def test_follow_all_takes_src_and_attribute_selections() -> None:
    page = response()
    assert [r.url for r in page.follow_all(css="img")] == ["http://example.com/c.png"]
    hrefs = [r.url for r in page.follow_all(css="a::attr(href)")]
    assert hrefs[:2] == ["http://example.com/a", "http://example.com/b"]


def test_follow_all_skips_an_element_that_is_no_link() -> None:
    assert response().follow_all(css="div.box") == []


def test_follow_refuses_an_element_without_href() -> None:
    page = response()
    with pytest.raises(ValueError, match=r"cannot follow <a>: it has no href or src"):
        page.follow(page.css("a[name=top]")[0])
    assert page.follow(page.css("a")[0]).url == "http://example.com/a"
