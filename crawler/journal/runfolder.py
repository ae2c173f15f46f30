"""Run folders: `<output root>/<spider>/<run-id>/` with `job/`, exports and the `latest` link.

Used by the scheduler before any worker starts.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crawler.errors import JobLockedError, UsageError


@dataclass
class RunFolder:
    """One run of one spider, and the lock that makes it ours."""

    path: Path
    resumed: bool
    _lock_fd: int = field(default=-1, repr=False)

    @property
    def job(self) -> Path:
        return self.path / "job"

    @property
    def journal(self) -> Path:
        return self.job / "journal.bin"

    @property
    def parts(self) -> Path:
        return self.job / "parts"

    def lock(self) -> None:
        """Take the run's lock, or raise JobLockedError naming the holder."""
        self.parts.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock_path = self.job / "lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise JobLockedError(f"run folder {self.path} is in use by PID {holder}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def write_json(self, name: str, data: Any, in_job: bool = False) -> None:
        """Write a small JSON file atomically."""
        target = (self.job if in_job else self.path) / name
        atomic_write(target, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def atomic_write(target: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `target`, fsync, then rename over it."""
    temp = target.with_name(f".{target.name}.tmp")
    with open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, target)


def is_finished(run: Path) -> bool:
    """Whether a run completed (its stats say so)."""
    try:
        stats = json.loads((run / "stats.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(stats.get("state") == "finished")


def choose(output_root: Path, spider: str, fresh: bool) -> RunFolder:
    """The run to resume (the latest, if unfinished) or a new one."""
    spider_dir = output_root / spider
    latest = spider_dir / "latest"
    if not fresh and latest.exists():
        run = latest.resolve()
        if (run / "job" / "journal.bin").exists() and not is_finished(run):
            return RunFolder(run, resumed=True)
        if not (run / "job" / "journal.bin").exists() and not (run / "stats.json").exists():
            return RunFolder(run, resumed=False)  # killed before it began: begin it now
    return RunFolder(_new_run(spider_dir), resumed=False)


def _new_run(spider_dir: Path) -> Path:
    try:
        spider_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create output folder {spider_dir}: {exc.strerror}") from exc
    if not os.access(spider_dir, os.W_OK):
        raise UsageError(f"output folder {spider_dir} is not writable")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for suffix in range(1000):
        name = stamp if suffix == 0 else f"{stamp}-{suffix}"
        try:
            (spider_dir / name).mkdir(mode=0o700)
        except FileExistsError:
            continue
        _point_latest(spider_dir, name)
        return spider_dir / name
    raise UsageError(f"cannot create a run folder in {spider_dir}")  # pragma: no cover


def _point_latest(spider_dir: Path, name: str) -> None:
    temp = spider_dir / ".latest.tmp"
    temp.unlink(missing_ok=True)
    temp.symlink_to(name)
    os.replace(temp, spider_dir / "latest")


def sweep_sockets(spider_dir: Path, socket_dir_of: Callable[[Path], Path]) -> int:
    """Remove the socket folders that killed runs of this spider left; return how many.

    A run whose lock is free has no live crawl, so nothing listens in its folder.
    """
    removed = 0
    for run in spider_dir.iterdir() if spider_dir.is_dir() else ():
        folder = socket_dir_of(run)
        if run.is_symlink() or not folder.exists() or not _is_unlocked(run / "job" / "lock"):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed += 1
    return removed


def _is_unlocked(lock_path: Path) -> bool:
    try:
        fd = os.open(lock_path, os.O_RDWR)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True
