"""The seen set: 64-bit request fingerprints in an open-addressing array; used by the scheduler.

About 8 bytes per slot at a load factor of at most 2/3 (12 bytes per fingerprint on
average), against about 65 bytes for a Python `set` of ints.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator

_EMPTY = 0


class FingerprintSet:
    """A set of non-zero 64-bit integers with linear probing."""

    def __init__(self, capacity: int = 1024) -> None:
        size = 1
        while size < capacity:
            size <<= 1
        self._table = array("Q", bytes(8 * size))
        self._mask = size - 1
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __repr__(self) -> str:
        return f"<FingerprintSet len={self._count} slots={self._mask + 1}>"

    def add(self, fp: int) -> bool:
        """Add `fp`; return True if it was new."""
        table, mask = self._table, self._mask
        index = (fp ^ (fp >> 29)) & mask
        while True:
            value = table[index]
            if value == fp:
                return False
            if value == _EMPTY:
                table[index] = fp
                self._count += 1
                if self._count * 3 > (mask + 1) * 2:
                    self._grow()
                return True
            index = (index + 1) & mask

    def __contains__(self, fp: object) -> bool:
        if not isinstance(fp, int):
            return False
        table, mask = self._table, self._mask
        index = (fp ^ (fp >> 29)) & mask
        while True:
            value = table[index]
            if value == fp:
                return True
            if value == _EMPTY:
                return False
            index = (index + 1) & mask

    def update(self, fps: Iterable[int]) -> None:
        for fp in fps:
            self.add(fp)

    def __iter__(self) -> Iterator[int]:
        return (value for value in self._table if value != _EMPTY)

    def _grow(self) -> None:
        old = self._table
        self._table = array("Q", bytes(16 * len(old)))
        self._mask = 2 * len(old) - 1
        self._count = 0
        for value in old:
            if value != _EMPTY:
                self.add(value)
