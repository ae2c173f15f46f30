"""The fast `Joiner` always agrees with `urllib.parse.urljoin`."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from urllib.parse import urljoin

import pytest

from crawler.urls.join import Joiner

BASES = [
    "http://example.com/a/b/c.html",
    "https://example.com/a/b/",
    "http://example.com",
    "http://example.com/",
    "http://example.com:8080/x/y?q=1#f",
    "http://127.0.0.1:39491/catalogue/page-3.html",
    "https://Example.COM/A/B.html",
    "HTTP://example.com/a/b",
    "http://example.com/a//b/c",
    "http://example.com/a/./b/../c",
    "http://example.com/a;p/b;q?x#y",
    "http://user:pw@example.com/a/b",
    "http://[::1]:80/a/b",
    "http://example.com/a b/c",
    "ftp://example.com/a/b",
    "http://example.com/a/b?",
]
PIECES = [
    "",
    "a",
    "b.html",
    "/",
    "//",
    ".",
    "..",
    "./",
    "../",
    "?",
    "?q=1",
    "#",
    "#frag",
    ";p",
    ":",
    "x:y",
    "http://",
    "https://",
    "HTTP://",
    "mailto:",
    "javascript:",
    "%2e",
    "%20",
    " ",
    "\t",
    "\\",
    "@",
    "~",
    "other.org",
    "[",
    "]",
    "&",
    "=",
    "+",
    "!",
    "'",
    "(",
    "Ä",
]
LINKS = [
    "page-2.html",
    "/product/12.html",
    "../x.html",
    "./x",
    "x/./y",
    "x/../y",
    "x//y",
    "/a/../b",
    "//cdn.example.com/x.js",
    "http://example.com/z",
    "https://example.com/z",
    "http://other.org/p?q=1#f",
    "?page=2",
    "#top",
    "",
    "mailto:a@b.c",
    "javascript:void(0)",
    "x.html?",
    "x.html#",
    "/x?#",
    "x;y",
    "/p:q",
    "HTTP://example.com/",
    "http:///x",
    "http://example.com:8080",
    "http://user@example.com/",
    "data:text/html,hi",
    ".",
    "..",
    "..x",
    "x.",
    "/.well-known/a",
    "a/b/",
    "%7Euser/",
    " x",
    "x ",
    "x\ty",
    "\\x",
]


def _outcome(join: Callable[[str, str], str], base: str, link: str) -> object:
    try:
        return join(base, link)
    except ValueError as exc:  # "Invalid IPv6 URL": the same error either way
        return type(exc)


def _agree(base: str, link: str) -> bool:
    return _outcome(lambda b, u: Joiner(b).join(u), base, link) == _outcome(urljoin, base, link)


def test_known_links_join_as_urllib_does() -> None:
    for base, link in itertools.product(BASES, LINKS):
        assert _agree(base, link), (base, link)


@pytest.mark.parametrize("seed", range(4))
def test_random_links_join_as_urllib_does(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(20_000):
        base = rng.choice(BASES)
        link = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 6)))
        assert _agree(base, link), (base, link)


def test_plain_links_take_the_fast_path() -> None:
    joiner = Joiner("http://example.com/a/b.html")
    assert joiner.origin == "http://example.com"
    assert joiner.directory == "/a/"
    assert joiner.join("c.html") == "http://example.com/a/c.html"
    assert joiner.join("/c.html") == "http://example.com/c.html"
