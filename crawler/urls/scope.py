"""Crawl scope: which links a crawl follows, and trap guards; used by parsers and the scheduler.

A `Scope` is built once per process from the settings and the spider.  `check()` runs for
every link of every page, so it is ordered from cheapest to dearest and skips what the
settings leave off.  It returns None (follow) or the reason counted under `filtered`:

    offsite             host outside spider.allowed_domains (subdomains included)
    max_depth           deeper than limits.max_depth
    url_length          longer than scope.max_url_length
    private_address     a public page links to a private IP literal or localhost
    deny / allow        scope.deny / scope.allow, and the spider's `deny` / `allow`
    query_params        more than scope.max_query_params query parameters
    repeated_segments   a path segment (or run of segments) repeated back to back more than
                        scope.max_repeated_segments times: /a/b/a/b/a/b (Heritrix's
                        PathologicalPathDecideRule)

Start requests are not checked: the user asked for them.  Host names that resolve to a
private address cannot be judged here; the downloader refuses them at connect time
(`crawler.downloader.netguard`).
"""

from __future__ import annotations

import ipaddress
import re
import reprlib
import socket
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from crawler.errors import SpiderError
from crawler.settings.schema import Settings
from crawler.urls.fingerprint import plain_parts, strip_set

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# What inet_aton (and browsers) read as IPv4: 2130706433, 0x7f.0.0.1, 0177.0.0.1, 127.1, 0.
_LEGACY_IPV4 = re.compile(r"[0-9][0-9a-fx.]*\Z")
# URLs without user info, IPv6 brackets or odd characters in the host: 6x faster than urlsplit.
_LOOPBACK = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))


class Scope:
    """The link filters of one crawl, compiled once."""

    def __init__(self, settings: Settings, spider: Any) -> None:
        scope = settings.scope
        where = f"spider {getattr(spider, 'name', '')!r} ({type(spider).__name__})"
        self.max_depth = settings.limits.max_depth
        self.max_url_length = scope.max_url_length
        self.max_query_params = scope.max_query_params
        self.max_repeats = scope.max_repeated_segments
        self.allowed = tuple(
            d.lower().strip(".") for d in _strings(spider, "allowed_domains", where) if d
        )
        self.deny = _compile([*scope.deny, *_strings(spider, "deny", where)], where, "deny")
        self.allow = _compile([*scope.allow, *_strings(spider, "allow", where)], where, "allow")
        self.networks = parse_networks(scope.private_networks)
        self.allow_private = scope.allow_private
        self.strip = strip_set(scope.strip_params)

    def __repr__(self) -> str:
        return (
            f"<Scope allowed={len(self.allowed)} allow={len(self.allow)} deny={len(self.deny)} "
            f"private_networks={len(self.networks)}>"
        )

    def check(
        self, url: str, depth: int, parent_url: str | None, parent_private: bool = False
    ) -> str | None:
        """None if `url` (found on `parent_url`, at `depth`) is followed, else the reason.

        `parent_private` is the parent request's `private` flag: a private parent may link
        to private addresses.  A start request (`parent_url` None) is always followed.
        """
        if parent_url is None:
            return None
        if self.max_depth and depth > self.max_depth:
            return "max_depth"
        if len(url) > self.max_url_length:
            return "url_length"
        host, path, query = split_url(url)
        if self.allowed and not self.is_on_site(host):
            return "offsite"
        if not parent_private and self.is_private_host(host):
            return "private_address"
        if self.deny and _matches(self.deny, url):
            return "deny"
        if self.allow and not _matches(self.allow, url):
            return "allow"
        if self.max_query_params and _too_many_params(query, self.max_query_params):
            return "query_params"
        if self.max_repeats and has_repeated_segments(path, self.max_repeats):
            return "repeated_segments"
        return None

    def is_start_private(self, url: str) -> bool:
        """Whether a start request for `url` may connect to private addresses."""
        return self.allow_private or self.is_private_host(urlsplit(url).hostname or "")

    def is_on_site(self, host: str) -> bool:
        """Whether `host` (lower case) is one of allowed_domains or a subdomain of one."""
        return any(host == domain or host.endswith("." + domain) for domain in self.allowed)

    def is_private_host(self, host: str) -> bool:
        """Whether `host` is an IP literal in scope.private_networks, or a localhost name."""
        if not host:
            return False
        if host.isascii() and not (
            host[0].isdigit() or ":" in host or "%" in host or "localhost" in host
        ):
            return False  # an ordinary host name: the fast path
        host = normalize_host(host)
        if host == "localhost" or host.endswith(".localhost"):
            return any(is_blocked(address, self.networks) for address in _LOOPBACK)
        address = host_address(host)
        return address is not None and is_blocked(address, self.networks)


