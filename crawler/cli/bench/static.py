"""A multi-process static file server (the benchmark's fallback when nginx is missing)."""

from __future__ import annotations

import multiprocessing
import os
import socket
import sys
from pathlib import Path

from aiohttp import web


def _serve(sock: socket.socket, root: str) -> None:
    app = web.Application()

    async def index(request: web.Request) -> web.FileResponse:
        return web.FileResponse(Path(root) / request.path.lstrip("/") / "index.html")

    app.router.add_get("/", index)
    app.router.add_get("/chain/", index)
    app.router.add_static("/", root)
    web.run_app(app, sock=sock, print=None, access_log=None)


def main() -> None:
    root, port = sys.argv[1], int(sys.argv[2])
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(target=_serve, args=(sock, root)) for _ in range(os.cpu_count() or 1)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


if __name__ == "__main__":
    main()
