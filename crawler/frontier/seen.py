"""The seen set: 64-bit request fingerprints in an open-addressing array; used by the scheduler.

8 bytes per slot, at a load factor between 1/2 and 3/4 (so at most 16 bytes per fingerprint,
about 13 on average), against about 65 bytes for a Python `set` of ints.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator

_EMPTY = 0
_MASK64 = (1 << 64) - 1
_MIN_SLOTS = 9

# The home slot of `fp` is `hash(fp) % size`: hash() of an int is the int modulo the prime
# 2**61 - 1, so every bit counts, and an odd `size` spreads values that are alike in their
# low bits (or that form any arithmetic progression) over all slots.


class FingerprintSet:
    """A set of non-zero 64-bit integers with linear probing."""

    def __init__(self, capacity: int = 1024) -> None:
        self._table = array("Q", bytes(8 * (max(_MIN_SLOTS, capacity * 4 // 3 + 1) | 1)))
        self._size = len(self._table)
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __repr__(self) -> str:
        return f"<FingerprintSet len={self._count} slots={self._size}>"

    @property
    def nbytes(self) -> int:
        """Bytes held by the table."""
        return self._table.buffer_info()[1] * self._table.itemsize

    def add(self, fp: int) -> bool:
        """Add `fp` (1 <= fp < 2**64); return True if it was new."""
        if not 0 < fp <= _MASK64:
            raise ValueError(f"a fingerprint must be a non-zero unsigned 64-bit int, got {fp!r}")
        table, size = self._table, self._size
        index = hash(fp) % size
        while True:
            value = table[index]
            if value == fp:
                return False
            if value == _EMPTY:
                table[index] = fp
                self._count += 1
                if self._count * 4 > size * 3:
                    self._grow()
                return True
            index += 1
            if index == size:
                index = 0

    def __contains__(self, fp: object) -> bool:
        if not isinstance(fp, int) or not 0 < fp <= _MASK64:
            return False
        table, size = self._table, self._size
        index = hash(fp) % size
        while True:
            value = table[index]
            if value == fp:
                return True
            if value == _EMPTY:
                return False
            index += 1
            if index == size:
                index = 0

    def update(self, fps: Iterable[int]) -> None:
        for fp in fps:
            self.add(fp)

    def __iter__(self) -> Iterator[int]:
        return (value for value in self._table if value != _EMPTY)

    def _grow(self) -> None:
        """Grow by half: the load drops from 3/4 to 1/2, never below."""
        size = (self._size * 3 // 2) | 1
        table = array("Q", bytes(8 * size))
        for fp in self._table:
            if fp != _EMPTY:
                index = hash(fp) % size
                while table[index] != _EMPTY:
                    index += 1
                    if index == size:
                        index = 0
                table[index] = fp
        self._table, self._size = table, size
