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
    peak_memory: int
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
    """Run `command`; return (wall seconds, CPU seconds of it and its children, peak memory,
    exit code).

    CPU comes from RUSAGE_CHILDREN (every reaped descendant).  Memory is the sum over the
    whole process tree, sampled every 50 ms, of each process's proportional set size (PSS:
    a page shared by n processes counts 1/n in each), so that the pages that forked
    workers share with their fork server count once; the resident set where the system
    has no PSS.
    """
    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with open(log, "w") as output:
        process = psutil.Popen(command, cwd=cwd, stdout=output, stderr=subprocess.STDOUT)
        peak = 0
        while process.poll() is None:
            peak = max(peak, _tree_memory(process))
            time.sleep(0.05)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, peak, int(process.returncode)


def _tree_memory(process: object) -> int:
    import psutil

    assert isinstance(process, psutil.Process)
    total = 0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for member in members:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += _memory(member)
    return total


def _memory(process: object) -> int:
    import psutil

    assert isinstance(process, psutil.Process)
    if _HAS_PSS:
        return int(process.memory_full_info().pss)
    return int(process.memory_info().rss)


_HAS_PSS = Path("/proc/self/smaps_rollup").exists()
