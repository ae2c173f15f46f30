"""Serving the benchmark site: nginx when installed, else aiohttp static servers on all cores."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from crawler.cli.demo.server import wait_for_port

_NGINX_CONF = """daemon off;
{user}worker_processes 1;
pid {run}/nginx.pid;
error_log {run}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  sendfile on;
  keepalive_requests 1000000;
  types {{ text/html html; }}
  client_body_temp_path {run};
  proxy_temp_path {run};
  fastcgi_temp_path {run};
  uwsgi_temp_path {run};
  scgi_temp_path {run};
  server {{ listen 127.0.0.1:{port}; root {root}; index index.html; }}
}}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def find_nginx(install: bool) -> str | None:
    """nginx's path; with `install`, try Debian's package first (as root)."""
    found = shutil.which("nginx") or (Path("/usr/sbin/nginx").exists() and "/usr/sbin/nginx")
    if found or not install or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found or None
    subprocess.run(["apt-get", "install", "-y", "-qq", "nginx-light"], capture_output=True)
    return shutil.which("nginx") or (Path("/usr/sbin/nginx").exists() and "/usr/sbin/nginx") or None


@contextmanager
def serve(root: Path, install: bool = True) -> Iterator[tuple[str, str]]:
    """Serve `root` on 127.0.0.1; yield (base URL, server name)."""
    port = free_port()
    nginx = find_nginx(install)
    with tempfile.TemporaryDirectory(prefix="crawler-bench-") as run:
        if nginx:
            conf = Path(run) / "nginx.conf"
            # As root, nginx's workers would drop to "nobody", who may not read a private
            # folder (pytest's tmp, a home directory): keep them as root, on loopback only.
            user = "user root;\n" if os.geteuid() == 0 else ""
            conf.write_text(_NGINX_CONF.format(user=user, run=run, port=port, root=root.resolve()))
            command = [nginx, "-c", str(conf), "-e", f"{run}/error.log"]
            name = "nginx"
        else:
            command = [sys.executable, "-m", "crawler.cli.bench.static", str(root), str(port)]
            name = "aiohttp static (nginx not found)"
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port)
            yield f"http://127.0.0.1:{port}/", name
        finally:
            process.terminate()
            process.wait(10)
