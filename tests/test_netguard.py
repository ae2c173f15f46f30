"""netguard.py: private addresses refused at connect time, by a real aiohttp client session.

Servers listen on 127.0.0.1 (public in these tests) and 127.0.0.2 (blocked).  An audit
hook records every socket.connect of this process, so the tests prove that nothing reached
the blocked server, and that nothing left 127.0.0.0/8.  No real DNS name is resolved: names
are `.test` names mapped with `fixed`, or localhost names, answered without DNS.
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from crawler.downloader.netguard import (
    GuardedResolver,
    PrivateAddressError,
    guarded_connector,
    private_error,
)
from crawler.urls.scope import parse_networks

BLOCKED = parse_networks(["127.0.0.2/32"])
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
_connects: list[Any] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.connect":
        _connects.append(args[1])


sys.addaudithook(_audit)  # hooks cannot be removed; it only appends to a list


def _hosts() -> list[str]:
    return [address[0] for address in _connects if isinstance(address, tuple)]


@pytest.fixture(autouse=True)
def only_loopback() -> Iterator[None]:
    """Every TCP connect of the test went to 127.0.0.0/8 (the hard rule for tests)."""
    _connects.clear()
    yield
    for host in _hosts():
        assert ipaddress.ip_address(host) in LOOPBACK, f"connected to {host}"


@asynccontextmanager
async def serve(host: str) -> AsyncIterator[tuple[int, list[str]]]:
    """An aiohttp server on `host`:<free port>; yields the port and the paths it served."""
    hits: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    try:
        yield runner.addresses[0][1], hits
    finally:
        await runner.cleanup()


async def fetch(connector: aiohttp.BaseConnector, url: str) -> str:
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(url) as response,
    ):
        return await response.text()


async def refused(connector: aiohttp.BaseConnector, url: str) -> BaseException:
    """Fetch `url`, which must fail; return the error."""
    with pytest.raises(aiohttp.ClientError) as raised:
        await fetch(connector, url)
    return raised.value


REASON = "private address refused: 127.0.0.2 (scope.private_networks)"


async def test_name_resolving_to_a_blocked_address_is_refused() -> None:
    async with serve("127.0.0.1") as (public, public_hits), serve("127.0.0.2") as (port, hits):
        fixed = {"internal.test": "127.0.0.2", "shop.test": "127.0.0.1"}
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(fixed, BLOCKED))
        error = await refused(connector, f"http://internal.test:{port}/secret")
        assert private_error(error) == REASON
        assert isinstance(error, aiohttp.ClientConnectorError)
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(fixed, BLOCKED))
        assert await fetch(connector, f"http://shop.test:{public}/page") == "ok"
    assert hits == [] and public_hits == ["/page"]
    assert _hosts() == ["127.0.0.1"]  # the audit hook sees connects: none to 127.0.0.2


def test_aiohttp_skips_the_resolver_for_ip_literals() -> None:
    """Why the socket factory exists: a resolver alone never sees http://127.0.0.2/."""
    from aiohttp.helpers import is_ip_address

    assert is_ip_address("127.0.0.2") and is_ip_address("::ffff:7f00:2")
    assert not is_ip_address("0x7f.0.0.2")  # this one does reach the resolver


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.2", "127.0.0.2"),
        ("[::ffff:127.0.0.2]", "::ffff:7f00:2"),
        ("0x7f.0.0.2", "127.0.0.2"),
        ("internal.test", "127.0.0.2"),
    ],
)
async def test_guarded_connector_refuses_literals_and_names(host: str, address: str) -> None:
    async with serve("127.0.0.2") as (port, hits):
        connector = guarded_connector({"internal.test": "127.0.0.2"}, BLOCKED)
        error = await refused(connector, f"http://{host}:{port}/")
    assert private_error(error) == REASON.replace("127.0.0.2", address)
    assert hits == [] and _hosts() == []


@pytest.mark.parametrize("host", ["2130706434", "0177.0.0.2", "127.2"])
async def test_legacy_numeric_literals_never_connect(host: str) -> None:
    """aiohttp refuses these itself ("not a canonical IPv4 address")."""
    async with serve("127.0.0.2") as (port, hits):
        await refused(guarded_connector({}, BLOCKED), f"http://{host}:{port}/")
    assert hits == [] and _hosts() == []


async def test_allowed_addresses_still_work() -> None:
    async with serve("127.0.0.1") as (port, hits):
        connector = guarded_connector({"shop.test": "127.0.0.1"}, BLOCKED)
        assert await fetch(connector, f"http://shop.test:{port}/a") == "ok"
        assert await fetch(guarded_connector({}, BLOCKED), f"http://127.0.0.1:{port}/b") == "ok"
    assert hits == ["/a", "/b"]


async def test_no_blocked_networks_checks_nothing() -> None:
    """The session for requests with private=True: blocked=None."""
    async with serve("127.0.0.2") as (port, hits):
        connector = guarded_connector({"internal.test": "127.0.0.2"}, None)
        assert await fetch(connector, f"http://internal.test:{port}/x") == "ok"
        assert await fetch(guarded_connector({}, None), f"http://127.0.0.2:{port}/y") == "ok"
    assert hits == ["/x", "/y"]


async def test_localhost_names_are_loopback_without_dns() -> None:
    loopback = parse_networks(["127.0.0.0/8", "::1/128"])
    for host in ("localhost", "api.localhost", "LOCALHOST."):
        error = await refused(guarded_connector({}, loopback), f"http://{host}:9/")
        assert (private_error(error) or "").startswith("private address refused: 127.0.0.1")
    assert _hosts() == []


async def test_resolver_drops_blocked_addresses_from_an_answer() -> None:
    resolver = GuardedResolver({}, parse_networks(["::1/128"]))
    try:
        answer = await resolver.resolve("localhost", 80)
    finally:
        await resolver.close()
    assert [result["host"] for result in answer] == ["127.0.0.1"]


async def test_fixed_answers_without_blocked_networks() -> None:
    resolver = GuardedResolver({"Shop.Test": "::1"})
    try:
        [answer] = await resolver.resolve("shop.test", 8080)
    finally:
        await resolver.close()
    assert answer["host"] == "::1" and answer["port"] == 8080


def test_private_error_ignores_other_failures() -> None:
    assert private_error(ConnectionRefusedError(111, "refused")) is None
    assert private_error(ValueError("x")) is None
    wrapped = RuntimeError("outer")
    wrapped.__cause__ = PrivateAddressError("10.0.0.1")
    assert private_error(wrapped) == "private address refused: 10.0.0.1 (scope.private_networks)"


async def test_refused_ports_are_not_private_errors() -> None:
    async with serve("127.0.0.1") as (port, _):
        pass  # the server is gone: its port refuses connections
    error = await refused(guarded_connector({}, BLOCKED), f"http://127.0.0.1:{port}/")
    assert private_error(error) is None
