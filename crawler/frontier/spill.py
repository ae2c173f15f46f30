"""Pending requests beyond the frontier's memory limit, on disk; used by the scheduler.

One append-only file per priority; requests come back in the order they were written,
the highest priority first.  The journal stays the record of what is pending: these files
are a cache of the frontier and are wiped at the start of every session.
"""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import msgspec

from crawler.wire.messages import RequestSpec

_LENGTH = struct.Struct("<I")
_WRITE_BUFFER = 256 * 1024
_READ_CHUNK = 256 * 1024


class Spill:
    """Requests on disk, by priority; `count` of them."""

    def __init__(self, folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self.folder = folder
        self.count = 0
        self._runs: dict[int, _Run] = {}
        self._next_run = 0
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(RequestSpec)

    def __repr__(self) -> str:
        return f"<Spill {self.count} requests in {len(self._runs)} files>"

    def put(self, request: RequestSpec) -> None:
        """Write `request` to the file of its priority."""
        run = self._runs.get(request.priority)
        if run is None:
            self._next_run += 1
            run = self._runs[request.priority] = _Run(self.folder / f"{self._next_run}.spill")
        payload = self._encoder.encode(request)
        run.write(_LENGTH.pack(len(payload)) + payload)
        self.count += 1

    def top_priority(self) -> int | None:
        """The highest priority on disk, if any."""
        return max(self._runs) if self._runs else None

    def take(self, limit: int) -> list[RequestSpec]:
        """Up to `limit` requests, the highest priority first, in the order they came."""
        taken: list[RequestSpec] = []
        while len(taken) < limit and self._runs:
            priority = max(self._runs)
            run = self._runs[priority]
            taken.extend(self._decoder.decode(p) for p in run.read(limit - len(taken)))
            if run.exhausted():
                run.remove()
                del self._runs[priority]
        self.count -= len(taken)
        return taken

    def clear(self) -> int:
        """Forget everything on disk; return how many requests that was."""
        count = self.count
        for run in self._runs.values():
            run.remove()
        self._runs.clear()
        self.count = 0
        return count

    def close(self) -> None:
        """Remove the files and the folder."""
        self.clear()
        shutil.rmtree(self.folder, ignore_errors=True)


class _Run:
    """One file: frames appended through a buffer, read from a moving offset."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        self.buffer: list[bytes] = []
        self.buffered = 0
        self.size = 0  # bytes written to the file
        self.offset = 0  # bytes read back
        self.pending = b""  # read but not yet a whole frame

    def write(self, frame: bytes) -> None:
        self.buffer.append(frame)
        self.buffered += len(frame)
        if self.buffered >= _WRITE_BUFFER:
            self._flush()

    def _flush(self) -> None:
        if self.buffer:
            data = b"".join(self.buffer)
            view = memoryview(data)
            while view:
                written = os.pwrite(self.fd, view, self.size)
                self.size += written
                view = view[written:]
            self.buffer.clear()
            self.buffered = 0

    def read(self, limit: int) -> list[bytes]:
        """Up to `limit` payloads, in the order they were written."""
        self._flush()
        payloads: list[bytes] = []
        data, position = self.pending, 0
        while len(payloads) < limit:
            if len(data) - position < _LENGTH.size or (
                len(data) - position < _LENGTH.size + _LENGTH.unpack_from(data, position)[0]
            ):
                if self.offset >= self.size:
                    break
                chunk = os.pread(self.fd, _READ_CHUNK, self.offset)
                self.offset += len(chunk)
                data, position = data[position:] + chunk, 0
                continue
            (length,) = _LENGTH.unpack_from(data, position)
            start = position + _LENGTH.size
            payloads.append(data[start : start + length])
            position = start + length
        self.pending = data[position:]
        return payloads

    def exhausted(self) -> bool:
        return not self.buffer and not self.pending and self.offset >= self.size

    def remove(self) -> None:
        os.close(self.fd)
        self.path.unlink(missing_ok=True)
