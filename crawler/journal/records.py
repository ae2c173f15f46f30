"""The job's append-only journal: what was admitted, committed, failed; written by the scheduler.

A record is committed once it is written (the operating system has it); fsyncs are batched.
Framing: 4-byte length, 4-byte CRC-32 of the payload, 4-byte CRC-32 of those 8 bytes, then
the msgpack payload.  The frame's own checksum means a damaged length is seen as damage,
never mistaken for a record running past the end of the file.  A torn last record (a crash
mid-write, or a tail of zero bytes left by a system crash) is cut off on open; damage
anywhere else fails closed.
"""

from __future__ import annotations

import contextlib
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from crawler.errors import JournalCorruptError
from crawler.failpoints import failpoint
from crawler.wire.messages import RequestSpec

VERSION = 2  # 2: frames carry a checksum of their length
_FRAME = struct.Struct("<III")
_LEGACY_FRAME = struct.Struct("<II")  # version 1: length and payload checksum only


class Header(msgspec.Struct, tag=True, array_like=True):
    """First record: who wrote the journal and with which configuration."""

    version: int
    spider: str
    config: str


class Seeded(msgspec.Struct, tag=True, array_like=True):
    """Start requests admitted; `consumed` counts all taken from start_requests() so far."""

    consumed: int
    requests: list[RequestSpec]


class Done(msgspec.Struct, tag=True, array_like=True):
    """A page committed: its items at [start, end) of `part`, the new requests it admitted.

    `invalid` items (they failed the spider's item_schema) are in the same range, on lines
    that start with a NUL byte: `crawler.journal.export` writes them to invalid_items.jsonl.
    """

    id: int
    status: int
    part: str
    start: int
    end: int
    items: int
    requests: list[RequestSpec]
    invalid: int = 0
    # The response's Set-Cookie headers, merged into the jar `jar` for `cookie_url`:
    # replayed on resume, so the cookie jars come back as they were.
    cookies: list[str] = []
    cookie_url: str = ""
    jar: Any = None


class Failed(msgspec.Struct, tag=True, array_like=True):
    """A request that finally failed (`dead` when it crashed workers too often).

    When its errback ran, what the errback committed comes with it, as in `Done`: its
    items at [start, end) of `part`, the new requests it admitted.
    """

    id: int
    url: str
    reason: str
    attempts: int
    status: int
    dead: bool = False
    part: str = ""
    start: int = 0
    end: int = 0
    items: int = 0
    requests: list[RequestSpec] = []
    invalid: int = 0


class Skipped(msgspec.Struct, tag=True, array_like=True):
    """A request admitted but not fetched on purpose (`reason` "robots": robots.txt forbids)."""

    id: int
    url: str
    reason: str


class Requeued(msgspec.Struct, tag=True, array_like=True):
    """A request goes back to the frontier with new attempt counts."""

    id: int
    attempts: int
    crashes: int


class Closed(msgspec.Struct, tag=True, array_like=True):
    """The crawl finished (`reason` "finished", or a limit such as "max_pages")."""

    reason: str
    unfetched: int


Record = Header | Seeded | Done | Failed | Skipped | Requeued | Closed
_decoder = msgspec.msgpack.Decoder(Record)
_encoder = msgspec.msgpack.Encoder()


def frame(record: Any) -> bytes:
    payload = _encoder.encode(record)
    head = struct.pack("<II", len(payload), zlib.crc32(payload))
    return head + struct.pack("<I", zlib.crc32(head)) + payload


def read(path: Path) -> tuple[list[Record], int]:
    """All intact records, and the byte length they occupy (the rest is a torn tail)."""
    reader = Reader(path)
    records = list(reader)
    return records, reader.valid


