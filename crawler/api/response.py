"""The `Response` a spider callback receives; built in parser processes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from multidict import CIMultiDict, CIMultiDictProxy
from w3lib.encoding import (
    html_body_declared_encoding,
    http_content_type_encoding,
    read_bom,
    resolve_encoding,
)

from crawler.api.forms import FormData, submission
from crawler.api.request import Callback, Request
from crawler.errors import NoLinkError, NotTextError
from crawler.urls.join import Joiner

if TYPE_CHECKING:
    from parsel import Selector, SelectorList

_selector_class: Any = None  # parsel.Selector, imported on first use: the scheduler loads
# spiders (and so this module) but never parses, and parsel with lxml is a tenth of a second.


class Response:
    """A fetched page: status, headers, body, decoded text and selectors."""

    def __init__(
        self,
        url: str,
        status: int,
        headers: Iterable[tuple[str, str]],
        body: bytes,
        request: Request,
    ) -> None:
        self.url = url
        self.status = status
        # Built on first use: most callbacks never look at the headers.
        self._headers: CIMultiDictProxy[str] | None = None
        self._raw_headers: list[tuple[str, str]] | tuple[tuple[str, str], ...]
        if isinstance(headers, list | tuple):
            self._raw_headers = headers
        else:
            self._raw_headers = list(headers)
        self.body = body
        self.request = request
        self._text: str | None = None
        self._encoding: str | None = None
        self._selector: Selector | None = None
        self._lexbor: Any = None
        self._joiner: Joiner | None = None
        self._not_text: str | None = None  # why the body is not text; "" if it is
        # What went wrong finding the charset (e.g. a declared one that does not decode the
        # body); set when the body is decoded (by .text, .encoding or a selector), else None.
        self.encoding_warning: str | None = None
        self._utf8 = False  # the text is the body's strict UTF-8 decoding

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        """The response headers (case-insensitive, repeated ones kept)."""
        if self._headers is None:
            self._headers = CIMultiDictProxy(CIMultiDict(self._raw_headers))
        return self._headers

    @property
    def content_type(self) -> str | None:
        """The Content-Type header, if any."""
        if self._headers is not None:
            return self._headers.get("Content-Type")
        for name, value in self._raw_headers:
            if len(name) == 12 and name.lower() == "content-type":
                return value
        return None

    @property
    def meta(self) -> dict[str, Any]:
        """The `meta` of the request this page answers."""
        return self.request.meta

    @property
    def cb_kwargs(self) -> dict[str, Any]:
        """The `cb_kwargs` of the request this page answers (its callback's keyword arguments)."""
        return self.request.cb_kwargs

    @property
    def is_text(self) -> bool:
        """Whether the body is text: not an image, PDF, octet-stream or binary-looking body."""
        if self._not_text is None:
            self._not_text = non_text_reason(self.content_type, self.body) or ""
        return not self._not_text

    @property
    def encoding(self) -> str:
        """The charset the body was decoded with: BOM, header, <meta>, then detection."""
        self._decode()
        assert self._encoding is not None
        return self._encoding

    @property
    def text(self) -> str:
        """The body decoded to str; `NotTextError` if the body is not text."""
        self._decode()
        assert self._text is not None
        return self._text

    def _decode(self) -> None:
        if self._text is None:
            self._require_text()
            decoded = decode_body(self.body, self.content_type)
            self._text, self._encoding = decoded.text, decoded.encoding
            self.encoding_warning, self._utf8 = decoded.warning, decoded.utf8

    def _require_text(self) -> None:
        if not self.is_text:
            raise NotTextError(
                f"response from {self.url} is not text ({self._not_text}, "
                f"{len(self.body)} bytes); use response.body"
            )

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    @property
    def selector(self) -> Selector:
        """A parsel `Selector` over the page, built once; `NotTextError` if it is not text."""
        if self._selector is None:
            global _selector_class
            if _selector_class is None:
                from parsel import Selector

                _selector_class = Selector
            self._require_text()
            if self._text is None and self._is_declared_utf8():
                utf8 = True  # ASCII declared as UTF-8: no need to decode at all
            else:
                self._decode()
                utf8 = self._utf8
            kind = _selector_type(self.content_type)
            if utf8 and self.body:
                # lxml parses the bytes itself: no str to build and encode back (~10%).
                self._selector = _selector_class(
                    body=self.body, encoding="utf-8", base_url=self.url, type=kind
                )
            else:
                self._selector = _selector_class(text=self.text, base_url=self.url, type=kind)
        return self._selector

    def _is_declared_utf8(self) -> bool:
        """Whether the header or <meta> says UTF-8 and the body is ASCII (so valid UTF-8)."""
        body = self.body
        if not body.isascii():
            return False  # _decode() checks it, once, and keeps the text
        content_type = self.content_type or ""
        declared = http_content_type_encoding(content_type) if "charset" in content_type else None
        declared = declared or html_body_declared_encoding(body)
        return declared == "utf-8"

    @property
    def lexbor(self) -> Any:
        """The fast selector path: a selectolax `LexborHTMLParser` over the body, built once.

        `response.lexbor.css_first("h1").text()`; about twice as fast as `css()`.  Needs
        selectolax (`pip install 'crawler[fast]'`).
        """
        if self._lexbor is None:
            self._require_text()
            try:
                from selectolax.lexbor import LexborHTMLParser
            except ImportError as exc:
                raise ImportError(
                    "response.lexbor needs selectolax: pip install 'crawler[fast]'"
                ) from exc
            self._lexbor = LexborHTMLParser(self.body)
        return self._lexbor

    def css(self, query: str) -> SelectorList[Selector]:
        """Select with a CSS query: `response.css("h1::text").get()`."""
        return self.selector.css(query)

    def xpath(self, query: str, **namespaces: Any) -> SelectorList[Selector]:
        """Select with an XPath query."""
        return self.selector.xpath(query, **namespaces)

    def urljoin(self, url: str) -> str:
        """Resolve `url` against this page's URL (as `urllib.parse.urljoin` does)."""
        if self._joiner is None or self._joiner.base != self.url:
            self._joiner = Joiner(self.url)
        return self._joiner.join(url)

    def follow(
        self,
        url: str | Selector,
        callback: Callback | str | None = None,
        meta: dict[str, Any] | None = None,
        priority: int = 0,
        **kwargs: Any,
    ) -> Request:
        """A `Request` for `url` (a string or an `<a>` selector) resolved against this page."""
        href = _href(url)
        return Request(
            self.urljoin(href), callback=callback, meta=meta, priority=priority, **kwargs
        )

    def follow_all(
        self,
        urls: Iterable[str | Selector] | None = None,
        callback: Callback | str | None = None,
        css: str | None = None,
        xpath: str | None = None,
        **kwargs: Any,
    ) -> list[Request]:
        """Requests for every http(s) URL in `urls`, or every link matched by `css` / `xpath`.

        Links to other schemes (mailto:, javascript:, tel:, ...) are skipped, and so are
        matched elements without an href (or src) attribute, such as `<a name="top">`.
        """
        targets: Iterable[str | Selector]
        if urls is not None:
            targets = urls
        elif css is not None:
            targets = self.css(css)
        elif xpath is not None:
            targets = self.xpath(xpath)
        else:
            raise ValueError("follow_all() needs urls, css or xpath")
        requests = []
        for target in targets:
            try:
                url = self.urljoin(_href(target))
            except NoLinkError:
                continue
            if url.startswith(("http://", "https://")):  # skip mailto:, javascript:, tel:...
                requests.append(Request(url, callback=callback, **kwargs))
        return requests

    def form_request(
        self,
        formdata: FormData | None = None,
        css: str | None = None,
        index: int = 0,
        callback: Callback | str | None = None,
        click: bool = True,
        **kwargs: Any,
    ) -> Request:
        """A `Request` that submits a form of this page, as a browser would.

        The form is the `index`-th one `css` matches (by default, of all `<form>`s).  Its
        fields keep their values, hidden ones (tokens) included, unless `formdata` sets
        them (None leaves one out); its first named submit button is sent as clicked
        unless `click=False`.  Method and action come from the form (Scrapy's
        `FormRequest.from_response`).  Other arguments go to `Request`.
        """
        # lxml.html's form elements (an HTML page's) know their fields; XML ones do not.
        forms = [form for form in self.css(css or "form") if hasattr(form.root, "form_values")]
        if not forms:
            raise ValueError(f"no <form> matches {css or 'form'!r} on {self.url}")
        if not -len(forms) <= index < len(forms):
            raise ValueError(f"no form {index} on {self.url}: it has {len(forms)}")
        method, action, fields = submission(forms[index].root, formdata, click)
        return Request(action, callback=callback, method=method, formdata=fields, **kwargs)

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.url}>"


