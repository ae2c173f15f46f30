"""The job's append-only journal: what was admitted, committed, failed; written by the scheduler.

A record is committed once it is written (the operating system has it); fsyncs are batched.
Framing: 4-byte length, 4-byte CRC-32, msgpack payload.  A torn last record (a crash
mid-write) is cut off on open; damage anywhere else fails closed.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from crawler.errors import JournalCorruptError
from crawler.messages import RequestSpec

VERSION = 1
_FRAME = struct.Struct("<II")


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
    """A page committed: its items at [start, end) of `part`, the new requests it admitted."""

    id: int
    status: int
    part: str
    start: int
    end: int
    items: int
    requests: list[RequestSpec]


class Failed(msgspec.Struct, tag=True, array_like=True):
    """A request that finally failed (`dead` when it crashed workers too often)."""

    id: int
    url: str
    reason: str
    attempts: int
    status: int
    dead: bool = False


class Requeued(msgspec.Struct, tag=True, array_like=True):
    """A request goes back to the frontier with new attempt counts."""

    id: int
    attempts: int
    crashes: int


class Closed(msgspec.Struct, tag=True, array_like=True):
    """The crawl finished (`reason` "finished", or a limit such as "max_pages")."""

    reason: str
    unfetched: int


Record = Header | Seeded | Done | Failed | Requeued | Closed
_decoder = msgspec.msgpack.Decoder(Record)
_encoder = msgspec.msgpack.Encoder()


def frame(record: Any) -> bytes:
    payload = _encoder.encode(record)
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def read(path: Path) -> tuple[list[Record], int]:
    """All intact records, and the byte length they occupy (the rest is a torn tail)."""
    data = path.read_bytes()
    records: list[Record] = []
    offset = 0
    while offset < len(data):
        if offset + _FRAME.size > len(data):
            break  # torn header at the end
        size, crc = _FRAME.unpack_from(data, offset)
        end = offset + _FRAME.size + size
        if end > len(data):
            break  # torn payload at the end
        payload = data[offset + _FRAME.size : end]
        if zlib.crc32(payload) != crc:
            if end == len(data):
                break  # the last record was torn
            raise JournalCorruptError(f"journal {path} is corrupt at byte {offset} (checksum)")
        try:
            records.append(_decoder.decode(payload))
        except msgspec.DecodeError as exc:
            raise JournalCorruptError(f"journal {path} is corrupt at byte {offset}: {exc}") from exc
        offset = end
    if records and not isinstance(records[0], Header):
        raise JournalCorruptError(f"journal {path} does not start with a header")
    if records and records[0].version != VERSION:  # type: ignore[union-attr]
        raise JournalCorruptError(
            f"journal {path} has version {records[0].version}, "  # type: ignore[union-attr]
            f"this crawler reads version {VERSION}; start over with --fresh"
        )
    return records, offset


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

    def append(self, record: Any) -> None:
        self._queued.append(frame(record))

    def flush(self) -> None:
        """Write the queued records; they are committed when this returns."""
        if not self._queued:
            return
        data = b"".join(self._queued)
        self._queued.clear()
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        self.unsynced = True

    def sync(self) -> None:
        if self.unsynced:
            self.unsynced = False
            os.fsync(self._fd)

    def close(self) -> None:
        self.flush()
        self.sync()
        os.close(self._fd)


def iter_done(records: list[Record]) -> Iterator[Done]:
    return (r for r in records if isinstance(r, Done))