def split_url(url: str) -> tuple[str, str, str]:
    """(host in lower case, path, query) of an absolute URL; a regex for the plain ones."""
    plain = plain_parts(url)
    if plain is not None:
        _scheme, host, _port, path, query = plain
        return host.lower(), path or "", query or ""
    parts = urlsplit(url)
    return parts.hostname or "", parts.path, parts.query


def normalize_host(host: str) -> str:
    """`host` as a browser reads it: percent-decoded, NFKC (①②⑦ is 127), no trailing dot."""
    if "%" in host and ":" not in host:  # an IPv6 zone id ("fe80::1%25eth0") keeps its %
        host = unquote(host)
    if not host.isascii():
        host = unicodedata.normalize("NFKC", host)
    return host.lower().rstrip(".")


def host_address(host: str) -> IPAddress | None:
    """The IP address `host` stands for, legacy IPv4 forms included, or None for a name."""
    if ":" in host:
        try:
            return ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return None
    if not _LEGACY_IPV4.match(host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def is_blocked(address: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    """Whether `address` (or the IPv4 address an IPv6 one maps) lies in `networks`."""
    if any(address in network for network in networks):
        return True
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return mapped is not None and any(mapped in network for network in networks)


def parse_networks(names: Iterable[str]) -> tuple[IPNetwork, ...]:
    """scope.private_networks as ipaddress networks ("10.1.2.3/8" is read as 10.0.0.0/8)."""
    return tuple(ipaddress.ip_network(name, strict=False) for name in names)


def has_repeated_segments(path: str, limit: int) -> bool:
    """Whether a run of path segments occurs more than `limit` times back to back.

    With limit 2, /a/b/a/b/ passes and /a/b/a/b/a/b/ (or /x/x/x) does not.
    """
    if path.count("/") <= limit:
        return False
    segments = path.split("/")[1:]
    if segments and not segments[-1]:
        segments.pop()
    count = len(segments)
    if count <= limit or len(set(segments)) == count:
        return False
    for period in range(1, count // (limit + 1) + 1):
        run = 0
        for index in range(count - period):
            if segments[index] == segments[index + period]:
                run += 1
                if run >= period * limit:  # limit + 1 copies of a `period`-long run
                    return True
            else:
                run = 0
    return False


def _too_many_params(query: str, limit: int) -> bool:
    if not query or query.count("&") < limit:
        return False
    return sum(1 for pair in query.split("&") if pair) > limit


def _matches(patterns: tuple[re.Pattern[str], ...], url: str) -> bool:
    return any(pattern.search(url) for pattern in patterns)


def _strings(spider: Any, attribute: str, where: str) -> list[str]:
    """A spider attribute that must be a list of str (missing or None: empty)."""
    value = getattr(spider, attribute, None)
    if value is None:
        return []
    if not isinstance(value, list | tuple | set | frozenset):
        raise SpiderError(
            f"{where}: {attribute} must be a list of strings, not a {type(value).__name__} "
            f"({reprlib.repr(value)})"
        )
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise SpiderError(
                f"{where}: {attribute}[{index}] must be a string, got "
                f"{type(item).__name__} {item!r}"
            )
    return list(value)


def _compile(patterns: list[str], where: str, attribute: str) -> tuple[re.Pattern[str], ...]:
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:  # settings were checked on load: this one is the spider's
            raise SpiderError(
                f"{where}: {attribute} pattern {pattern!r} is not a valid regular "
                f"expression ({exc})"
            ) from exc
    return tuple(compiled)
