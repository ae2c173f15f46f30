"""Running one crawl as a child process and measuring wall time, CPU time and peak memory."""

from __future__ import annotations

import contextlib
import resource
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Run:
    """One measured crawl."""

    crawler: str
    config: str
    wall: float
    cpu: float
    peak_rss: int
    pages: int
    items_correct: bool
    returncode: int

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.wall if self.wall else 0.0

    @property
    def cpu_ms_per_page(self) -> float:
        return 1000 * self.cpu / self.pages if self.pages else 0.0


def run_measured(command: list[str], cwd: Path, log: Path) -> tuple[float, float, int, int]:
    """Run `command`; return (wall seconds, CPU seconds of it and its children, peak RSS, code).

    CPU comes from RUSAGE_CHILDREN (every reaped descendant); memory is the sum of the
    resident sets of the whole process tree, sampled every 50 ms.
    """
    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with open(log, "w") as output:
        process = psutil.Popen(command, cwd=cwd, stdout=output, stderr=subprocess.STDOUT)
        peak = 0
        while process.poll() is None:
            peak = max(peak, _tree_rss(process))
            time.sleep(0.05)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, peak, int(process.returncode)


def _tree_rss(process: object) -> int:
    import psutil

    assert isinstance(process, psutil.Process)
    total = 0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for member in members:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += member.memory_info().rss
    return total
