"""A misbehaving HTTP server on 127.0.0.1, for tests of what a crawler meets in the wild.

    with serve_hostile() as server:
        url = server.url("/bomb/gzip")
        ...  # fetch it
        entry = server.wait_finished("/bomb/gzip")  # or: await server.finished(...)
        assert entry["bytes_sent"] < 64 * MIB

Endpoints (FAULTS.md section 3.7):

- `/ok`: a small UTF-8 HTML page, `PAGE`.
- `/encoded/{coding}`: `PAGE` with Content-Encoding gzip, x-gzip, deflate, deflate-raw (raw
  deflate labelled `deflate`), br, zstd, nested (`gzip, gzip`) or identity; `unknown`
  (Content-Encoding `foo`) and `corrupt` (`gzip` on bytes that are not) must fail.
- `/bomb/{gzip|deflate|br|zstd|nested|concat}`: decompression bombs (`BOMBS`): 1 GiB of
  zeros in about 1 MB (gzip, deflate) or 32 KB (zstd); 128 MiB in 203 bytes (br); `gzip, gzip`
  of the gzip bomb; and `PAGE` followed by 200,000 empty gzip members.
- `/huge?chunked=0`: Content-Length 1 GiB; `/huge?chunked=1`: chunked zeros.  Both send
  zeros until the client disconnects.
- `/truncated`: Content-Length 1000, 500 bytes, then a clean close.
- `/reset/{before_headers|after_headers|mid_body}`: a TCP reset (SO_LINGER 1, 0).
- `/stall/headers`, `/stall/body`: silence before the headers, or after 10 body bytes.
- `/slowloris?interval=1`: one body byte per `interval` seconds, forever.
- `/charset/{case}`: `CHARSET_CASES`, pages with wrong, conflicting or missing charsets.
- `/binary/{case}`: `BINARY_CASES`: PNG and PDF labelled text/html, NUL bytes, ...

Every request appends a dict to `server.log` when it arrives and updates it as it goes:
`path`, `query`, `bytes_sent` (body bytes handed to the socket), `client_disconnected`,
`finished`.  The aiohttp endpoints and the raw ones (`/truncated`, `/reset/...`, which
aiohttp cannot produce) listen on two ports; `url()` picks the right one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import socket
import struct
import threading
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import brotli
import zstandard
from aiohttp import web

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

PAGE = (
    "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Hostile</title></head>"
    "<body><h1>ok</h1><p>Grüße, 世界</p><a href='/ok'>again</a></body></html>"
).encode()

_ZEROS = bytes(64 * KIB)
_RAW_PATHS = ("/truncated", "/reset/")
_FOREVER = 3600.0

Entry = dict[str, Any]


# --- Bombs -------------------------------------------------------------------------------


@functools.cache
def _deflate_zeros_block() -> bytes:
    """Raw deflate of 1 MiB of zeros, ending on a full flush so copies can be chained."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(bytes(MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)


