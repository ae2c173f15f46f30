"""Socket files and folders: stale sockets reused, live ones and non-sockets refused."""

from __future__ import annotations

import asyncio
import socket
import stat
from pathlib import Path

import pytest

from crawler.errors import JobError
from crawler.wire.transport import clear_stale_socket, listen, make_socket_dir, socket_dir


def test_socket_dir_is_private_and_derived_from_the_run(tmp_path: Path) -> None:
    folder = socket_dir(tmp_path / "run")
    assert folder == socket_dir(tmp_path / "run") and folder != socket_dir(tmp_path / "other")
    assert len(str(folder / "p10.sock")) < 107


def test_make_socket_dir_creates_0700_and_tightens(tmp_path: Path) -> None:
    folder = tmp_path / "sockets"
    make_socket_dir(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    folder.chmod(0o755)
    make_socket_dir(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_make_socket_dir_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "sockets").write_text("x")
    with pytest.raises(JobError, match="not a directory"):
        make_socket_dir(tmp_path / "sockets")


def test_a_stale_socket_is_removed(tmp_path: Path) -> None:
    path = tmp_path / "p0.sock"
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(path))
    dead.close()  # the file stays, nobody listens: what a killed crawl leaves
    clear_stale_socket(path)
    assert not path.exists()


def test_a_live_socket_is_not_stolen(tmp_path: Path) -> None:
    path = tmp_path / "p0.sock"
    live = socket.socket(socket.AF_UNIX)
    live.bind(str(path))
    live.listen(1)
    try:
        with pytest.raises(JobError, match="another crawl is listening"):
            clear_stale_socket(path)
        assert path.exists()
    finally:
        live.close()


@pytest.mark.parametrize("kind", ["file", "symlink"])
def test_a_non_socket_is_refused_and_kept(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "p0.sock"
    if kind == "file":
        path.write_text("precious")
    else:
        path.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(JobError, match="not a socket"):
        clear_stale_socket(path)
    assert path.is_symlink() or path.read_text() == "precious"


async def test_a_socket_path_too_long_is_refused(tmp_path: Path) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    with pytest.raises(JobError, match="longer than"):
        await listen("unix", tmp_path / ("x" * 120) / "p0.sock", handler)


async def test_listen_on_tcp_uses_loopback(tmp_path: Path) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server, path, port = await listen("tcp", tmp_path / "unused", handler)
    try:
        assert path == "" and port > 0
        assert server.sockets[0].getsockname()[0] == "127.0.0.1"
    finally:
        server.close()
        await server.wait_closed()
