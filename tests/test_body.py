"""crawler.downloader.body: bodies within limits, decoding, hostile servers (H4, H7, H9, H10)."""

from __future__ import annotations

import gzip
import io
import threading

import aiohttp
import psutil
import pytest
import zstandard

from crawler.downloader.body import (
    ACCEPT_ENCODING,
    BodyError,
    _pipeline,
    content_codings,
    read_body,
)
from crawler.downloader.session import make_session
from crawler.settings.schema import DownloaderSettings
from tests.hostile import (
    BOMBS,
    ENCODED,
    MIB,
    PAGE,
    HostileServer,
    encode,
    zstd_bomb,
)

LIMIT = 8 * MIB  # max_decompressed_size of most tests: small enough to be quick


async def fetch(
    session: aiohttp.ClientSession,
    url: str,
    max_body_size: int = 16 * MIB,
    max_decompressed_size: int = LIMIT,
) -> bytes:
    async with session.get(url) as response:
        return await read_body(response, max_body_size, max_decompressed_size)


def decode(codings: str, data: bytes, limit: int = LIMIT, chunk: int = 64 * 1024) -> bytes:
    """Decode `data` through the decoders of `codings`, fed `chunk` bytes at a time."""
    out = io.BytesIO()
    decoders = _pipeline(content_codings([codings]), out.write, limit)
    for start in range(0, len(data), chunk):
        decoders[0].feed(data[start : start + chunk])
    for decoder in decoders:
        decoder.finish()
    return out.getvalue()


# --- Decoding ------------------------------------------------------------------------------


def test_accept_encoding_names_only_what_we_decode() -> None:
    assert ACCEPT_ENCODING == "gzip, deflate, br, zstd"
    assert content_codings([ACCEPT_ENCODING]) == ["gzip", "deflate", "br", "zstd"]


def test_content_codings_parse_lists_aliases_and_identity() -> None:
    assert content_codings(["gzip, gzip"]) == ["gzip", "gzip"]
    assert content_codings(["X-GZip", "identity, br"]) == ["gzip", "br"]
    assert content_codings(["", " identity "]) == []
    with pytest.raises(BodyError, match="unsupported Content-Encoding 'foo'"):
        content_codings(["gzip, foo"])
    with pytest.raises(BodyError, match="too many Content-Encodings"):
        content_codings(["gzip, gzip, gzip, gzip, gzip"])


@pytest.mark.parametrize("coding", ENCODED)
async def test_encoded_pages_decode(
    server: HostileServer, session: aiohttp.ClientSession, coding: str
) -> None:
    assert await fetch(session, server.url(f"/encoded/{coding}")) == PAGE


async def test_unknown_encoding_fails(
    server: HostileServer, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(BodyError, match="unsupported Content-Encoding 'foo'"):
        await fetch(session, server.url("/encoded/unknown"))


async def test_corrupt_gzip_fails(server: HostileServer, session: aiohttp.ClientSession) -> None:
    with pytest.raises(BodyError, match=r"^invalid gzip data: "):
        await fetch(session, server.url("/encoded/corrupt"))


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 30])
@pytest.mark.parametrize("coding", ["gzip", "deflate", "deflate-raw", "br", "zstd"])
def test_any_chunking_decodes_the_same(coding: str, chunk: int) -> None:
    data = (b"some text that compresses " * 500 + bytes(range(256)) * 40) * 3
    header = "deflate" if coding == "deflate-raw" else coding
    assert decode(header, encode(data, coding), chunk=chunk) == data


def test_nested_encodings_decode_in_reverse_order() -> None:
    assert decode("gzip, br", encode(encode(PAGE, "gzip"), "br"), chunk=5) == PAGE
    assert decode("zstd, deflate", encode(encode(PAGE, "zstd"), "deflate"), chunk=5) == PAGE


def test_gzip_labelled_zlib_and_deflate_labelled_gzip_decode() -> None:
    assert decode("gzip", encode(PAGE, "deflate")) == PAGE
    assert decode("deflate", encode(PAGE, "gzip")) == PAGE


def test_concatenated_members_and_frames_decode_in_full() -> None:
    members = gzip.compress(b"one ") + gzip.compress(b"") + gzip.compress(b"two")
    assert decode("gzip", members, chunk=3) == b"one two"
    frames = encode(b"one ", "zstd") + encode(b"", "zstd") + encode(b"two", "zstd")
    assert decode("zstd", frames, chunk=3) == b"one two"