class Reader:
    """Iterates over a journal's intact records, reading it in chunks (bounded memory).

    After the iteration, `valid` is the byte length the records occupy: what follows is a
    torn tail (a crash mid-write) to cut off.  Damage anywhere else raises
    JournalCorruptError.  With `limit`, nothing from that byte on is read.
    """

    CHUNK = 1 << 20

    def __init__(self, path: Path, limit: int | None = None) -> None:
        self.path = path
        self.limit = limit  # read no further than this byte (records appended since)
        self.valid = 0

    def __repr__(self) -> str:
        return f"<journal.Reader {self.path} valid={self.valid}>"

    def __iter__(self) -> Iterator[Record]:
        path, chunk, head = self.path, self.CHUNK, _FRAME.size
        unpack, crc32, decode = _FRAME.unpack_from, zlib.crc32, _decoder.decode
        with open(path, "rb") as file:
            size_all = os.fstat(file.fileno()).st_size
            if self.limit is not None:
                size_all = min(size_all, self.limit)
            data = b""
            offset = 0  # of `data[0]` in the file
            position = 0  # within `data`
            while offset + position < size_all:
                if len(data) - position < head:
                    data = data[position:] + file.read(chunk)
                    offset += position
                    position = 0
                    if len(data) < head:
                        return  # torn frame at the end
                size, crc, check = unpack(data, position)
                end = position + head + size
                if end > len(data) and len(data) - position < chunk:
                    # The frame runs past what was read: read on (a chunk only, since its
                    # size is not verified yet).
                    data = data[position:] + file.read(chunk)
                    offset += position
                    position, end = 0, head + size
                at = offset + position
                if crc32(data[position : position + 8]) != check:
                    if _only_zeros(data[position:], file):
                        return  # zeros that a system crash left at the end
                    if at == 0:
                        _check_legacy(path, data)
                    raise _corrupt(path, at, "the frame checksum does not match")
                if end > len(data):  # a frame larger than a chunk
                    data = data[position:] + file.read(max(chunk, end - position))
                    offset += position
                    position, end = 0, head + size
                    if end > len(data):
                        return  # torn payload at the end
                payload = data[position + head : end]
                if crc32(payload) != crc:
                    if offset + end == size_all:
                        return  # the last record was torn
                    raise _corrupt(path, at, "the record checksum does not match")
                if at == 0:
                    _check_header(path, payload)
                try:
                    record = decode(payload)
                except msgspec.DecodeError as exc:
                    raise _corrupt(path, at, f"the record cannot be decoded ({exc})") from exc
                position = end
                self.valid = offset + position
                yield record


def _only_zeros(rest: bytes, file: BinaryIO) -> bool:
    """Whether `rest` and everything left in `file` are zero bytes."""
    if rest.strip(b"\0"):
        return False
    while chunk := file.read(Reader.CHUNK):
        if chunk.strip(b"\0"):
            return False
    return True


def _corrupt(path: Path, offset: int, why: str) -> JournalCorruptError:
    return JournalCorruptError(
        f"journal {path} is corrupt at byte {offset}: {why}; the run cannot be resumed, "
        "start over with --fresh"
    )


def _check_header(path: Path, payload: bytes) -> None:
    """The first record must be a Header of this VERSION (checked before any other decoding)."""
    try:
        first = msgspec.msgpack.decode(payload)
    except msgspec.DecodeError as exc:
        raise _corrupt(path, 0, f"the first record cannot be decoded ({exc})") from exc
    if not (isinstance(first, list) and first and first[0] == "Header"):
        raise JournalCorruptError(
            f"journal {path} does not start with a header; it is not a journal of this "
            "crawler, start over with --fresh"
        )
    version = first[1] if len(first) > 1 else None
    if version != VERSION:
        raise JournalCorruptError(
            f"journal {path} has version {version!r}, this crawler reads version {VERSION}; "
            "start over with --fresh"
        )


def _check_legacy(path: Path, data: bytes) -> None:
    """Raise the version error if `data` starts with a version 1 header (older framing)."""
    if len(data) < _LEGACY_FRAME.size:
        return
    size, crc = _LEGACY_FRAME.unpack_from(data)
    payload = data[_LEGACY_FRAME.size : _LEGACY_FRAME.size + size]
    if len(payload) == size and zlib.crc32(payload) == crc:
        _check_header(path, payload)


class JournalWriter:
    """Appends records; `flush()` writes everything queued with one write()."""

    def __init__(self, path: Path, valid_length: int | None = None) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        if valid_length is not None:
            os.ftruncate(self._fd, valid_length)
        os.lseek(self._fd, 0, os.SEEK_END)
        self._queued: list[bytes] = []
        self.unsynced = False

    # Benchmark-only: CRAWLER_JOURNAL_STUB=1 drops every record after the header, to measure
    # what the journal costs (`crawler bench --journal-cost`). Such a run cannot be resumed
    # or exported: never set it for real crawls.
    STUB = os.environ.get("CRAWLER_JOURNAL_STUB") == "1"

    def append(self, record: Any) -> None:
        if self.STUB and not isinstance(record, Header):
            return
        self._queued.append(frame(record))

    def flush(self) -> None:
        """Write the queued records; they are committed when this returns.

        If the write fails (ENOSPC...), the file is cut back to its length before it, so no
        half record stays in the middle of the journal; the records stay queued.
        """
        if not self._queued:
            return
        data = b"".join(self._queued)
        start = os.lseek(self._fd, 0, os.SEEK_CUR)
        view = memoryview(data)
        try:
            failpoint("journal.write")
            while view:
                view = view[os.write(self._fd, view) :]
        except BaseException:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, start)
                os.lseek(self._fd, start, os.SEEK_SET)
            raise
        self._queued.clear()
        self.unsynced = True

    def sync(self) -> None:
        if self.unsynced:
            self.unsynced = False
            os.fsync(self._fd)

    def close(self) -> None:
        """Flush, sync and close (the file is closed even if the last write fails)."""
        if self._fd < 0:
            return
        try:
            self.flush()
            self.sync()
        finally:
            os.close(self._fd)
            self._fd = -1
