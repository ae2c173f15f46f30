"""Canonical URLs and 64-bit request fingerprints; computed in parser processes."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
_NOTHING: frozenset[str] = frozenset()
# An http(s) URL that urlsplit would take apart the same way: a plain host, a port in
# range, and no path parameters, white space or control characters anywhere before the
# fragment.
_PLAIN_URL = re.compile(
    r"(?i:(https?))://([A-Za-z0-9.\-]+)"
    r"(?::(0*(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])))?"
    r"(/[^?#;\s\x00-\x1f\x7f]*)?"
    r"(?:\?([^#\s\x00-\x1f\x7f]*))?"
    r"(?:#[^\t\r\n]*)?\Z"
)


def strip_set(names: Iterable[str]) -> frozenset[str]:
    """scope.strip_params in the form `canonical_url` takes: lower-case names."""
    return frozenset(name.lower() for name in names)


def plain_parts(url: str) -> tuple[str, str, str | None, str | None, str | None] | None:
    """(scheme, host, port, path, query) of a plain http(s) URL, as urlsplit would split
    it (scheme and host as written); None for any other URL."""
    match = _PLAIN_URL.match(url)
    return None if match is None else match.groups()  # type: ignore[return-value]


def canonical_url(url: str, strip: frozenset[str] = _NOTHING) -> str:
    """Return `url` with lower-case scheme and host, no default port, no fragment, sorted query.

    Query parameters named in `strip` (lower case, see `strip_set`) are dropped, and so are
    path parameters like `;jsessionid=...`: session ids that would make one page many URLs.
    """
    parts = plain_parts(url)
    if parts is None:
        return _canonical_parsed(url, strip)
    # A plain URL: split by the regex, with what urlsplit would give (see the tests).
    scheme, host, port, path, query = parts
    scheme, host = scheme.lower(), host.lower()
    if port is not None and int(port) != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{int(port)}"
    if query:
        query = _canonical_query(query, strip)
        if query:
            return f"{scheme}://{host}{path or '/'}?{query}"
    return f"{scheme}://{host}{path or '/'}"


def _canonical_parsed(url: str, strip: frozenset[str]) -> str:
    """`canonical_url` for any URL, through urlsplit."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port
    netloc = host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    if parts.username is not None:
        userinfo = parts.username + (f":{parts.password}" if parts.password is not None else "")
        netloc = f"{userinfo}@{netloc}"
    path = parts.path
    if strip and ";" in path:
        path = _strip_path_params(path, strip)
    query = _canonical_query(parts.query, strip)
    return urlunsplit((scheme, netloc, path or "/", query, ""))


def _canonical_query(query: str, strip: frozenset[str]) -> str:
    """The query's pairs sorted (and those named in `strip` dropped), re-encoded."""
    # surrogateescape: bytes that are not UTF-8 (`%FF`) survive the round trip instead of
    # all turning into U+FFFD, which would make different URLs equal.
    pairs = parse_qsl(query, keep_blank_values=True, errors="surrogateescape")
    if strip:
        pairs = [pair for pair in pairs if pair[0].lower() not in strip]
    return urlencode(sorted(pairs), errors="surrogateescape")


def _strip_path_params(path: str, strip: frozenset[str]) -> str:
    """Drop `;name=value` path parameters whose name is in `strip` from every segment."""
    segments = []
    for segment in path.split("/"):
        if ";" in segment:
            name, *params = segment.split(";")
            kept = [p for p in params if p.partition("=")[0].lower() not in strip]
            segment = ";".join([name, *kept])
        segments.append(segment)
    return "/".join(segments)


def fingerprint(method: str, url: str, body: bytes = b"", strip: frozenset[str] = _NOTHING) -> int:
    """Return the 64-bit fingerprint of a request: method, canonical URL and body.

    `strip`: query and path parameters left out of the URL (see `canonical_url`).
    """
    # Each field is length-prefixed, so no URL can pass for another URL plus a body.
    method_bytes = method.upper().encode()
    url_bytes = canonical_url(url, strip).encode()
    data = b"".join(
        (
            len(method_bytes).to_bytes(8, "little"),
            method_bytes,
            len(url_bytes).to_bytes(8, "little"),
            url_bytes,
            len(body).to_bytes(8, "little"),
            body,
        )
    )
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little") or 1
