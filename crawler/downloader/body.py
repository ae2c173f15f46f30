"""Reading a response body within limits; used by downloaders (and the robots.txt fetcher).

The session is made with `auto_decompress=False`, so `response.content` yields the bytes
on the wire.  `read_body` counts them against `max_body_size` and decodes every
Content-Encoding while they stream in, each decoder handing on at most about `_STEP`
bytes per call, so a decompression bomb is cut off as soon as its output passes
`max_decompressed_size`: memory stays bounded by the limits, never by the sender.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import AsyncIterator, Callable, Iterable
from typing import IO, cast

import aiohttp
import brotli
import zstandard

from crawler.errors import BodyError

ACCEPT_ENCODING = "gzip, deflate, br, zstd"

_STEP = 256 * 1024  # the most output a decoder asks for in one call
_WINDOW_MIN = 64  # input window of a gzip member after the first: see _ZlibDecoder
_WINDOW_MAX = 64 * 1024
_MAX_CODINGS = 4  # "gzip, gzip" is legal; a longer chain is an attack
_ZSTD_MAX_WINDOW = 8 * 1024 * 1024  # RFC 9659: HTTP zstd windows are at most 8 MiB
_AUTO_WBITS = 32 + zlib.MAX_WBITS  # a gzip or a zlib header, told apart by zlib
_RAW_WBITS = -zlib.MAX_WBITS  # deflate without a header, as some servers send it
_NO_BODY_STATUSES = frozenset({204, 304})

Sink = Callable[[bytes], object]  # where a decoder hands its output


async def read_body(
    response: aiohttp.ClientResponse, max_body_size: int, max_decompressed_size: int
) -> bytes:
    """The body of `response`, decoded from its Content-Encoding, within both limits.

    Raises `BodyError` (and closes the connection) when a limit is passed or the encoding
    is unknown or corrupt.  aiohttp's errors (a truncated body is a `ClientPayloadError`)
    and `TimeoutError` propagate unchanged; so does a `ClientPayloadError` for a
    compressed stream that ends early.
    """
    try:
        if _has_no_body(response):
            return b""
        length = response.content_length
        if length is not None and length > max_body_size:
            raise BodyError(f"body of {length} bytes exceeds max_body_size {max_body_size}")
        codings = content_codings(response.headers.getall("Content-Encoding", ()))
        if not codings:
            if length is not None:
                # aiohttp reads no further than Content-Length (already within the limit),
                # and raises ClientPayloadError if the body ends early.
                return await response.content.read()
            return await _read_identity(response, max_body_size)
        return await _read_decoded(response, codings, max_body_size, max_decompressed_size)
    except BodyError:
        response.close()  # do not drain a bomb: drop the connection
        raise


def content_codings(values: Iterable[str]) -> list[str]:
    """The codings of Content-Encoding header values, in the order they were applied.

    `identity` is dropped and `x-gzip` is `gzip`; an unknown coding is a `BodyError`.
    """
    codings = []
    for value in values:
        for item in value.split(","):
            name = item.strip().lower()
            if name in ("", "identity"):
                continue
            name = "gzip" if name == "x-gzip" else name
            if name not in _DECODERS:
                raise BodyError(f"unsupported Content-Encoding {item.strip()!r}")
            codings.append(name)
    if len(codings) > _MAX_CODINGS:
        raise BodyError(f"too many Content-Encodings ({len(codings)})")
    return codings


def _has_no_body(response: aiohttp.ClientResponse) -> bool:
    """Whether the response cannot have a body, whatever its Content-Length says."""
    return response.method == "HEAD" or response.status in _NO_BODY_STATUSES


async def _wire_chunks(
    response: aiohttp.ClientResponse, max_body_size: int
) -> AsyncIterator[bytes]:
    """The body's bytes as they arrive, until they pass `max_body_size`."""
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > max_body_size:
            raise BodyError(f"body exceeds max_body_size {max_body_size}")
        yield chunk


async def _read_identity(response: aiohttp.ClientResponse, max_body_size: int) -> bytes:
    return b"".join([chunk async for chunk in _wire_chunks(response, max_body_size)])


async def _read_decoded(
    response: aiohttp.ClientResponse,
    codings: list[str],
    max_body_size: int,
    max_decompressed_size: int,
) -> bytes:
    out = io.BytesIO()  # getvalue() hands over its buffer: no second copy of the body
    decoders = _pipeline(codings, out.write, max_decompressed_size)
    wire = decoders[0]
    async for chunk in _wire_chunks(response, max_body_size):
        wire.feed(chunk)
    for decoder in decoders:
        decoder.finish()
    return out.getvalue()


def _pipeline(codings: list[str], sink: Sink, limit: int) -> list[_Decoder]:
    """Decoders for `codings`, the last-applied coding first (it sees the wire bytes)."""
    decoders: list[_Decoder] = []
    for name in codings:  # the first coding applied is decoded last, into `sink`
        decoder = _DECODERS[name](name, sink, limit)
        decoders.append(decoder)
        sink = decoder.feed
    decoders.reverse()
    return decoders


