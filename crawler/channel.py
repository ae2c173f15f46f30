"""Length-prefixed msgpack frames over asyncio streams: Pipes and sockets; used by every process.

A frame is a 4-byte big-endian signed length and a msgpack payload: the same framing as
`multiprocessing.Connection.send_bytes`, so either end of a Pipe may use either API.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from multiprocessing.connection import Connection
from typing import Any, Generic, TypeVar

import msgspec

T = TypeVar("T")
_HEADER = struct.Struct("!i")
MAX_CONTROL_FRAME = 64 * 1024 * 1024

_encoder = msgspec.msgpack.Encoder()


class FrameTooLarge(Exception):
    """A peer announced a frame larger than the channel allows."""


def encode(message: Any) -> bytes:
    """One message as a complete frame (header and payload)."""
    payload = _encoder.encode(message)
    return _HEADER.pack(len(payload)) + payload


class Receiver(Generic[T]):
    """Reads typed messages from a stream; `recv()` returns None at end of stream."""

    def __init__(self, reader: asyncio.StreamReader, kind: Any, max_frame: int = MAX_CONTROL_FRAME):
        self._reader = reader
        self._decoder: msgspec.msgpack.Decoder[T] = msgspec.msgpack.Decoder(kind)
        self._max_frame = max_frame

    async def recv(self) -> T | None:
        """The next message; None on a clean or torn end of stream (a partial frame is dropped)."""
        try:
            header = await self._reader.readexactly(4)
            (size,) = _HEADER.unpack(header)
            if size < 0 or size > self._max_frame:
                raise FrameTooLarge(f"frame of {size} bytes exceeds the limit of {self._max_frame}")
            payload = await self._reader.readexactly(size)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        return self._decoder.decode(payload)


class Sender:
    """Writes messages to a stream; `send` never blocks, `drain` waits for the buffer."""

    def __init__(self, writer: asyncio.StreamWriter):
        self._writer = writer

    def send(self, message: Any) -> None:
        self._writer.write(encode(message))

    def send_raw(self, frame: bytes) -> None:
        self._writer.write(frame)

    async def drain(self) -> None:
        await self._writer.drain()

    def is_closing(self) -> bool:
        return self._writer.is_closing()

    def close(self) -> None:
        self._writer.close()


async def open_pipe(conn: Connection) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Asyncio streams over one end of a duplex `multiprocessing.Pipe` (a socketpair)."""
    sock = socket.socket(fileno=os.dup(conn.fileno()))
    sock.setblocking(False)
    conn.close()
    return await asyncio.open_connection(sock=sock, limit=MAX_CONTROL_FRAME)
