"""Which addresses a request may connect to; the resolver and connector downloaders use.

Link-time checks (`crawler.urls.scope`) only see IP literals.  A host name that resolves to a
private address, or an address reached some other way, is refused here, at connect time,
before any socket connects:

- `GuardedResolver` drops blocked addresses from each answer, and raises
  `PrivateAddressError` when none is left (names, localhost, legacy IPv4 forms);
- aiohttp's `TCPConnector` skips the resolver for IP literals (`_resolve_host`, aiohttp
  3.14), so `guarded_socket_factory` checks every address a socket is made for as well.

`guarded_connector` builds a `TCPConnector` with both.  aiohttp wraps the error
(`ClientConnectorError.os_error`); `private_error` finds it again.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from crawler.errors import PrivateAddressError
from crawler.urls.scope import IPNetwork, host_address, is_blocked, normalize_host

AddrInfo = tuple[Any, ...]  # (family, type, proto, canonname, sockaddr), as getaddrinfo
_LOCALHOST = ("127.0.0.1", "::1")  # RFC 6761: every *.localhost name is loopback


class GuardedResolver(AbstractResolver):
    """Resolves host names, with fixed answers from `downloader.resolve` first.

    With `blocked` networks, addresses in them are dropped from every answer; a host with
    none left raises `PrivateAddressError`.  `blocked=None` checks nothing.
    """

    def __init__(self, fixed: dict[str, str], blocked: Sequence[IPNetwork] | None = None) -> None:
        self.fixed = {name.lower().rstrip("."): address for name, address in fixed.items()}
        self.blocked = blocked
        self.inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = self._known(normalize_host(host))
        if addresses:
            results = [_numeric(host, address, port) for address in addresses]
        else:
            results = await self.inner.resolve(host, port, family)
        return self._allowed(results)

    def _known(self, name: str) -> tuple[str, ...]:
        """Addresses of `name` known without asking the system resolver, if any."""
        fixed = self.fixed.get(name)
        if fixed is not None:
            return (fixed,)
        if self.blocked is None:
            return ()
        if name == "localhost" or name.endswith(".localhost"):
            return _LOCALHOST
        literal = host_address(name)  # 0x7f.0.0.1 and friends, read as getaddrinfo would
        return (str(literal),) if literal is not None else ()

    def _allowed(self, results: list[ResolveResult]) -> list[ResolveResult]:
        if self.blocked is None:
            return results
        allowed = [r for r in results if not _is_blocked_text(r["host"], self.blocked)]
        if not allowed and results:
            raise PrivateAddressError(results[0]["host"])
        return allowed

    async def close(self) -> None:
        await self.inner.close()


def guarded_socket_factory(
    blocked: Sequence[IPNetwork],
) -> Callable[[AddrInfo], socket.socket]:
    """A `TCPConnector(socket_factory=...)` that refuses sockets to blocked addresses.

    It runs for every connection attempt, IP literals included, before the socket exists.
    """

    def make_socket(addr_info: AddrInfo) -> socket.socket:
        family, kind, proto, _, sockaddr = addr_info
        if _is_blocked_text(str(sockaddr[0]), blocked):
            raise PrivateAddressError(str(sockaddr[0]))
        return socket.socket(family=family, type=kind, proto=proto)

    return make_socket


def guarded_connector(
    fixed: dict[str, str], blocked: Sequence[IPNetwork] | None, **kwargs: Any
) -> aiohttp.TCPConnector:
    """A `TCPConnector` (`kwargs` passed on) that refuses `blocked` addresses (None: none)."""
    if blocked is not None:
        kwargs["socket_factory"] = guarded_socket_factory(blocked)
    return aiohttp.TCPConnector(resolver=GuardedResolver(fixed, blocked), **kwargs)


def private_error(exc: BaseException) -> str | None:
    """The failure reason if `exc` (or what it wraps) is a refused private address."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, PrivateAddressError):
            return current.reason
        seen.add(id(current))
        wrapped = getattr(current, "os_error", None)
        if isinstance(wrapped, BaseException):
            current = wrapped
        else:
            current = current.__cause__ or current.__context__
    return None


def _is_blocked_text(address: str, blocked: Sequence[IPNetwork]) -> bool:
    """Whether `address` is blocked; one that does not parse is refused too (fail closed)."""
    parsed = host_address(normalize_host(address))
    return parsed is None or is_blocked(parsed, blocked)


def _numeric(host: str, address: str, port: int) -> ResolveResult:
    return ResolveResult(
        hostname=host,
        host=address,
        port=port,
        family=socket.AF_INET6 if ":" in address else socket.AF_INET,
        proto=0,
        flags=socket.AI_NUMERICHOST,
    )