class _Decoder:
    """One Content-Encoding: `feed` it input, it hands its output on in bounded pieces."""

    def __init__(self, name: str, sink: Sink, limit: int) -> None:
        self.name = name
        self.sink = sink
        self.limit = limit
        self.produced = 0

    def feed(self, data: bytes) -> None:
        """Decode `data`, the next piece of the encoded stream."""
        raise NotImplementedError

    def finish(self) -> None:
        """The stream is over: raise `ClientPayloadError` if it stopped mid-way."""
        raise NotImplementedError

    def emit(self, data: bytes) -> None:
        """Count `data` against the limit and pass it on."""
        if data:
            self.produced += len(data)
            if self.produced > self.limit:
                raise BodyError(f"decompressed body exceeds max_decompressed_size {self.limit}")
            self.sink(data)

    def invalid(self, exc: Exception) -> BodyError:
        return BodyError(f"invalid {self.name} data: {exc}")

    def truncated(self) -> aiohttp.ClientPayloadError:
        return aiohttp.ClientPayloadError(f"{self.name} stream ended early: body truncated")


class _ZlibDecoder(_Decoder):
    """gzip (any number of members, RFC 1952) and deflate (zlib-wrapped or raw).

    A finished zlib member copies every input byte after it into `unused_data`; fed the
    whole remaining chunk at each boundary, thousands of tiny members cost quadratic
    time.  So members after the first are fed through a window that starts at
    `_WINDOW_MIN` bytes and doubles, and positions are kept as offsets in a memoryview.
    Bytes after the first member that do not start a valid member are ignored, as
    browsers and urllib3 do; any other corrupt data is an error.
    """

    def __init__(self, name: str, sink: Sink, limit: int) -> None:
        super().__init__(name, sink, limit)
        self.obj: zlib._Decompress | None = None
        self.head = b""  # the first byte of a deflate stream, until its header is known
        self.members = 0  # members finished
        self.member_output = 0  # bytes the current member produced
        self.ignoring = False  # past the first member, after something that is none
        self.window = _WINDOW_MAX

    def feed(self, data: bytes) -> None:
        if self.ignoring or not data:
            return
        if self.obj is None and self.members == 0:
            data = self.head + data
            if self.name == "deflate" and len(data) < 2:
                self.head = data  # its header is two bytes
                return
            self.head = b""
            self.obj = zlib.decompressobj(self._first_wbits(data))
        self._feed_members(memoryview(data))

    def _first_wbits(self, data: bytes) -> int:
        if self.name == "gzip" or data[:2] == b"\x1f\x8b":
            return _AUTO_WBITS
        zlib_header = (
            data[0] & 0x0F == 8 and data[0] >> 4 <= 7 and (data[0] << 8 | data[1]) % 31 == 0
        )
        return _AUTO_WBITS if zlib_header else _RAW_WBITS

    def _feed_members(self, view: memoryview) -> None:
        pos, end = 0, len(view)
        while pos < end:
            if self.obj is None:  # the next member
                self.obj = zlib.decompressobj(_AUTO_WBITS)
                self.window, self.member_output = _WINDOW_MIN, 0
            stop = min(end, pos + self.window)
            try:
                self._decompress(self.obj, view[pos:stop])
            except zlib.error as exc:
                if self.members == 0 or self.member_output:
                    raise self.invalid(exc) from None
                self.ignoring = True  # trailing garbage after a complete member
                return
            if self.obj.eof:
                pos = stop - len(self.obj.unused_data)
                self.obj = None
                self.members += 1
            else:
                pos = stop
                self.window = min(self.window * 2, _WINDOW_MAX)

    def _decompress(self, obj: zlib._Decompress, piece: memoryview | bytes) -> None:
        """Feed `piece` to `obj`, taking its output `_STEP` bytes at a time."""
        out = obj.decompress(piece, _STEP)
        self._emit_member(out)
        while not obj.eof and (obj.unconsumed_tail or len(out) == _STEP):
            out = obj.decompress(obj.unconsumed_tail, _STEP)
            self._emit_member(out)

    def _emit_member(self, data: bytes) -> None:
        self.member_output += len(data)
        self.emit(data)

    def finish(self) -> None:
        if self.ignoring:
            return
        if self.members == 0 and (self.head or self.obj is not None):
            raise self.truncated()  # the first member is cut short
        if self.obj is not None and self.member_output:
            raise self.truncated()  # a later member that had begun to produce output


class _BrotliDecoder(_Decoder):
    """br (RFC 7932), with brotli's output-limited streaming decoder (brotli >= 1.2)."""

    def __init__(self, name: str, sink: Sink, limit: int) -> None:
        super().__init__(name, sink, limit)
        self.obj = brotli.Decompressor()
        self.started = False

    def feed(self, data: bytes) -> None:
        obj = self.obj
        if not data or obj.is_finished():
            return  # bytes after the end of the stream are ignored
        self.started = True
        try:
            out = obj.process(data, output_buffer_limit=_STEP)
            self.emit(out)
            # The decoder may keep input or output back: drain it before taking more.
            while (out or not obj.can_accept_more_data()) and not obj.is_finished():
                out = obj.process(b"", output_buffer_limit=_STEP)
                self.emit(out)
        except brotli.error as exc:
            raise self.invalid(exc) from None

    def finish(self) -> None:
        if self.started and not self.obj.is_finished():
            raise self.truncated()


