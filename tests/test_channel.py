"""Channels: framed msgpack messages over real socket pairs, split and batched every way."""

from __future__ import annotations

import asyncio
import random
import socket
from typing import Any

import msgspec
import pytest
import uvloop

from crawler.errors import FrameTooLarge
from crawler.wire.channel import Channel, encode


class Blob(msgspec.Struct, tag=True, array_like=True):
    n: int
    data: bytes


def _frames(sizes: list[int]) -> tuple[list[Blob], bytes]:
    blobs = [Blob(i, bytes([i % 251]) * size) for i, size in enumerate(sizes)]
    return blobs, b"".join(encode(b) for b in blobs)


def _collecting(max_frame: int = 64 * 2**20) -> tuple[Channel, list[Any], list[Any]]:
    got: list[Any] = []
    closed: list[Any] = []
    return Channel(Blob, got.append, closed.append, max_frame=max_frame), got, closed


@pytest.mark.parametrize("step", [1, 3, 4, 5, 4096, 70_000, 10**7])
async def test_frames_split_at_any_boundary_arrive_whole(step: int) -> None:
    channel, got, closed = _collecting()
    sizes = [0, 1, 10, 65_000, 300_000, 2, 1_000_000, 5] if step > 100 else [0, 1, 10, 2, 70_000, 5]
    blobs, stream = _frames(sizes)
    for i in range(0, len(stream), step):
        channel.data_received(stream[i : i + step])
    assert got == blobs
    assert closed == []


async def test_a_large_frame_grows_the_buffer_and_it_shrinks_back() -> None:
    channel, got, _ = _collecting()
    blobs, stream = _frames([3_000_000, 10])
    channel.data_received(stream)
    assert got == blobs
    assert len(channel._buffer) <= 256 * 1024  # given back once the big frame was decoded


async def test_an_oversized_frame_closes_the_channel_with_the_reason() -> None:
    channel, got, _ = _collecting(max_frame=1000)
    _, stream = _frames([5000])
    errors: list[BaseException] = []
    channel.abort = errors.append  # type: ignore[method-assign]
    channel.data_received(stream)
    assert got == []
    assert isinstance(errors[0], FrameTooLarge)


async def test_junk_closes_the_channel_with_a_decode_error() -> None:
    channel, got, _ = _collecting()
    errors: list[BaseException] = []
    channel.abort = errors.append  # type: ignore[method-assign]
    channel.data_received(b"\x00\x00\x00\x03abc")
    assert got == []
    assert isinstance(errors[0], msgspec.DecodeError)


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_many_messages_of_random_sizes_cross_a_real_socket_pair_in_order(loop_kind: str) -> None:
    runner = uvloop.run if loop_kind == "uvloop" else asyncio.run
    runner(_many_messages())


async def _many_messages() -> None:
    loop = asyncio.get_running_loop()
    left, right = socket.socketpair()
    rng = random.Random(7)
    sizes = [rng.choice([0, 5, 100, 25_000, 70_000, 400_000]) for _ in range(400)]
    blobs, _ = _frames(sizes)
    got: list[Any] = []
    done = loop.create_future()

    def receive(message: Any) -> None:
        got.append(message)
        if len(got) == len(blobs):
            done.set_result(None)

    receiver = Channel(Blob, receive)
    sender = Channel(Blob, lambda m: None)
    await loop.create_connection(lambda: receiver, sock=right)
    await loop.create_connection(lambda: sender, sock=left)
    for i, blob in enumerate(blobs):
        sender.send(blob)
        if i % 7 == 0:
            await sender.drain()  # some go one per write, some many per write
    await asyncio.wait_for(done, 30)
    assert got == blobs
    sender.close()
    await asyncio.wait_for(receiver.closed, 10)
    receiver.close()


async def test_messages_sent_in_one_turn_leave_in_one_write() -> None:
    loop = asyncio.get_running_loop()
    left, right = socket.socketpair()
    writes: list[int] = []
    got: list[Any] = []
    receiver = Channel(Blob, got.append)
    sender = Channel(Blob, lambda m: None)
    await loop.create_connection(lambda: receiver, sock=right)
    await loop.create_connection(lambda: sender, sock=left)
    assert sender.transport is not None
    write, writelines = sender.transport.write, sender.transport.writelines

    inside: list[bool] = []

    def counting_write(data: bytes) -> None:
        if not inside:  # (asyncio's writelines() joins and calls write())
            writes.append(len(data))
        write(data)

    def counting_writelines(parts: list[bytes]) -> None:
        writes.append(sum(map(len, parts)))
        inside.append(True)
        writelines(parts)
        inside.pop()

    sender.transport.write = counting_write  # type: ignore[method-assign]
    sender.transport.writelines = counting_writelines  # type: ignore[method-assign]
    for i in range(10):
        sender.send(Blob(i, b"x"))
    assert writes == []  # nothing is written until this turn of the loop ends
    while len(got) < 10:
        await asyncio.sleep(0.01)
    assert len(writes) == 1
    sender.close()
    receiver.close()


async def test_flush_writes_at_once_and_the_end_of_the_turn_writes_nothing_more() -> None:
    loop = asyncio.get_running_loop()
    left, right = socket.socketpair()
    sender = Channel(Blob, lambda m: None)
    await loop.create_connection(lambda: sender, sock=left)
    for i in range(3):
        sender.send(Blob(i, b"x"))
    sender.flush()
    right.setblocking(False)
    received = right.recv(1 << 16)  # without yielding to the loop: already written
    assert received == b"".join(encode(Blob(i, b"x")) for i in range(3))
    await asyncio.sleep(0.05)  # the end-of-turn flush finds nothing left to write
    with pytest.raises(BlockingIOError):
        right.recv(1 << 16)
    sender.close()
    right.close()


async def test_a_frame_announced_but_not_sent_does_not_reserve_its_size() -> None:
    channel, got, _ = _collecting(max_frame=64 * 2**20)
    channel.data_received((60 * 2**20).to_bytes(4, "big") + bytes(300_000))
    assert got == []
    assert len(channel._buffer) <= 2 * 2**20  # grows with what arrives, not with the claim


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_a_backed_up_socket_never_sees_its_queued_bytes_overwritten(loop_kind: str) -> None:
    """The send buffer is reused from turn to turn only once a write went out whole."""
    runner = uvloop.run if loop_kind == "uvloop" else asyncio.run
    runner(_backed_up())


async def _backed_up() -> None:
    loop = asyncio.get_running_loop()
    left, right = socket.socketpair()
    blobs = [Blob(i, bytes([i % 251]) * (i * 997 % 90_000)) for i in range(200)]
    got: list[Any] = []
    receiver = Channel(Blob, got.append)
    sender = Channel(Blob, lambda m: None)
    await loop.create_connection(lambda: receiver, sock=right)
    await loop.create_connection(lambda: sender, sock=left)
    assert receiver.transport is not None and sender.transport is not None
    receiver.transport.pause_reading()
    for i, blob in enumerate(blobs):
        sender.send(blob)
        if i % 3 == 0:
            await asyncio.sleep(0)  # a turn ends: a write, partial once the socket is full
    await asyncio.sleep(0)
    assert sender.transport.get_write_buffer_size() > 0  # the socket did back up
    receiver.transport.resume_reading()
    while len(got) < len(blobs):
        await asyncio.sleep(0.01)
    assert got == blobs
    sender.close()
    receiver.close()
