"""Request bodies for forms and JSON, and the submission of a page's HTML form.

`Request(url, formdata=...)`, `Request(url, json=...)` and `response.form_request()`
(Scrapy's `FormRequest`, `JsonRequest` and `FormRequest.from_response`).  The form's
fields are read by lxml.html's own form support, on the tree parsel already built.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

FORM_TYPE = "application/x-www-form-urlencoded"
JSON_TYPE = "application/json"
JSON_ACCEPT = "application/json, text/javascript, */*; q=0.01"  # what Scrapy sends

FormData = Mapping[str, str | list[str] | None] | Iterable[tuple[str, str]]


def form_pairs(formdata: FormData) -> list[tuple[str, str]]:
    """(name, value) pairs of `formdata`: a mapping (a list value repeats the field) or pairs."""
    if not isinstance(formdata, Mapping):
        return [(str(name), str(value)) for name, value in formdata]
    pairs: list[tuple[str, str]] = []
    for name, value in formdata.items():
        values = value if isinstance(value, list | tuple) else [value]
        pairs.extend((str(name), str(item)) for item in values if item is not None)
    return pairs


def encode_body(
    method: str, url: str, headers: dict[str, str], formdata: FormData | None, data: Any
) -> tuple[str, bytes]:
    """The URL and body of a request with `formdata` or JSON `data`; sets its Content-Type.

    Form fields go in the body (urlencoded), or replace the query string for a GET or
    HEAD, as a browser does.  JSON is encoded with sorted keys, so that equal objects make
    equal bodies (and requests that deduplicate).
    """
    names = {name.lower() for name in headers}
    if formdata is not None:
        encoded = urlencode(form_pairs(formdata))
        if method in ("GET", "HEAD"):
            return urlunsplit(urlsplit(url)._replace(query=encoded, fragment="")), b""
        if "content-type" not in names:
            headers["Content-Type"] = FORM_TYPE
        return url, encoded.encode()
    if "content-type" not in names:
        headers["Content-Type"] = JSON_TYPE
    if "accept" not in names:
        headers["Accept"] = JSON_ACCEPT
    return url, json.dumps(data, sort_keys=True, ensure_ascii=False).encode()


def submission(
    form: Any, formdata: FormData | None, click: bool
) -> tuple[str, str, list[tuple[str, str]]]:
    """The method, action URL and fields a browser would send for an lxml.html `form`.

    The fields keep their values (hidden ones included) unless `formdata` names them: a
    value replaces them, None leaves the field out.  With `click`, the form's first named
    submit button is sent as if clicked.
    """
    pairs = form_pairs(formdata) if formdata is not None else []
    given = set(formdata) if isinstance(formdata, Mapping) else {name for name, _ in pairs}
    fields = [(name, value) for name, value in form.form_values() if name not in given]
    if click:
        button = _first_submit(form)
        if button is not None and button[0] not in given:
            fields.append(button)
    fields.extend(pairs)
    method = (form.method or "GET").upper()
    action = form.action or form.base_url or ""
    return ("POST" if method == "POST" else "GET"), action, fields


def _first_submit(form: Any) -> tuple[str, str] | None:
    for element in form.iter("input", "button"):
        kind = (element.get("type") or ("submit" if element.tag == "button" else "text")).lower()
        if kind in ("submit", "image") and element.get("name"):
            return element.get("name"), element.get("value") or ""
    return None
