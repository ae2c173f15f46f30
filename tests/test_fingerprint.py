"""fingerprint.py: canonical URLs and 64-bit request fingerprints."""

from __future__ import annotations

import hashlib
import random

import pytest

from crawler.urls.fingerprint import _canonical_parsed, canonical_url, fingerprint


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTP://Example.COM/Path", "http://example.com/Path"),  # the path keeps its case
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:443/a", "http://example.com:443/a"),
        ("https://example.com:80/a", "https://example.com:80/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("http://example.com/a#section", "http://example.com/a"),
        ("http://example.com/a?x=1#frag", "http://example.com/a?x=1"),
        ("http://example.com/?b=2&a=1", "http://example.com/?a=1&b=2"),
        ("http://example.com/?a=2&a=1", "http://example.com/?a=1&a=2"),
        ("http://example.com/?b=&a=1", "http://example.com/?a=1&b="),
        ("http://example.com", "http://example.com/"),
        ("http://example.com?q=1", "http://example.com/?q=1"),
        ("http://example.com/?", "http://example.com/"),
        ("http://[::1]:80/x", "http://[::1]/x"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ("http://User:Pw@Example.com:81/", "http://User:Pw@example.com:81/"),
        ("http://example.com/?q=a+b", "http://example.com/?q=a+b"),
        ("http://example.com/?q=a%20b", "http://example.com/?q=a+b"),
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


def test_sorted_query_makes_urls_equal() -> None:
    assert canonical_url("http://e.com/p?b=2&a=1") == canonical_url("http://e.com/p?a=1&b=2")


def test_blank_values_are_kept() -> None:
    assert canonical_url("http://e.com/?a=&b=1") != canonical_url("http://e.com/?b=1")


def test_bytes_that_are_not_utf8_stay_distinct() -> None:
    """Percent escapes of different bytes must not all become U+FFFD."""
    assert canonical_url("http://e.com/?a=%FF") == "http://e.com/?a=%FF"
    assert canonical_url("http://e.com/?a=%FF") != canonical_url("http://e.com/?a=%FE")
    assert fingerprint("GET", "http://e.com/?a=%FF") != fingerprint("GET", "http://e.com/?a=%FE")


def test_encoded_and_literal_plus_differ() -> None:
    assert canonical_url("http://e.com/?q=a%2Bb") != canonical_url("http://e.com/?q=a+b")


def test_fingerprint_is_a_nonzero_64_bit_int() -> None:
    for index in range(1000):
        fp = fingerprint("GET", f"http://example.com/page/{index}")
        assert isinstance(fp, int)
        assert 0 < fp < 2**64


def test_fingerprint_is_stable() -> None:
    """The same request gets the same fingerprint in every process and every run (a changed
    fingerprint would make a resumed run fetch its pages again)."""
    digest = hashlib.blake2b(digest_size=8)
    for part in (b"GET", b"http://example.com/", b""):
        digest.update(len(part).to_bytes(8, "little") + part)
    expected = int.from_bytes(digest.digest(), "little")
    assert fingerprint("GET", "HTTP://example.com") == expected == 0x555B1B8CFB5E81F4


def test_fingerprint_equal_for_equivalent_urls() -> None:
    base = fingerprint("GET", "http://example.com/a?a=1&b=2")
    for url in [
        "HTTP://EXAMPLE.com:80/a?b=2&a=1",
        "http://example.com/a?a=1&b=2#top",
        "http://Example.Com/a?b=2&a=1#x",
    ]:
        assert fingerprint("GET", url) == base, url
    assert fingerprint("get", "http://example.com/a?a=1&b=2") == base


def test_fingerprint_differs_by_url_method_and_body() -> None:
    url = "http://example.com/a"
    fps = {
        fingerprint("GET", url),
        fingerprint("POST", url),
        fingerprint("POST", url, b"x=1"),
        fingerprint("POST", url, b"x=2"),
        fingerprint("GET", "http://example.com/b"),
        fingerprint("GET", "https://example.com/a"),
        fingerprint("GET", "http://example.com:8080/a"),
        fingerprint("GET", "http://example.com/A"),
    }
    assert len(fps) == 8


def test_fingerprint_fields_cannot_run_into_each_other() -> None:
    """A URL with a space must not pass for another URL plus a body."""
    assert fingerprint("POST", "http://e.com/x", b"y") != fingerprint("POST", "http://e.com/x y")
    assert fingerprint("GET", "http://e.com/x", b"") != fingerprint("GET", "http://e.com/x", b" ")


_URL_PIECES = [
    "http://",
    "https://",
    "HTTP://",
    "example.com",
    "EXAMPLE.com",
    "a.b-c",
    ":",
    ":80",
    ":443",
    ":8080",
    ":0080",
    ":65535",
    ":65536",
    ":",
    "/",
    "/a",
    "/A",
    "?",
    "?a=1",
    "&b=2",
    "&a=0",
    "=",
    "#",
    "#f",
    ";jsessionid=1",
    ";x",
    "%2F",
    "%FF",
    "+",
    " ",
    "\t",
    "\n",
    "@",
    "u:p@",
    "[::1]",
    "ä",
    "..",
    "//",
    "sid=3",
    "&sid=4",
    "~",
]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("strip", [frozenset(), frozenset({"sid", "jsessionid"})])
def test_the_fast_path_canonicalises_as_urlsplit_does(seed: int, strip: frozenset[str]) -> None:
    rng = random.Random(seed)
    for _ in range(20_000):
        url = rng.choice(["http://", "https://", "HTTPS://"]) + rng.choice(
            ["example.com", "Example.COM", "127.0.0.1", "a-b.c"]
        )
        url += "".join(rng.choice(_URL_PIECES) for _ in range(rng.randint(0, 6)))
        try:
            expected: object = _canonical_parsed(url, strip)
        except ValueError as exc:
            expected = type(exc)
        try:
            got: object = canonical_url(url, strip)
        except ValueError as exc:
            got = type(exc)
        assert got == expected, url
