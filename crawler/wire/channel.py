"""Length-prefixed msgpack frames over asyncio transports (Pipes and sockets); every process.

A frame is a 4-byte big-endian signed length and a msgpack payload: the same framing as
`multiprocessing.Connection.send_bytes`, so either end of a Pipe may use either API.
A `Channel` is an asyncio BufferedProtocol: the transport reads into its buffer, and it
decodes every complete frame as it arrives and hands the message to a callback, with no
task or coroutine per message.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, cast

import msgspec

from crawler.errors import FrameTooLarge

_HEADER = struct.Struct("!i")
MAX_CONTROL_FRAME = 64 * 1024 * 1024
_READ_SIZE = 256 * 1024  # the receive buffer, and the room offered to each read
_MIN_READ = 64 * 1024  # less room than this at the end of the buffer: move or grow it
_JOIN_LIMIT = 64 * 1024  # a turn's frames up to this size are joined into one buffer

_encoder = msgspec.msgpack.Encoder()


def encode(message: Any) -> bytes:
    """One message as a complete frame (header and payload)."""
    payload = _encoder.encode(message)
    return _HEADER.pack(len(payload)) + payload


OnMessage = Callable[[Any], None]
OnClose = Callable[[BaseException | None], None]


class Channel(asyncio.BufferedProtocol):
    """Both directions of one transport: `send()` frames out, `on_message` for each one in.

    The transport reads straight into the channel's buffer (a `BufferedProtocol`), and each
    message is decoded from that buffer in place: a page crosses from the socket to its
    message with one copy.  A malformed or oversized frame closes the channel; `on_close`
    gets the reason (None at a clean end of stream).  A partial frame at the end of the
    stream is dropped.
    """

    def __init__(
        self,
        kind: Any,
        on_message: OnMessage,
        on_close: OnClose | None = None,
        max_frame: int = MAX_CONTROL_FRAME,
    ) -> None:
        self._decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(kind)
        self._on_message = on_message
        self._on_close = on_close
        self._max_frame = max_frame
        self._buffer = bytearray(_READ_SIZE)
        self._start = 0  # the unread data is self._buffer[self._start:self._end]
        self._end = 0
        self._error: BaseException | None = None
        self._paused: asyncio.Future[None] | None = None
        # This turn's frames, headers and payloads apart.  A small turn is joined into one
        # write; a large one (pages) leaves in one vectored write, never joined: a joined
        # batch of pages is fresh memory, and page faults cost ~4 us each here.
        self._outbox: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def get_buffer(self, sizehint: int) -> memoryview:
        """Room at the end of the buffer for the transport to read into."""
        buffer, start, end = self._buffer, self._start, self._end
        free = len(buffer) - end
        if free < _MIN_READ:
            need = end - start + _MIN_READ
            if end - start >= 4:  # a frame is in progress: make room for it, doubling at most
                (size,) = _HEADER.unpack_from(buffer, start)  # (a peer's claim is not trusted)
                if 0 <= size <= self._max_frame:
                    need = max(need, min(4 + size, 2 * len(buffer)))
            if need <= len(buffer):
                buffer[: end - start] = buffer[start:end]  # same size: no resize, just a move
            else:
                # A new buffer, never a resize: a view of the old one may still be alive.
                fresh = bytearray(need)
                fresh[: end - start] = buffer[start:end]
                self._buffer = buffer = fresh
            self._start, self._end = 0, end - start
            end = end - start
        return memoryview(buffer)[end:]

    def buffer_updated(self, nbytes: int) -> None:
        """Decode every complete frame that arrived; hand each message on."""
        buffer = self._buffer
        end = self._end = self._end + nbytes
        offset = self._start
        with memoryview(buffer) as view:
            while end - offset >= 4 and self._error is None:
                (size,) = _HEADER.unpack_from(buffer, offset)
                if size < 0 or size > self._max_frame:
                    self.abort(FrameTooLarge(f"frame of {size} bytes exceeds {self._max_frame}"))
                    break
                stop = offset + 4 + size
                if stop > end:
                    break
                try:
                    message = self._decoder.decode(view[offset + 4 : stop])
                except msgspec.DecodeError as exc:
                    self.abort(exc)
                    break
                offset = stop
                self._on_message(message)
        if offset == end:
            # Everything read was decoded: start again at the front, and give back a buffer
            # that grew for one large frame.
            self._start = self._end = 0
            if len(self._buffer) > _READ_SIZE:
                self._buffer = bytearray(_READ_SIZE)
        else:
            self._start = offset

    def data_received(self, data: bytes) -> None:
        """Feed bytes by hand (tests, and transports without buffered reads)."""
        while data:
            room = self.get_buffer(len(data))
            chunk = data[: len(room)]
            room[: len(chunk)] = chunk
            room.release()
            data = data[len(chunk) :]
            self.buffer_updated(len(chunk))

    def abort(self, error: BaseException) -> None:
        """Close the channel because of `error` (reported to on_close)."""
        self._error = error
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._paused is not None and not self._paused.done():
            self._paused.set_result(None)
        if not self.closed.done():
            self.closed.set_result(None)
        if self._on_close is not None:
            self._on_close(self._error or exc)

    def pause_writing(self) -> None:
        self._paused = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._paused is not None and not self._paused.done():
            self._paused.set_result(None)
        self._paused = None

    def send(self, message: Any) -> None:
        """Queue one message; it leaves at the end of this turn of the event loop.

        Everything queued in one turn of the loop goes out in one write: a message never
        waits for company, but messages that come together share a system call.
        """
        payload = _encoder.encode(message)
        self._queue(_HEADER.pack(len(payload)), payload)

    def send_raw(self, frames: bytes) -> None:
        """Queue bytes that are already whole frames (or, in fault tests, parts of one)."""
        self._queue(frames)

    def _queue(self, *parts: bytes) -> None:
        if not self._outbox:
            try:
                asyncio.get_running_loop().call_soon(self._flush)
            except RuntimeError:  # no loop turns any more (shutting down): write now
                self._outbox.extend(parts)
                self._flush()
                return
        self._outbox.extend(parts)

    def flush(self) -> None:
        """Write what is queued now, not at the end of this turn of the event loop.

        For a process whose turn can last long: a busy parser parses page after page
        without yielding to its loop, and what it sends must not wait for it to.
        """
        if self._outbox:
            self._flush()

    def _flush(self) -> None:
        parts, self._outbox = self._outbox, []
        if not parts:  # flushed early, by flush()
            return
        if self.transport is not None and not self.transport.is_closing():
            if sum(map(len, parts)) > _JOIN_LIMIT:
                self.transport.writelines(parts)  # vectored: pages are never copied to join
            else:  # small messages: one buffer is the transport's fastest path
                self.transport.write(b"".join(parts))

    async def drain(self) -> None:
        """Write what is queued; wait while the transport's buffer is over its high-water mark."""
        self.flush()
        if self.transport is not None and self.transport.is_closing():
            raise ConnectionResetError("channel closed")
        if self._paused is not None:
            await self._paused

    def is_closing(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    def close(self) -> None:
        """Write what is queued, then close."""
        self.flush()
        if self.transport is not None:
            self.transport.close()


async def open_pipe(
    conn: Connection, kind: Any, on_message: OnMessage, on_close: OnClose | None = None
) -> Channel:
    """A Channel over one end of a duplex `multiprocessing.Pipe` (a socketpair)."""
    sock = socket.socket(fileno=os.dup(conn.fileno()))
    sock.setblocking(False)
    conn.close()
    channel = Channel(kind, on_message, on_close)
    await asyncio.get_running_loop().create_connection(lambda: channel, sock=sock)
    return channel
