"""Sockets between downloaders and parsers: Unix sockets in a private folder, or TCP on loopback.

Parsers listen (`listen`), downloaders connect (`connect`).  Each connection opens with a
`Hello` carrying the crawl's secret token; on Unix sockets the peer's uid is checked too.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import socket
import stat
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from crawler.errors import JobError

MAX_SOCKET_PATH = 107
_Protocol = TypeVar("_Protocol", bound=asyncio.BaseProtocol)


def socket_dir(run_dir: Path) -> Path:
    """The private (0700) folder for a run's sockets, named by a hash of the run folder."""
    digest = hashlib.blake2b(str(run_dir.resolve()).encode(), digest_size=6).hexdigest()
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"crawler-{os.getuid()}-{digest}"


def make_socket_dir(path: Path) -> None:
    """Create `path` 0700 and owned by us, or refuse one that someone else could write."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise JobError(f"socket folder {path} is not a directory owned by this user")
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)


def clear_stale_socket(path: Path) -> None:
    """Remove a dead crawl's socket at `path`; refuse a live one or a non-socket."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise JobError(f"{path} exists and is not a socket; refusing to replace it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        path.unlink(missing_ok=True)
        return
    finally:
        probe.close()
    raise JobError(f"another crawl is listening on {path}; refusing to steal it")


async def listen(
    transport: str, sock_path: Path, factory: Callable[[], asyncio.BaseProtocol]
) -> tuple[asyncio.Server, str, int]:
    """Start a parser's server; return it with its path (unix) or port (tcp)."""
    loop = asyncio.get_running_loop()
    if transport == "tcp":
        server = await loop.create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        return server, "", int(port)
    if len(str(sock_path).encode()) > MAX_SOCKET_PATH:
        raise JobError(f"socket path {sock_path} is longer than {MAX_SOCKET_PATH} bytes")
    clear_stale_socket(sock_path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o077)
    try:
        sock.bind(str(sock_path))
    finally:
        os.umask(old_umask)
    sock.listen(256)
    server = await loop.create_unix_server(factory, sock=sock)
    return server, str(sock_path), 0


def peer_is_us(transport: asyncio.BaseTransport) -> bool:
    """On a Unix socket, whether the peer runs as our uid (always True on TCP)."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family != socket.AF_UNIX or not hasattr(socket, "SO_PEERCRED"):
        return True  # TCP, or no SO_PEERCRED (macOS): the handshake token still applies
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return bool(uid == os.getuid())


async def connect(path: str, port: int, factory: Callable[[], _Protocol]) -> _Protocol:
    """Connect a downloader to a parser; return the connection's protocol."""
    loop = asyncio.get_running_loop()
    if path:
        transport, protocol = await loop.create_unix_connection(factory, path)
    else:
        transport, protocol = await loop.create_connection(factory, "127.0.0.1", port)
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        except OSError as exc:  # pragma: no cover - some kernels cap it
            if exc.errno != errno.EINVAL:
                raise
    return protocol


def remove_socket(path: str) -> None:
    """Unlink a socket file we created (uvloop may already have)."""
    if path:
        Path(path).unlink(missing_ok=True)