_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


def _selector_type(content_type: str | None) -> str | None:
    """parsel's document type for a Content-Type, as Scrapy picks its response class.

    HTML and XML are parsed as such; anything else is left to parsel to recognise (JSON,
    XML or HTML), which costs a JSON parse attempt of the body.
    """
    media_type = _media_type(content_type)
    if media_type in _HTML_TYPES:
        return "html"
    if media_type.endswith(("/xml", "+xml")):
        return "xml"
    return None


def _href(url: str | Selector) -> str:
    """The link of a string or a selector, without the whitespace browsers ignore."""
    return _raw_href(url).strip(" \t\n\r\f")


def _raw_href(url: str | Selector) -> str:
    if isinstance(url, str):
        return url
    root = url.root
    if root is not None and not isinstance(root, str):  # an element: its href or src
        attributes = url.attrib
        for name in ("href", "src"):
            value = attributes.get(name)
            if value is not None:
                return str(value)
        tag = getattr(root, "tag", "element")
        raise NoLinkError(f"cannot follow <{tag}>: it has no href or src attribute")
    value = url.get()  # an attribute or text selection: its string
    if not isinstance(value, str):
        raise ValueError(f"cannot follow {url!r}: no href")
    return value


# --- Text or not -------------------------------------------------------------------------