@pytest.mark.parametrize("chunk", [1, 2, 5, 4096])
def test_zstd_frames_of_every_shape_decode(chunk: int) -> None:
    checksummed = zstandard.ZstdCompressor(write_checksum=True).compress(PAGE)
    skippable = (0x184D2A53).to_bytes(4, "little") + (5).to_bytes(4, "little") + b"skip!"
    streamed = zstandard.ZstdCompressor(write_content_size=False).compressobj()
    small_blocks = b"".join(
        streamed.compress(PAGE[i : i + 10]) + streamed.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
        for i in range(0, len(PAGE), 10)
    )
    small_blocks += streamed.flush()
    data = checksummed + skippable + small_blocks + encode(PAGE, "zstd")
    assert decode("zstd", data, chunk=chunk) == PAGE * 3


def test_trailing_garbage_after_a_gzip_member_is_ignored() -> None:
    assert decode("gzip", gzip.compress(PAGE) + b"\x00\x00\n") == PAGE
    assert decode("gzip", gzip.compress(PAGE) + b"junk after the member") == PAGE


def test_empty_encoded_body_is_empty() -> None:
    for coding in ("gzip", "deflate", "br", "zstd", "gzip, br"):
        assert decode(coding, b"") == b""


@pytest.mark.parametrize(
    ("coding", "data"),
    [
        ("gzip", b"this is not gzip data at all"),
        ("deflate", b"\x78\x9c this is not deflate data"),
        ("br", b"\xff\xff\xff\xff this is not brotli data"),
        ("zstd", b"this is not zstd data"),
        ("zstd", encode(PAGE, "zstd") + b"garbage after the frame"),
    ],
)
def test_corrupt_data_is_a_body_error(coding: str, data: bytes) -> None:
    with pytest.raises(BodyError, match=rf"^invalid {coding} data: "):
        decode(coding, data)


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
def test_a_compressed_stream_cut_short_is_a_payload_error(coding: str) -> None:
    data = encode(PAGE * 50, coding)
    for cut in (1, len(data) // 2, len(data) - 1):
        with pytest.raises(aiohttp.ClientPayloadError, match="truncated"):
            decode(coding, data[:cut])


def test_zstd_window_over_8_mib_is_refused() -> None:
    # Frame header: no checksum, window descriptor 2^30 (exponent 20), then one RLE block.
    frame = b"\x28\xb5\x2f\xfd\x00" + bytes([20 << 3]) + (8 << 3 | 2 | 1).to_bytes(3, "little")
    with pytest.raises(BodyError, match=r"^invalid zstd data: "):
        decode("zstd", frame + b"\x00")


def test_zstd_huge_declared_content_size_allocates_nothing() -> None:
    before = psutil.Process().memory_info().rss
    with pytest.raises(BodyError):  # the cap, or the size mismatch at the end of the frame
        decode("zstd", zstd_bomb(2 * MIB, content_size=1 << 60))
    assert psutil.Process().memory_info().rss - before < 100 * MIB


# --- Bombs (H9) ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gzip", "deflate", "br", "zstd", "nested"])
def test_bomb_output_stops_within_1_1_times_the_limit(kind: str) -> None:
    bomb = BOMBS[kind]
    delivered = 0

    def count(data: bytes) -> None:
        nonlocal delivered
        delivered += len(data)

    decoders = _pipeline(content_codings([bomb.content_encoding]), count, LIMIT)
    data = bomb.build()
    with pytest.raises(BodyError, match=f"decompressed body exceeds max_decompressed_size {LIMIT}"):
        for start in range(0, len(data), 64 * 1024):
            decoders[0].feed(data[start : start + 64 * 1024])
    assert LIMIT * 0.9 < delivered <= LIMIT * 1.1


@pytest.mark.parametrize("kind", ["gzip", "deflate", "br", "zstd", "nested"])
async def test_bomb_over_http_fails_with_memory_bounded(
    server: HostileServer, session: aiohttp.ClientSession, kind: str
) -> None:
    BOMBS[kind].build()  # built (and cached) before the baseline is taken
    limit = 64 * MIB
    with RssPeak() as rss, pytest.raises(BodyError, match=f"max_decompressed_size {limit}$"):
        await fetch(session, server.url(f"/bomb/{kind}"), max_decompressed_size=limit)
    assert rss.growth < 200 * MIB
    assert BOMBS[kind].decoded_size > limit


async def test_many_empty_gzip_members_decode(
    server: HostileServer, session: aiohttp.ClientSession
) -> None:
    # 200,000 empty members after the page: linear work (about 0.4 s here), not quadratic.
    assert await fetch(session, server.url("/bomb/concat")) == PAGE


class RssPeak:
    """Samples this process's RSS from a thread; `growth` is the peak over the start."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.stop = threading.Event()
        self.start = self.peak = 0
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> RssPeak:
        self.start = self.peak = self.process.memory_info().rss
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def _sample(self) -> None:
        while not self.stop.wait(0.002):
            self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.start


# --- Size limits (H10) ----------------------------------------------------------------------


async def test_content_length_over_the_limit_is_refused_before_reading(
    server: HostileServer, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(
        BodyError, match=r"^body of 1073741824 bytes exceeds max_body_size 1048576$"
    ):
        await fetch(session, server.url("/huge?chunked=0"), max_body_size=MIB)
    entry = await server.finished("/huge")
    assert entry["client_disconnected"]
    assert entry["bytes_sent"] < 64 * MIB  # socket buffers at most, not 1 GiB


async def test_endless_chunked_body_is_cut_at_the_limit(
    server: HostileServer, session: aiohttp.ClientSession
) -> None:
    with RssPeak() as rss, pytest.raises(BodyError, match=r"^body exceeds max_body_size 1048576$"):
        await fetch(session, server.url("/huge?chunked=1"), max_body_size=MIB)
    entry = await server.finished("/huge")
    assert entry["client_disconnected"]
    assert MIB < entry["bytes_sent"] < 64 * MIB
    assert rss.growth < 100 * MIB


async def test_identity_body_at_the_limit_passes_and_one_byte_less_fails(
    server: HostileServer, session: aiohttp.ClientSession
) -> None:
    assert await fetch(session, server.url("/ok"), max_body_size=len(PAGE)) == PAGE
    with pytest.raises(BodyError, match="max_body_size"):
        await fetch(session, server.url("/ok"), max_body_size=len(PAGE) - 1)


async def test_wire_limit_counts_compressed_bytes(
    server: HostileServer, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(BodyError, match=r"^body of \d+ bytes exceeds max_body_size 1000$"):
        await fetch(session, server.url("/bomb/gzip"), max_body_size=1000)


# --- Broken connections (H4, H6, H7) --------------------------------------------------------


async def test_truncated_body_raises_payload_error(
    server: HostileServer, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(aiohttp.ClientPayloadError):
        await fetch(session, server.url("/truncated"))
    assert (await server.finished("/truncated"))["bytes_sent"] == 500


@pytest.mark.parametrize("where", ["before_headers", "after_headers", "mid_body"])
async def test_connection_reset_raises_client_error(
    server: HostileServer, session: aiohttp.ClientSession, where: str
) -> None:
    with pytest.raises(aiohttp.ClientError):
        await fetch(session, server.url(f"/reset/{where}"))


async def test_stalled_body_raises_timeout(server: HostileServer) -> None:
    settings = DownloaderSettings(timeout=10, read_timeout=0.3)
    async with make_session(settings) as session:
        with pytest.raises(TimeoutError):
            await fetch(session, server.url("/stall/body"))
        with pytest.raises(TimeoutError):
            await fetch(session, server.url("/stall/headers"))


async def test_slowloris_is_stopped_by_the_total_timeout(server: HostileServer) -> None:
    settings = DownloaderSettings(timeout=1.0, read_timeout=5)
    async with make_session(settings) as session:
        with pytest.raises(TimeoutError):
            await fetch(session, server.url("/slowloris?interval=0.1"))
    entry = await server.finished("/slowloris")
    assert entry["client_disconnected"]


async def test_head_response_has_no_body(
    server: HostileServer, session: aiohttp.ClientSession
) -> None:
    async with session.head(server.url("/ok")) as response:
        assert response.content_length == len(PAGE)
        assert await read_body(response, 10, 10) == b""  # its Content-Length is no body