def _deflate_zeros(size: int) -> bytes:
    """A raw deflate stream of `size` zeros (a multiple of 1 MiB), built without them."""
    return _deflate_zeros_block() * (size // MIB) + b"\x03\x00"  # + an empty final block


@functools.cache
def _zeros_crc32(size: int) -> int:
    crc = 0
    for _ in range(size // MIB):
        crc = zlib.crc32(_ZEROS * 16, crc)
    return crc


@functools.cache
def gzip_bomb(size: int = GIB) -> bytes:
    """A valid gzip member of `size` zeros: about 1 KB per MiB."""
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", _zeros_crc32(size), size & 0xFFFFFFFF)
    return header + _deflate_zeros(size) + trailer


@functools.cache
def deflate_bomb(size: int = GIB) -> bytes:
    """A valid zlib stream of `size` zeros."""
    adler32 = (size % 65521) << 16 | 1
    return b"\x78\xda" + _deflate_zeros(size) + struct.pack(">I", adler32)


@functools.cache
def zstd_bomb(size: int = GIB, content_size: int | None = None) -> bytes:
    """A zstd frame of `size` zeros (a multiple of 128 KiB) in RLE blocks: 4 bytes each.

    `content_size` puts a (possibly false) Frame_Content_Size in the header.
    """
    block = 128 * KIB
    if content_size is None:
        header = b"\x28\xb5\x2f\xfd" + bytes([0x00, 7 << 3])  # 128 KiB window
    else:
        header = b"\x28\xb5\x2f\xfd" + bytes([0xC0, 7 << 3]) + struct.pack("<Q", content_size)
    count = size // block
    rle = (block << 3 | 1 << 1).to_bytes(3, "little") + b"\x00"
    last = (block << 3 | 1 << 1 | 1).to_bytes(3, "little") + b"\x00"
    return header + rle * (count - 1) + last


@functools.cache
def brotli_bomb(size: int = 128 * MIB) -> bytes:
    """A brotli stream of `size` zeros, compressed a MiB at a time."""
    compressor = brotli.Compressor(quality=5)
    parts = [compressor.process(bytes(MIB)) for _ in range(size // MIB)]
    return b"".join([*parts, compressor.finish()])


@functools.cache
def concat_members(count: int = 200_000) -> bytes:
    """`PAGE` in one gzip member, then `count` empty members."""
    return gzip.compress(PAGE, mtime=0) + gzip.compress(b"", mtime=0) * count


def encode(data: bytes, coding: str) -> bytes:
    """`data` compressed with one content coding (gzip, deflate, deflate-raw, br, zstd)."""
    if coding in ("gzip", "x-gzip"):
        return gzip.compress(data, mtime=0)
    if coding == "deflate":
        return zlib.compress(data)
    if coding == "deflate-raw":
        compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        return compressor.compress(data) + compressor.flush()
    if coding == "br":
        return bytes(brotli.compress(data))
    if coding == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    if coding == "identity":
        return data
    raise ValueError(f"unknown coding {coding!r}")


@dataclass(frozen=True)
class Bomb:
    """A body, its Content-Encoding header, and what it inflates to."""

    content_encoding: str
    build: Callable[[], bytes]
    decoded_size: int


BOMBS: dict[str, Bomb] = {
    "gzip": Bomb("gzip", gzip_bomb, GIB),
    "deflate": Bomb("deflate", deflate_bomb, GIB),
    "br": Bomb("br", brotli_bomb, 128 * MIB),
    "zstd": Bomb("zstd", zstd_bomb, GIB),
    "nested": Bomb("gzip, gzip", lambda: gzip.compress(gzip_bomb(), mtime=0), GIB),
    "concat": Bomb("gzip", concat_members, len(PAGE)),
}

ENCODED = ("gzip", "x-gzip", "deflate", "deflate-raw", "br", "zstd", "nested", "identity")
BAD_ENCODED = ("unknown", "corrupt")  # Content-Encoding "foo"; "gzip" on bytes that are not


def encoded_page(coding: str) -> tuple[str, bytes]:
    """(Content-Encoding, body) of `PAGE` for an `/encoded/{coding}` endpoint."""
    if coding == "unknown":
        return "foo", PAGE
    if coding == "corrupt":
        return "gzip", b"\x1f\x8b\x08\x00" + PAGE
    if coding == "nested":
        return "gzip, gzip", encode(encode(PAGE, "gzip"), "gzip")
    if coding == "deflate-raw":
        return "deflate", encode(PAGE, coding)
    return coding, encode(PAGE, coding)


# --- Charsets and binary bodies -----------------------------------------------------------

RUSSIAN = "Съешь же ещё этих мягких французских булок, да выпей чаю."
JAPANESE = (
    "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。"
    "何でも薄暗いじめじめした所でニャーニャー泣いていた事だけは記憶している。"
)


def html(text: str, head: str = "") -> str:
    """A small HTML page around `text`."""
    return f"<html><head>{head}<title>t</title></head><body><p>{text}</p></body></html>"


@dataclass(frozen=True)
class CharsetCase:
    """A page whose charset is wrong, conflicting or missing, and its golden text."""

    content_type: str
    body: bytes
    golden: str  # what the decoded text must contain


_UTF8_RU = html(RUSSIAN).encode()
CHARSET_CASES: dict[str, CharsetCase] = {
    "utf8": CharsetCase("text/html; charset=utf-8", _UTF8_RU, RUSSIAN),
    "header-utf8-body-cp1251": CharsetCase(
        "text/html; charset=utf-8", html(RUSSIAN).encode("cp1251"), RUSSIAN
    ),
    "meta-conflict": CharsetCase(  # header says utf-8, <meta> windows-1252: the header wins
        "text/html; charset=utf-8",
        html("Grüße café", '<meta charset="windows-1252">').encode(),
        "Grüße café",
    ),
    "meta-conflict-cp1251": CharsetCase(  # header windows-1251 decodes it; <meta> says utf-8
        "text/html; charset=windows-1251",
        html(RUSSIAN, '<meta charset="utf-8">').encode("cp1251"),
        RUSSIAN,
    ),
    "meta-only": CharsetCase(
        "text/html", html(RUSSIAN, '<meta charset="windows-1251">').encode("cp1251"), RUSSIAN
    ),
    "bom-conflict": CharsetCase(  # a UTF-8 BOM, the header says iso-8859-1: the BOM wins
        "text/html; charset=iso-8859-1", b"\xef\xbb\xbf" + _UTF8_RU, RUSSIAN
    ),
    "bom-utf16": CharsetCase(
        "text/html", "\ufeff".encode("utf-16-le") + html(RUSSIAN).encode("utf-16-le"), RUSSIAN
    ),
    "unknown-charset": CharsetCase("text/html; charset=x-nonsense", _UTF8_RU, RUSSIAN),
    "invalid-utf8": CharsetCase(  # two bytes that are not UTF-8 in a UTF-8 page
        "text/html; charset=utf-8",
        _UTF8_RU.replace(b"</p>", b"\xff\xfe</p>"),
        RUSSIAN + "\ufffd\ufffd",
    ),
    "sjis-undeclared": CharsetCase("text/html", html(JAPANESE).encode("shift_jis"), JAPANESE),
}


@dataclass(frozen=True)
class BinaryCase:
    """A body that is not text, with the Content-Type it is sent with."""

    content_type: str
    body: bytes


_PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
BINARY_CASES: dict[str, BinaryCase] = {
    "png": BinaryCase("text/html", _PNG),
    "pdf": BinaryCase("text/html; charset=utf-8", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + bytes(2000)),
    "nul": BinaryCase("text/html", b"<html><body>" + b"\x00\x01\x02" * 300 + b"</body></html>"),
    "octet": BinaryCase("application/octet-stream", PAGE),
    "image": BinaryCase("image/png", _PNG),
}


# --- The server ---------------------------------------------------------------------------


class HostileServer:
    """The running server: `url(path)` and the request `log`."""

    def __init__(self, http_port: int, raw_port: int, log: list[Entry]) -> None:
        self.http_port = http_port
        self.raw_port = raw_port
        self.log = log

    def url(self, path: str) -> str:
        """The absolute URL of `path` (e.g. "/bomb/gzip") on the right port."""
        port = self.raw_port if path.startswith(_RAW_PATHS) else self.http_port
        return f"http://127.0.0.1:{port}{path}"

    def entries(self, path: str) -> list[Entry]:
        """The log entries of requests for `path` (without its query)."""
        path = path.partition("?")[0]
        return [entry for entry in list(self.log) if entry["path"] == path]

    def wait_finished(self, path: str, timeout: float = 10.0) -> Entry:
        """The last entry for `path` once its handler has ended (blocking: sync tests)."""
        deadline = time.monotonic() + timeout
        while True:
            entry = self._last_finished(path)
            if entry is not None:
                return entry
            if time.monotonic() > deadline:
                raise TimeoutError(f"no finished request for {path} in {timeout} s")
            time.sleep(0.02)

    async def finished(self, path: str, timeout: float = 10.0) -> Entry:
        """`wait_finished` for async tests: lets the test's loop close its sockets."""
        deadline = time.monotonic() + timeout
        while True:
            entry = self._last_finished(path)
            if entry is not None:
                return entry
            if time.monotonic() > deadline:
                raise TimeoutError(f"no finished request for {path} in {timeout} s")
            await asyncio.sleep(0.02)

    def _last_finished(self, path: str) -> Entry | None:
        entries = self.entries(path)
        return entries[-1] if entries and entries[-1]["finished"] else None


@contextlib.contextmanager
def serve_hostile() -> Iterator[HostileServer]:
    """Run the hostile server in a thread with its own event loop; stop it on exit."""
    log: list[Entry] = []
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        async with _running(log) as ports:
            box["ports"] = ports
            started.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)

    def run() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # reported to the test thread
            box["error"] = exc
            started.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="hostile-server", daemon=True)
    thread.start()
    started.wait(30)
    if "ports" not in box:
        raise RuntimeError(f"hostile server did not start: {box.get('error')!r}")
    http_port, raw_port = box["ports"]
    try:
        yield HostileServer(http_port, raw_port, log)
    finally:
        stop.set()
        thread.join(30)


@contextlib.asynccontextmanager
async def _running(log: list[Entry]) -> AsyncIterator[tuple[int, int]]:
    runner = web.AppRunner(_app(log), handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    raw = _RawServer(log)
    server = await asyncio.start_server(raw.handle, "127.0.0.1", 0)
    try:
        yield runner.addresses[0][1], server.sockets[0].getsockname()[1]
    finally:
        server.close()
        raw.abort_all()
        await runner.cleanup()


LOG = web.AppKey("log", list)


def _app(log: list[Entry]) -> web.Application:
    app = web.Application()
    app[LOG] = log
    app.router.add_get("/ok", _ok)
    app.router.add_get("/encoded/{coding}", _encoded)
    app.router.add_get("/bomb/{kind}", _bomb)
    app.router.add_get("/huge", _huge)
    app.router.add_get("/stall/{where}", _stall)
    app.router.add_get("/slowloris", _slowloris)
    app.router.add_get("/charset/{case}", _charset)
    app.router.add_get("/binary/{case}", _binary)
    return app


def _entry(request: web.Request) -> Entry:
    entry: Entry = {
        "path": request.path,
        "query": request.query_string,
        "bytes_sent": 0,
        "client_disconnected": False,
        "finished": False,
    }
    request.app[LOG].append(entry)
    return entry


@contextlib.asynccontextmanager
async def _logged(request: web.Request) -> AsyncIterator[Entry]:
    """The request's log entry; marks a disconnected client and the handler's end.

    A write to a client that went away ends the block quietly (aiohttp would log it).
    """
    entry = _entry(request)
    try:
        yield entry
    except ConnectionError:
        entry["client_disconnected"] = True
    except asyncio.CancelledError:  # handler_cancellation: the client went away
        entry["client_disconnected"] = True
        raise
    finally:
        entry["finished"] = True


async def _send(
    request: web.Request,
    headers: dict[str, str],
    chunks: Iterable[bytes],
    content_length: int | None = None,
) -> web.StreamResponse:
    """Stream `chunks` (chunked if `content_length` is None), logging what was sent."""
    response = _response(headers, content_length)
    async with _logged(request) as entry:
        await response.prepare(request)
        for chunk in chunks if request.method != "HEAD" else ():
            await response.write(chunk)
            entry["bytes_sent"] += len(chunk)
        await response.write_eof()
    return response


def _response(headers: dict[str, str], content_length: int | None) -> web.StreamResponse:
    response = web.StreamResponse(headers=headers)
    if content_length is None:
        response.enable_chunked_encoding()
    else:
        response.content_length = content_length
    return response


def _pieces(data: bytes, size: int = 64 * KIB) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(data), size):
        yield bytes(view[start : start + size])


def _zeros_forever(limit: int | None = None) -> Iterator[bytes]:
    sent = 0
    while limit is None or sent < limit:
        yield _ZEROS
        sent += len(_ZEROS)


async def _ok(request: web.Request) -> web.StreamResponse:
    return await _send(request, {"Content-Type": "text/html; charset=utf-8"}, [PAGE], len(PAGE))


async def _encoded(request: web.Request) -> web.StreamResponse:
    coding = request.match_info["coding"]
    if coding not in ENCODED + BAD_ENCODED:
        raise web.HTTPNotFound()
    content_encoding, body = encoded_page(coding)
    headers = {"Content-Type": "text/html; charset=utf-8", "Content-Encoding": content_encoding}
    return await _send(request, headers, [body], len(body))


async def _bomb(request: web.Request) -> web.StreamResponse:
    bomb = BOMBS.get(request.match_info["kind"])
    if bomb is None:
        raise web.HTTPNotFound()
    body = await asyncio.to_thread(bomb.build)  # cached after the first build
    headers = {"Content-Type": "text/html", "Content-Encoding": bomb.content_encoding}
    return await _send(request, headers, _pieces(body), len(body))


async def _huge(request: web.Request) -> web.StreamResponse:
    headers = {"Content-Type": "application/octet-stream"}
    if request.query.get("chunked", "0") == "1":
        return await _send(request, headers, _zeros_forever())
    return await _send(request, headers, _zeros_forever(GIB), GIB)


async def _stall(request: web.Request) -> web.StreamResponse:
    where = request.match_info["where"]
    if where not in ("headers", "body"):
        raise web.HTTPNotFound()
    response = _response({"Content-Type": "text/html"}, 100)
    async with _logged(request) as entry:
        if where == "headers":
            await asyncio.sleep(_FOREVER)
        await response.prepare(request)
        await response.write(b"a" * 10)
        entry["bytes_sent"] += 10
        await asyncio.sleep(_FOREVER)
    return response


async def _slowloris(request: web.Request) -> web.StreamResponse:
    interval = float(request.query.get("interval", "1"))
    response = _response({"Content-Type": "text/html"}, None)
    async with _logged(request) as entry:
        await response.prepare(request)
        while True:
            await response.write(b"x")
            entry["bytes_sent"] += 1
            await asyncio.sleep(interval)
    return response


async def _charset(request: web.Request) -> web.StreamResponse:
    case = CHARSET_CASES.get(request.match_info["case"])
    if case is None:
        raise web.HTTPNotFound()
    headers = {"Content-Type": case.content_type}
    return await _send(request, headers, [case.body], len(case.body))


async def _binary(request: web.Request) -> web.StreamResponse:
    case = BINARY_CASES.get(request.match_info["case"])
    if case is None:
        raise web.HTTPNotFound()
    headers = {"Content-Type": case.content_type}
    return await _send(request, headers, [case.body], len(case.body))


class _RawServer:
    """Endpoints aiohttp cannot produce: short bodies and TCP resets."""

    def __init__(self, log: list[Entry]) -> None:
        self.log = log
        self.writers: set[asyncio.StreamWriter] = set()

    def abort_all(self) -> None:
        for writer in list(self.writers):
            writer.transport.abort()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            target = head.split(b" ", 2)[1].decode("latin-1")
            path, _, query = target.partition("?")
            entry: Entry = {
                "path": path,
                "query": query,
                "bytes_sent": 0,
                "client_disconnected": False,
                "finished": False,
            }
            self.log.append(entry)
            try:
                await self._respond(path, writer, entry)
            except ConnectionError:
                entry["client_disconnected"] = True
            finally:
                entry["finished"] = True
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError, IndexError):
            pass  # not a request
        finally:
            self.writers.discard(writer)
            writer.close()

    async def _respond(self, path: str, writer: asyncio.StreamWriter, entry: Entry) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000\r\n\r\n"
        if path == "/truncated":
            await self._write(writer, head, entry, body=False)
            await self._write(writer, b"a" * 500, entry)
            return  # a clean close, 500 bytes short
        if path == "/reset/before_headers":
            _reset(writer)
            return
        if path == "/reset/after_headers":
            await self._write(writer, head, entry, body=False)
            await asyncio.sleep(0.05)  # let the client read the headers
            _reset(writer)
            return
        if path == "/reset/mid_body":
            await self._write(writer, head, entry, body=False)
            await self._write(writer, b"a" * 500, entry)
            await asyncio.sleep(0.05)
            _reset(writer)
            return
        await self._write(writer, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", entry)

    @staticmethod
    async def _write(
        writer: asyncio.StreamWriter, data: bytes, entry: Entry, body: bool = True
    ) -> None:
        writer.write(data)
        await writer.drain()
        if body:
            entry["bytes_sent"] += len(data)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close the connection with a TCP RST instead of a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