_SNIFF_SIZE = 1024  # bytes looked at for NUL bytes, as the WHATWG binary sniffing does
_MAGIC_NUMBERS = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"%PDF-", "PDF"),
    (b"PK\x03\x04", "ZIP"),
    (b"\x1f\x8b\x08", "gzip"),
    (b"RIFF", "RIFF"),
)
_MAGIC_PREFIXES = tuple(magic for magic, _ in _MAGIC_NUMBERS)
_BINARY_MAJOR_TYPES = frozenset({"image", "audio", "video", "font", "model"})
_BINARY_TYPES = frozenset(
    {
        "application/octet-stream",
        "application/pdf",
        "application/zip",
        "application/gzip",
        "application/x-gzip",
        "application/x-tar",
        "application/x-7z-compressed",
        "application/x-rar-compressed",
        "application/vnd.rar",
        "application/x-bzip2",
        "application/zstd",
        "application/wasm",
        "application/x-protobuf",
        "application/msword",
        "application/vnd.ms-excel",
        "application/x-shockwave-flash",
        "application/x-msdownload",
    }
)
_WIDE_CHARSETS = ("utf-16", "utf-32")


def non_text_reason(content_type: str | None, body: bytes) -> str | None:
    """Why `body` is not text, e.g. "image/png" or "PNG data labelled text/html"; or None.

    Not text: a binary media type (images, audio, video, fonts, PDF, archives,
    octet-stream), or a body that starts with a binary format's magic number or has a
    NUL byte in its first 1024 bytes (unless a BOM or the charset says UTF-16/32).
    """
    media_type = _media_type(content_type)
    if media_type in _BINARY_TYPES or media_type.partition("/")[0] in _BINARY_MAJOR_TYPES:
        return media_type
    label = f" labelled {media_type}" if media_type else ""
    if body.startswith(_MAGIC_PREFIXES):
        kind = next(kind for magic, kind in _MAGIC_NUMBERS if body.startswith(magic))
        return f"{kind} data{label}"
    if body.find(b"\x00", 0, _SNIFF_SIZE) >= 0 and not _is_wide_text(content_type, body):
        return f"binary data{label}"
    return None


