"""Response text decoding (H11) and non-text bodies (H12)."""

from __future__ import annotations

import random

import aiohttp
import pytest

from crawler.api.request import Request
from crawler.api.response import Response, decode_body, non_text_reason
from crawler.downloader.body import read_body
from crawler.errors import NotTextError, PageError
from tests.hostile import (
    BINARY_CASES,
    CHARSET_CASES,
    JAPANESE,
    RUSSIAN,
    HostileServer,
    html,
)

URL = "http://example.com/page"


def response(body: bytes, content_type: str | None = "text/html", url: str = URL) -> Response:
    headers = [("Content-Type", content_type)] if content_type is not None else []
    return Response(url, 200, headers, body, Request(url))


# --- Precedence: BOM, header, <meta>, detection, utf-8 with replacement --------------------


@pytest.mark.parametrize("case", sorted(CHARSET_CASES))
def test_every_charset_case_gives_its_golden_text(case: str) -> None:
    page = CHARSET_CASES[case]
    text = response(page.body, page.content_type).text
    assert page.golden in text


@pytest.mark.parametrize("case", sorted(CHARSET_CASES))
async def test_charset_cases_over_http(
    server: HostileServer, session: aiohttp.ClientSession, case: str
) -> None:
    url = server.url(f"/charset/{case}")
    async with session.get(url) as fetched:
        body = await read_body(fetched, 1 << 20, 1 << 20)
        headers = list(fetched.headers.items())
    page = Response(url, 200, headers, body, Request(url))
    assert CHARSET_CASES[case].golden in page.text


def test_header_utf8_with_a_cp1251_body_is_detected_and_warned() -> None:
    page = response(html(RUSSIAN).encode("cp1251"), "text/html; charset=utf-8")
    assert RUSSIAN in page.text
    assert page.encoding == "cp1251"
    assert page.encoding_warning == (
        "declared charset utf-8 does not decode the body; detected cp1251"
    )


def test_header_wins_over_a_conflicting_meta_when_it_decodes() -> None:
    body = html("Grüße café", '<meta charset="windows-1252">').encode()
    page = response(body, "text/html; charset=utf-8")
    assert "Grüße café" in page.text
    assert page.encoding == "utf-8"
    assert page.encoding_warning is None
    body = html(RUSSIAN, '<meta charset="utf-8">').encode("cp1251")
    page = response(body, "text/html; charset=windows-1251")
    assert (page.encoding, page.encoding_warning) == ("cp1251", None)


def test_meta_is_used_when_the_header_does_not_decode() -> None:
    body = html(RUSSIAN, '<meta http-equiv="Content-Type" content="text/html; charset=koi8-r">')
    page = response(body.encode("koi8-r"), "text/html; charset=utf-8")
    assert RUSSIAN in page.text
    assert page.encoding == "koi8-r"
    assert page.encoding_warning is not None
    assert "declared charset utf-8 does not decode the body" in page.encoding_warning


def test_meta_alone_is_used() -> None:
    page = response(html(RUSSIAN, '<meta charset="windows-1251">').encode("cp1251"), "text/html")
    assert RUSSIAN in page.text
    assert (page.encoding, page.encoding_warning) == ("cp1251", None)


def test_bom_wins_over_a_contradicting_header() -> None:
    page = response(b"\xef\xbb\xbf" + html(RUSSIAN).encode(), "text/html; charset=iso-8859-1")
    assert page.text.startswith("<html>")  # the BOM is not part of the text
    assert RUSSIAN in page.text
    assert page.encoding == "utf-8"
    assert page.encoding_warning == "BOM says utf-8, overriding declared charset cp1252"


def test_utf16_with_a_bom_is_text_despite_its_nul_bytes() -> None:
    body = "\ufeff".encode("utf-16-be") + html(RUSSIAN).encode("utf-16-be")
    page = response(body, "text/html")
    assert page.is_text
    assert RUSSIAN in page.text
    assert page.css("p::text").get() == RUSSIAN


@pytest.mark.parametrize("charset", ["x-nonsense", "utf-7", "unicode_escape", "base64", "zlib"])
def test_unknown_or_unsafe_charset_falls_back(charset: str) -> None:
    page = response(html(RUSSIAN).encode(), f"text/html; charset={charset}")
    assert RUSSIAN in page.text
    assert page.encoding == "utf-8"
    assert page.encoding_warning == f"unknown charset '{charset}' in Content-Type"


def test_unknown_charset_with_a_legacy_body_is_detected() -> None:
    page = response(html(RUSSIAN * 2).encode("cp1251"), "text/html; charset=x-nonsense")
    assert RUSSIAN in page.text
    assert page.encoding == "cp1251"


def test_invalid_utf8_bytes_become_replacement_characters() -> None:
    body = html(RUSSIAN).encode().replace(b"</p>", b"\xff\xfe\xc3</p>")
    page = response(body, "text/html; charset=utf-8")
    assert RUSSIAN + "\ufffd\ufffd\ufffd</p>" in page.text
    assert page.encoding == "utf-8"
    assert page.encoding_warning == (
        "declared charset utf-8 does not decode the body; decoded with replacement characters"
    )


def test_undeclared_shift_jis_is_detected() -> None:
    page = response(html(JAPANESE).encode("shift_jis"), "text/html")
    assert JAPANESE in page.text
    assert page.encoding in ("cp932", "shift_jis")
    assert page.encoding_warning == f"no charset declared; detected {page.encoding}"


def test_undeclared_utf8_is_utf8_without_warning() -> None:
    page = response(html(RUSSIAN).encode(), None)
    assert RUSSIAN in page.text
    assert (page.encoding, page.encoding_warning) == ("utf-8", None)


