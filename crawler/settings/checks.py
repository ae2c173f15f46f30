"""Checks of single setting values beyond their type and bounds.

Each returns what is wrong with the value, or None; `schema.setting(check=...)` attaches
one to a field. A list setting's check sees each element, a table setting's each
(key, value) pair.
"""

from __future__ import annotations

import ipaddress
import re


def regex_problem(pattern: str) -> str | None:
    """A pattern that does not compile."""
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"not a valid regular expression ({exc})"
    return None


def network_problem(network: str) -> str | None:
    """Not an IP network such as 10.0.0.0/8 (host bits may be set)."""
    try:
        ipaddress.ip_network(network, strict=False)
    except ValueError as exc:
        return f"not an IP network like '10.0.0.0/8' ({exc})"
    return None


def status_problem(status: int) -> str | None:
    """Not an HTTP status code."""
    return None if 100 <= status <= 599 else "not an HTTP status (100 to 599)"


def address_problem(entry: tuple[str, str]) -> str | None:
    """A host name mapped to something other than an IP address."""
    try:
        ipaddress.ip_address(entry[1])
    except ValueError:
        return 'not an IP address; map a host name to an address, e.g. "127.0.0.1"'
    return None


def header_problem(entry: tuple[str, str]) -> str | None:
    """A header name that is not an HTTP token, or a value that could split the header."""
    name, value = entry
    if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
        return "not a valid header name"
    if any(c in value for c in "\r\n\0"):
        return "a header value cannot hold CR, LF or NUL"
    return None


def proxy_problem(url: str) -> str | None:
    """Anything but "" (no proxy) or an http(s):// proxy URL."""
    if url and not re.fullmatch(r"https?://[^\s/]+/?", url):
        return "a proxy is an http:// URL like 'http://user:pass@proxy.example:3128'"
    return None
