"""The `Response` a spider callback receives; built in parser processes."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import urljoin

from multidict import CIMultiDict, CIMultiDictProxy
from parsel import Selector, SelectorList
from w3lib.encoding import (
    html_body_declared_encoding,
    html_to_unicode,
    http_content_type_encoding,
    resolve_encoding,
)

from crawler.request import Callback, Request


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
        self.headers: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict(headers))
        self.body = body
        self.request = request
        self._text: str | None = None
        self._encoding: str | None = None
        self._selector: Selector | None = None
        self._lexbor: Any = None

    @property
    def meta(self) -> dict[str, Any]:
        """The `meta` of the request this page answers."""
        return self.request.meta

    @property
    def encoding(self) -> str:
        """The charset the body was decoded with (BOM, header, <meta>, then detection)."""
        self._decode()
        assert self._encoding is not None
        return self._encoding

    @property
    def text(self) -> str:
        """The body decoded to str."""
        self._decode()
        assert self._text is not None
        return self._text

    def _decode(self) -> None:
        if self._text is None:
            encoding, text = html_to_unicode(self.headers.get("Content-Type"), self.body)
            self._encoding, self._text = encoding, text

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    @property
    def selector(self) -> Selector:
        """A parsel `Selector` over the page, built once."""
        if self._selector is None:
            if self._text is None and self._is_declared_utf8():
                # lxml parses the bytes itself: no str to build and encode back (~10%).
                self._selector = Selector(body=self.body, encoding="utf-8", base_url=self.url)
            else:
                self._selector = Selector(text=self.text, base_url=self.url)
        return self._selector

    def _is_declared_utf8(self) -> bool:
        """Whether the header or <meta> says UTF-8 (no BOM) and the body is valid UTF-8."""
        body = self.body
        if body.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
            return False
        content_type = self.headers.get("Content-Type", "")
        declared = http_content_type_encoding(content_type) if "charset" in content_type else None
        declared = declared or html_body_declared_encoding(body)
        if declared is None or resolve_encoding(declared) != "utf-8":
            return False
        if body.isascii():
            return True
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True

    @property
    def lexbor(self) -> Any:
        """The fast selector path: a selectolax `LexborHTMLParser` over the body, built once.

        `response.lexbor.css_first("h1").text()`; about twice as fast as `css()`.  Needs
        selectolax (`pip install 'crawler[fast]'`).
        """
        if self._lexbor is None:
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
        """Resolve `url` against this page's URL."""
        return urljoin(self.url, url)

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

        Links to other schemes (mailto:, javascript:, tel:, ...) are skipped.
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
            url = self.urljoin(_href(target))
            if url.startswith(("http://", "https://")):  # skip mailto:, javascript:, tel:...
                requests.append(Request(url, callback=callback, **kwargs))
        return requests

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.url}>"


def _href(url: str | Selector) -> str:
    """The link of a string or a selector, without the whitespace browsers ignore."""
    return _raw_href(url).strip(" \t\n\r\f")


def _raw_href(url: str | Selector) -> str:
    if isinstance(url, str):
        return url
    if url.root is not None and not isinstance(url.root, str):
        href = url.attrib.get("href") or url.attrib.get("src")
        if href is not None:
            return str(href)
    value = url.get()
    if not isinstance(value, str):
        raise ValueError(f"cannot follow {url!r}: no href")
    return value