def _media_type(content_type: str | None) -> str:
    return (content_type or "").partition(";")[0].strip().lower()


def _is_wide_text(content_type: str | None, body: bytes) -> bool:
    """Whether NUL bytes are expected: UTF-16 or UTF-32 by BOM or by declared charset."""
    if read_bom(body)[0] is not None:
        return True
    charset = http_content_type_encoding(content_type)
    return charset is not None and charset.startswith(_WIDE_CHARSETS)


# --- Decoding ----------------------------------------------------------------------------

# The encodings of the WHATWG Encoding Standard, as Python codecs.  A charset outside
# these (unicode_escape, utf-7, EBCDIC, non-text codecs such as base64) is not used.
_WHATWG_LABELS = (
    "utf-8 ibm866 iso-8859-2 iso-8859-3 iso-8859-4 iso-8859-5 iso-8859-6 iso-8859-7 iso-8859-8 "
    "iso-8859-10 iso-8859-13 iso-8859-14 iso-8859-15 iso-8859-16 koi8-r koi8-u macintosh "
    "mac-cyrillic windows-874 windows-1250 windows-1251 windows-1252 windows-1253 windows-1254 "
    "windows-1255 windows-1256 windows-1257 windows-1258 gbk gb18030 big5 euc-jp iso-2022-jp "
    "shift_jis euc-kr utf-16 utf-16be utf-16le"
)
_SAFE_CODECS = frozenset(
    codec for label in _WHATWG_LABELS.split() if (codec := resolve_encoding(label)) is not None
)
_BOM_CODECS = {  # codecs that read the BOM and leave it out of the text
    "utf-8": "utf-8-sig",
    "utf-16-le": "utf-16",
    "utf-16-be": "utf-16",
    "utf-32-le": "utf-32",
    "utf-32-be": "utf-32",
}
_CHARSET_LABEL_RE = re.compile(r"charset\s*=\s*[\"']?([^\s;,\"']*)", re.IGNORECASE)
_NON_ASCII_RE = re.compile(rb"[\x80-\xff]")
_DETECT_SIZE = 64 * 1024  # bytes of the body the detector looks at
# Any even number of bytes decodes as UTF-16: without a BOM, browsers never guess it.
_DETECTABLE = sorted(codec for codec in _SAFE_CODECS if not codec.startswith(_WIDE_CHARSETS))
_MOSTLY = 10  # a declared charset that decodes 10 characters for each error is kept


class Decoded(NamedTuple):
    """A body decoded to text, with the charset used and what went wrong finding it."""

    text: str
    encoding: str
    warning: str | None = None
    utf8: bool = False  # `text` is the strict UTF-8 decoding of the whole body (no BOM)


