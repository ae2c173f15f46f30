"""Canonical URLs and 64-bit request fingerprints; computed in parser processes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
_NOTHING: frozenset[str] = frozenset()


def strip_set(names: Iterable[str]) -> frozenset[str]:
    """scope.strip_params in the form `canonical_url` takes: lower-case names."""
    return frozenset(name.lower() for name in names)


def canonical_url(url: str, strip: frozenset[str] = _NOTHING) -> str:
    """Return `url` with lower-case scheme and host, no default port, no fragment, sorted query.

    Query parameters named in `strip` (lower case, see `strip_set`) are dropped, and so are
    path parameters like `;jsessionid=...`: session ids that would make one page many URLs.
    """
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
    # surrogateescape: bytes that are not UTF-8 (`%FF`) survive the round trip instead of
    # all turning into U+FFFD, which would make different URLs equal.
    pairs = parse_qsl(parts.query, keep_blank_values=True, errors="surrogateescape")
    path = parts.path
    if strip:
        pairs = [pair for pair in pairs if pair[0].lower() not in strip]
        if ";" in path:
            path = _strip_path_params(path, strip)
    query = urlencode(sorted(pairs), errors="surrogateescape")
    return urlunsplit((scheme, netloc, path or "/", query, ""))


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
    digest = hashlib.blake2b(digest_size=8)
    # Each field is length-prefixed, so no URL can pass for another URL plus a body.
    for part in (method.upper().encode(), canonical_url(url, strip).encode(), body):
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return int.from_bytes(digest.digest(), "little") or 1