def test_latin1_label_means_windows_1252() -> None:
    page = response(b"<p>\x93quoted\x94 caf\xe9</p>", "text/html; charset=ISO-8859-1")
    assert page.text == "<p>\u201cquoted\u201d café</p>"
    assert page.encoding == "cp1252"


def test_empty_body_is_empty_text() -> None:
    page = response(b"", "text/html; charset=utf-8")
    assert page.text == ""
    assert page.is_text
    assert page.css("p").getall() == []


def test_decoding_never_raises() -> None:
    rng = random.Random(1234)
    content_types = [
        None,
        "text/html",
        "text/html; charset=utf-8",
        "text/html; charset=shift_jis",
        "text/html; charset=utf-16",
        "text/plain; charset=",
        'text/html; charset="',
        "text/html; charset=iso-2022-jp",
    ]
    pieces = [b"<meta charset=utf-16>", b"\xef\xbb\xbf", b"\xff\xfe", b"<p>", b"\x1b$B", b"\xe3"]
    for _ in range(300):
        body = b"".join(
            rng.choice(pieces) if rng.random() < 0.3 else rng.randbytes(rng.randint(0, 40))
            for _ in range(rng.randint(0, 8))
        )
        decoded = decode_body(body, rng.choice(content_types))
        assert isinstance(decoded.text, str)


def test_encoding_warning_is_set_when_the_text_is_decoded() -> None:
    page = response(html(RUSSIAN).encode("cp1251"), "text/html; charset=utf-8")
    assert page.encoding_warning is None  # reading it costs nothing: nothing decoded yet
    assert page.css("p::text").get() == RUSSIAN
    assert page.encoding_warning is not None


def test_text_is_decoded_once() -> None:
    page = response(html(RUSSIAN).encode(), "text/html; charset=utf-8")
    assert page.text is page.text
    assert page.css("p::text").get() == RUSSIAN


def test_declared_utf8_ascii_page_is_parsed_from_bytes_without_decoding() -> None:
    page = response(b"<html><body><h1>Hi</h1></body></html>", "text/html; charset=utf-8")
    assert page.css("h1::text").get() == "Hi"
    assert page._text is None  # the fast path: lxml parsed the bytes


def test_legacy_page_selectors_see_the_decoded_text() -> None:
    page = response(html(RUSSIAN).encode("cp1251"), "text/html; charset=utf-8")
    assert page.css("p::text").get() == RUSSIAN
    assert page.xpath("//p/text()").get() == RUSSIAN


# --- Non-text bodies (H12) ------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(BINARY_CASES))
def test_binary_bodies_are_not_text(case: str) -> None:
    binary = BINARY_CASES[case]
    page = response(binary.body, binary.content_type)
    assert not page.is_text
    assert page.body == binary.body
    for attribute in ("text", "selector", "encoding"):
        with pytest.raises(NotTextError, match=r"; use response\.body$"):
            getattr(page, attribute)
    with pytest.raises(NotTextError):
        page.css("p")
    with pytest.raises(NotTextError):
        page.xpath("//p")


def test_not_text_message_names_url_type_and_size() -> None:
    binary = BINARY_CASES["png"]
    page = response(binary.body, "text/html")
    with pytest.raises(NotTextError) as caught:
        _ = page.text
    assert str(caught.value) == (
        f"response from {URL} is not text (PNG data labelled text/html, "
        f"{len(binary.body)} bytes); use response.body"
    )
    assert isinstance(caught.value, PageError)


@pytest.mark.parametrize(
    ("content_type", "body", "reason"),
    [
        ("image/png", b"anything", "image/png"),
        ("application/pdf", b"%PDF-1.4", "application/pdf"),
        ("application/octet-stream; x=y", b"<html>", "application/octet-stream"),
        ("text/html", b"%PDF-1.4\n", "PDF data labelled text/html"),
        ("text/html", b"\xff\xd8\xff\xe0JFIF", "JPEG data labelled text/html"),
        ("text/html", b"GIF89a...", "GIF data labelled text/html"),
        ("text/html", b"PK\x03\x04zip", "ZIP data labelled text/html"),
        (None, b"abc\x00def", "binary data"),
        ("text/plain", b"x" * 1023 + b"\x00", "binary data labelled text/plain"),
        ("text/plain", b"x" * 1024 + b"\x00", None),  # past the sniffed bytes
        ("text/html", b"<html>", None),
        ("application/json", b'{"a": 1}', None),
        ("application/xhtml+xml", b"<html/>", None),
        ("text/plain; charset=utf-16le", "hi".encode("utf-16-le"), None),
        (None, b"", None),
    ],
)
def test_non_text_reason(content_type: str | None, body: bytes, reason: str | None) -> None:
    assert non_text_reason(content_type, body) == reason


def test_json_still_works_for_json_bodies() -> None:
    page = response(b'{"items": [1, 2]}', "application/json")
    assert page.is_text
    assert page.json() == {"items": [1, 2]}
    octet = response(b'{"items": [1, 2]}', "application/octet-stream")
    assert not octet.is_text
    assert octet.json() == {"items": [1, 2]}


@pytest.mark.parametrize("case", sorted(BINARY_CASES))
async def test_binary_cases_over_http(
    server: HostileServer, session: aiohttp.ClientSession, case: str
) -> None:
    url = server.url(f"/binary/{case}")
    async with session.get(url) as fetched:
        body = await read_body(fetched, 1 << 20, 1 << 20)
        headers = list(fetched.headers.items())
    page = Response(url, 200, headers, body, Request(url))
    assert page.body == BINARY_CASES[case].body
    assert not page.is_text
