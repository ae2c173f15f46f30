"""Per-process counters in shared memory; written by each worker, read by the scheduler."""

from __future__ import annotations

import time
from ctypes import c_double
from multiprocessing.sharedctypes import RawArray
from typing import Any

FIELDS = ("heartbeat", "pages", "bytes", "items", "current", "pid")
_WIDTH = len(FIELDS)
HEARTBEAT, PAGES, BYTES, ITEMS, CURRENT, PID = range(_WIDTH)


def allocate(slots: int) -> Any:
    """A zeroed block for `slots` workers; pass it to each worker at spawn."""
    return RawArray(c_double, slots * _WIDTH)


class Counters:
    """One worker's view of its row of the shared block."""

    def __init__(self, block: Any, slot: int) -> None:
        self._block = block
        self._base = slot * _WIDTH

    def add(self, field: int, amount: float = 1) -> None:
        self._block[self._base + field] += amount

    def set(self, field: int, value: float) -> None:
        self._block[self._base + field] = value

    def get(self, field: int) -> float:
        return float(self._block[self._base + field])

    def beat(self) -> None:
        self._block[self._base + HEARTBEAT] = time.monotonic()

    def reset(self) -> None:
        for field in range(_WIDTH):
            self._block[self._base + field] = 0.0