def decode_body(body: bytes, content_type: str | None) -> Decoded:
    """Decode `body` as browsers do; never raises.

    Precedence: a BOM; the Content-Type charset; a `<meta>` charset (or XML declaration)
    in the first 4 KiB; detection (valid UTF-8, then charset-normalizer); UTF-8 with
    replacement characters.  A declared charset that does not decode the body strictly
    is passed over, unless it decodes nearly all of it (then its few errors become
    U+FFFD).  Conflicts and fallbacks are described in `Decoded.warning`.
    """
    header, notes = _header_charset(content_type)
    bom = read_bom(body)[0]
    if bom is not None:
        if header is not None and header != bom and not bom.startswith(header):
            notes.append(f"BOM says {bom}, overriding declared charset {header}")
        return Decoded(body.decode(_BOM_CODECS.get(bom, bom), "replace"), bom, _warn(notes))
    failed: list[str] = []
    if header is not None:
        text = _strict(body, header)
        if text is not None:
            return Decoded(text, header, _warn(notes), header == "utf-8")
        failed.append(header)
    meta = _meta_charset(body)
    if meta is not None and meta != header:
        text = _strict(body, meta)
        if text is not None:
            if failed:
                notes.append(f"declared charset {header} does not decode the body; used <meta>")
            return Decoded(text, meta, _warn(notes), meta == "utf-8")
        failed.append(meta)
    return _fallback(body, failed, notes)


def _fallback(body: bytes, failed: list[str], notes: list[str]) -> Decoded:
    """No declared charset decodes the body: detect one, or keep one with replacements."""
    if failed:
        notes.append(f"declared charset {failed[0]} does not decode the body")
    if "utf-8" not in failed:
        text = _strict(body, "utf-8")
        if text is not None:
            if failed:
                notes.append("it is valid UTF-8")
            return Decoded(text, "utf-8", _warn(notes), True)
    for charset in failed:
        text = body.decode(charset, "replace")
        if _mostly_decodes(text):
            notes.append("decoded with replacement characters")
            return Decoded(text, charset, _warn(notes))
    detected = _detect(body)
    if detected is not None:
        notes.append(
            f"detected {detected}" if failed else f"no charset declared; detected {detected}"
        )
        return Decoded(body.decode(detected, "replace"), detected, _warn(notes))
    charset = failed[0] if failed else "utf-8"
    notes.append(f"decoded as {charset} with replacement characters")
    return Decoded(body.decode(charset, "replace"), charset, _warn(notes))


def _warn(notes: list[str]) -> str | None:
    return "; ".join(notes) if notes else None


def _header_charset(content_type: str | None) -> tuple[str | None, list[str]]:
    """The usable charset of a Content-Type header, and a note if it names another one."""
    if not content_type or "charset" not in content_type.lower():
        return None, []
    charset = http_content_type_encoding(content_type)
    if charset in _SAFE_CODECS:
        return charset, []
    match = _CHARSET_LABEL_RE.search(content_type)
    label = match.group(1) if match else content_type
    return None, [f"unknown charset {label!r} in Content-Type"]


def _meta_charset(body: bytes) -> str | None:
    """The usable charset a `<meta>` tag or XML declaration gives, if any."""
    charset = html_body_declared_encoding(body)
    if charset is not None and charset.startswith(_WIDE_CHARSETS):
        return "utf-8"  # what HTML says for a <meta> that claims UTF-16: it cannot be
    return charset if charset in _SAFE_CODECS else None


def _strict(body: bytes, charset: str) -> str | None:
    try:
        return body.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return None


def _mostly_decodes(text: str) -> bool:
    """Whether a decoding with replacement characters is right but for a few bad bytes."""
    errors = text.count("\ufffd")
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    return errors * (_MOSTLY + 1) <= non_ascii


def _detect(body: bytes) -> str | None:
    """The charset charset-normalizer finds around the first non-ASCII bytes, or None."""
    from charset_normalizer import from_bytes  # imported on first use: it is rarely needed

    found = _NON_ASCII_RE.search(body)
    if found is None:
        return None
    start = max(0, found.start() - 1024)  # all ASCII before it: a character boundary
    end = start + _DETECT_SIZE
    newline = body.rfind(b"\n", found.start(), end)  # never inside a multi-byte character
    if end < len(body) and newline > found.start():
        end = newline
    best = from_bytes(body[start:end], cp_isolation=_DETECTABLE).best()
    if best is None:
        return None
    charset = resolve_encoding(best.encoding)
    return charset if charset in _DETECTABLE else None
