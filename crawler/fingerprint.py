"""Canonical URLs and 64-bit request fingerprints; computed in parser processes."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_url(url: str) -> str:
    """Return `url` with lower-case scheme and host, no default port, no fragment, sorted query."""
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
    query = urlencode(sorted(pairs), errors="surrogateescape")
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def fingerprint(method: str, url: str, body: bytes = b"") -> int:
    """Return the 64-bit fingerprint of a request: method, canonical URL and body."""
    digest = hashlib.blake2b(digest_size=8)
    # Each field is length-prefixed, so no URL can pass for another URL plus a body.
    for part in (method.upper().encode(), canonical_url(url).encode(), body):
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return int.from_bytes(digest.digest(), "little") or 1