class _ZstdDecoder(_Decoder):
    """zstd (RFC 8878), one or more frames, windows up to 8 MiB (RFC 9659).

    zstandard's stream writer hands its output to `write` in pieces of at most `_STEP`
    bytes and stops as soon as `write` raises, so the limit holds inside one call.  It
    cannot tell whether the stream ended between frames: `_ZstdFrames` follows the
    frame and block headers for that.
    """

    def __init__(self, name: str, sink: Sink, limit: int) -> None:
        super().__init__(name, sink, limit)
        decompressor = zstandard.ZstdDecompressor(max_window_size=_ZSTD_MAX_WINDOW)
        self.writer = decompressor.stream_writer(
            cast(IO[bytes], self), write_size=_STEP, closefd=False
        )
        self.frames = _ZstdFrames()

    def write(self, data: bytes) -> int:
        """The stream writer's output (this object is its file)."""
        self.emit(data)
        return len(data)

    def feed(self, data: bytes) -> None:
        if not data:
            return
        try:
            self.writer.write(data)
        except zstandard.ZstdError as exc:
            raise self.invalid(exc) from None
        self.frames.feed(data, self.invalid)

    def finish(self) -> None:
        if not self.frames.at_boundary():
            raise self.truncated()


class _ZstdFrames:
    """Follows zstd frame and block headers (RFC 8878 section 3) without decoding."""

    _MAGIC = 0xFD2FB528
    _SKIPPABLE_MASK, _SKIPPABLE = 0xFFFFFFF0, 0x184D2A50

    def __init__(self) -> None:
        self.state = "magic"  # what the gathered header is
        self.need = 4  # its length
        self.header = b""  # its bytes so far
        self.skip = 0  # bytes of content to pass over first
        self.checksum = 0  # the length of the current frame's checksum

    def at_boundary(self) -> bool:
        """Whether the input so far is whole frames."""
        return self.state == "magic" and not self.header and not self.skip

    def feed(self, data: bytes, invalid: Callable[[Exception], BodyError]) -> None:
        """Advance over `data`."""
        try:
            self._feed(data)
        except ValueError as exc:
            raise invalid(exc) from None

    def _feed(self, data: bytes) -> None:
        pos, end = 0, len(data)
        while pos < end:
            if self.skip:
                step = min(self.skip, end - pos)
                self.skip -= step
                pos += step
            elif self.state == "block" and not self.header and end - pos >= 3:
                pos = self._blocks(data, pos, end)
            else:
                step = min(self.need - len(self.header), end - pos)
                self.header += data[pos : pos + step]
                pos += step
                if len(self.header) == self.need:
                    header, self.header = self.header, b""
                    self._parse(int.from_bytes(header, "little"))

    def _blocks(self, data: bytes, pos: int, end: int) -> int:
        """Pass over the blocks whose headers are all in `data` (the common case, fast)."""
        while end - pos >= 3:
            header = int.from_bytes(data[pos : pos + 3], "little")
            pos += 3 + self._block(header)
            if self.state != "block":
                break
        if pos > end:
            self.skip, pos = pos - end, end
        return pos

    def _parse(self, value: int) -> None:
        if self.state == "magic":
            if value == self._MAGIC:
                self.state, self.need = "descriptor", 1
            elif value & self._SKIPPABLE_MASK == self._SKIPPABLE:
                self.state, self.need = "skippable", 4
            else:
                raise ValueError("unknown frame magic number")
        elif self.state == "skippable":
            self.skip, self.state, self.need = value, "magic", 4
        elif self.state == "descriptor":
            rest = self._header_rest(value)
            self.state, self.need = ("rest", rest) if rest else ("block", 3)
        elif self.state == "rest":
            self.state, self.need = "block", 3
        elif self.state == "block":
            self.skip = self._block(value)
        else:  # the checksum
            self.state, self.need = "magic", 4

    def _header_rest(self, descriptor: int) -> int:
        """The bytes of the frame header after its descriptor byte."""
        single_segment = descriptor >> 5 & 1
        self.checksum = 4 if descriptor & 4 else 0
        content_size = (single_segment, 2, 4, 8)[descriptor >> 6]
        dictionary_id = (0, 1, 2, 4)[descriptor & 3]
        return (1 - single_segment) + dictionary_id + content_size

    def _block(self, header: int) -> int:
        """Take a block header: the length of the block's content."""
        kind, size = header >> 1 & 3, header >> 3
        if kind == 3:
            raise ValueError("reserved block type")
        if header & 1:  # the last block of the frame
            self.state, self.need = ("checksum", 4) if self.checksum else ("magic", 4)
        return 1 if kind == 1 else size  # an RLE block holds one byte


_DECODERS: dict[str, type[_Decoder]] = {
    "gzip": _ZlibDecoder,
    "deflate": _ZlibDecoder,
    "br": _BrotliDecoder,
    "zstd": _ZstdDecoder,
}
