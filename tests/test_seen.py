"""seen.py: the FingerprintSet against a Python set, and its memory per fingerprint."""

from __future__ import annotations

import random

import pytest

from crawler.frontier.seen import FingerprintSet


def test_add_contains_len() -> None:
    seen = FingerprintSet()
    assert len(seen) == 0
    assert 5 not in seen
    assert seen.add(5) is True
    assert seen.add(5) is False
    assert 5 in seen
    assert 6 not in seen
    assert len(seen) == 1
    assert seen.add(2**64 - 1) is True
    assert 2**64 - 1 in seen
    assert len(seen) == 2


def test_growth_matches_a_python_set() -> None:
    rng = random.Random(20240601)
    seen, reference = FingerprintSet(capacity=4), set()
    added: list[int] = []
    for _ in range(200_000):
        if added and rng.random() < 0.1:
            value = rng.choice(added)  # a duplicate
        else:
            value = rng.getrandbits(64) or 1
            added.append(value)
        assert seen.add(value) is (value not in reference)
        reference.add(value)
    assert len(seen) == len(reference)
    assert set(seen) == reference
    assert all(value in seen for value in reference)
    misses = [rng.getrandbits(64) or 1 for _ in range(20_000)]
    assert [value in seen for value in misses] == [value in reference for value in misses]


def test_duplicates_after_many_resizes() -> None:
    seen = FingerprintSet(capacity=1)
    values = list(range(1, 50_001))
    assert all(seen.add(v) for v in values)
    assert not any(seen.add(v) for v in values)
    assert len(seen) == 50_000


@pytest.mark.parametrize(
    "make",
    [
        lambda k: (k << 40) | 0xABC,  # identical low 40 bits
        lambda k: k << 32,  # all low 32 bits zero
        lambda k: k | (0xFFFF << 48),  # identical high bits
        lambda k: k * 1024,  # an arithmetic progression
    ],
)
def test_values_with_identical_low_or_high_bits(make: object) -> None:
    values = [make(k) for k in range(1, 30_001)]  # type: ignore[operator]
    seen = FingerprintSet()
    for value in values:
        assert seen.add(value)
    assert len(seen) == len(values)
    assert sorted(seen) == sorted(values)
    assert all(value in seen for value in values)
    assert make(30_001) not in seen  # type: ignore[operator]


def test_iteration_yields_every_value_once() -> None:
    values = {3, 7, 2**63, 2**64 - 1, 12345678901234567}
    seen = FingerprintSet()
    seen.update(values)
    assert sorted(seen) == sorted(values)
    assert sorted(FingerprintSet()) == []


@pytest.mark.parametrize("bad", [0, -1, 2**64])
def test_values_outside_the_range_are_refused(bad: int) -> None:
    seen = FingerprintSet()
    with pytest.raises(ValueError, match="non-zero unsigned 64-bit"):
        seen.add(bad)
    assert bad not in seen
    assert len(seen) == 0


def test_contains_of_other_types_is_false() -> None:
    seen = FingerprintSet()
    seen.add(1)
    assert "1" not in seen
    assert None not in seen
    assert 1.5 not in seen


def test_memory_at_one_million_fingerprints() -> None:
    rng = random.Random(7)
    seen = FingerprintSet()
    seen.update(rng.getrandbits(64) or 1 for _ in range(1_000_000))
    assert len(seen) == 1_000_000  # (a collision among random 64-bit values: ~1e-7)
    table = seen._table
    buffer_bytes = table.buffer_info()[1] * table.itemsize
    assert buffer_bytes / len(seen) <= 16
    assert seen.nbytes == buffer_bytes


def test_memory_never_exceeds_16_bytes_per_fingerprint_once_grown() -> None:
    seen = FingerprintSet(capacity=8)
    worst = 0.0
    for value in range(1, 100_001):
        seen.add(value)
        if value >= 1000:
            worst = max(worst, seen.nbytes / len(seen))
    assert worst <= 16.01


def test_capacity_preallocates() -> None:
    seen = FingerprintSet(capacity=10_000)
    before = seen.nbytes
    seen.update(range(1, 10_001))
    assert seen.nbytes == before
    assert repr(seen).startswith("<FingerprintSet len=10000 slots=")
