"""journal.py: round trips, torn tails, corruption anywhere else, versions and headers.

Also failpoints.py (the fault injection that the crash tests of the journal rely on):
parsing CRAWLER_FAILPOINTS, nth hits, URL filters, once-per-crawl markers.
"""

from __future__ import annotations

import errno
import os
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import msgspec
import pytest

from crawler import failpoints
from crawler.errors import JournalCorruptError
from crawler.failpoints import _parse, _Point, enabled, failpoint
from crawler.journal.records import (
    VERSION,
    Closed,
    Done,
    Failed,
    Header,
    JournalWriter,
    Reader,
    Requeued,
    Seeded,
    frame,
    read,
)
from crawler.wire.messages import RequestSpec


def sample_records() -> list[Any]:
    spec = RequestSpec(
        "http://example.com/a?x=1",
        id=2,
        method="POST",
        headers={"X-A": "1"},
        body=b"\x00\xff",
        callback="parse_item",
        meta={"k": [1, "two", None, {"n": 1.5}]},
        priority=-3,
        dont_filter=True,
        depth=4,
        fingerprint=2**64 - 1,
        attempts=1,
        crashes=2,
    )
    return [
        Header(VERSION, "demo", '{"settings": 1}'),
        Seeded(3, [RequestSpec("http://example.com/", id=1, fingerprint=11)]),
        Done(1, 200, "part-0001.jsonl", 0, 120, 3, [spec]),
        Failed(5, "http://example.com/x", "HTTP 404", 1, 404),
        Failed(6, "http://example.com/y", "worker crashed 3 times", 3, 0, dead=True),
        Requeued(7, 2, 1),
        Done(8, 200, "part-0001.jsonl", 120, 120, 0, []),
        Closed("finished", 0),
    ]


def write_journal(path: Path, records: list[Any]) -> list[int]:
    """Write `records` one flush each; return the offset where each record starts."""
    writer = JournalWriter(path)
    offsets = []
    for record in records:
        offsets.append(path.stat().st_size)
        writer.append(record)
        writer.flush()
    writer.close()
    return offsets


def test_round_trip_of_every_record_type(tmp_path: Path) -> None:
    path = tmp_path / "journal.bin"
    records = sample_records()
    write_journal(path, records)
    read_back, length = read(path)
    assert read_back == records
    assert length == path.stat().st_size
    assert [type(r).__name__ for r in read_back] == [
        "Header",
        "Seeded",
        "Done",
        "Failed",
        "Failed",
        "Requeued",
        "Done",
        "Closed",
    ]
    assert read_back[2].requests[0].body == b"\x00\xff"  # type: ignore[union-attr]
    assert read_back[4].dead is True  # type: ignore[union-attr]
    assert [r.id for r in read_back if isinstance(r, Done)] == [1, 8]


def test_records_queue_until_flush(tmp_path: Path) -> None:
    path = tmp_path / "journal.bin"
    writer = JournalWriter(path)
    writer.append(Header(VERSION, "s", "{}"))
    writer.append(Closed("finished", 0))
    assert path.stat().st_size == 0
    writer.flush()
    assert writer.unsynced
    size = path.stat().st_size
    assert size == len(frame(Header(VERSION, "s", "{}"))) + len(frame(Closed("finished", 0)))
    writer.sync()
    assert not writer.unsynced
    writer.close()
    writer.close()  # a second close does nothing
    assert read(path) == ([Header(VERSION, "s", "{}"), Closed("finished", 0)], size)


def test_reopen_appends(tmp_path: Path) -> None:
    path = tmp_path / "journal.bin"
    write_journal(path, sample_records()[:2])
    _, length = read(path)
    writer = JournalWriter(path, length)
    writer.append(Closed("max_pages", 4))
    writer.close()
    assert read(path)[0] == [*sample_records()[:2], Closed("max_pages", 4)]


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "journal.bin"
    path.write_bytes(b"")
    assert read(path) == ([], 0)


def test_torn_last_record_is_cut_at_every_offset(tmp_path: Path) -> None:
    path = tmp_path / "journal.bin"
    records = sample_records()
    offsets = write_journal(path, records)
    data = path.read_bytes()
    last = offsets[-1]
    for cut in range(last, len(data)):
        path.write_bytes(data[:cut])
        read_back, length = read(path)
        assert read_back == records[:-1], cut
        assert length == last, cut


def test_torn_tail_is_cut_off_when_the_writer_reopens(tmp_path: Path) -> None:
    path = tmp_path / "journal.bin"
    records = sample_records()
    offsets = write_journal(path, records)
    data = path.read_bytes()
    path.write_bytes(data[: offsets[-1] + 5])
    _, length = read(path)
    writer = JournalWriter(path, length)
    writer.append(Closed("finished", 1))
    writer.close()
    assert read(path) == ([*records[:-1], Closed("finished", 1)], len(data))


def test_zeros_after_the_last_record_are_a_torn_tail(tmp_path: Path) -> None:
    """A system crash can leave the file longer than what was written, filled with zeros."""
    path = tmp_path / "journal.bin"
    records = sample_records()
    write_journal(path, records)
    data = path.read_bytes()
    for zeros in (1, 11, 12, 13, 4096):
        path.write_bytes(data + bytes(zeros))
        assert read(path) == (records, len(data)), zeros


@pytest.mark.parametrize("index", [1, 2, 3, 6])
def test_a_flipped_byte_in_a_middle_record_fails_closed(tmp_path: Path, index: int) -> None:
    """Every byte of a middle record: the frame (its length too) and the payload."""
    path = tmp_path / "journal.bin"
    records = sample_records()
    offsets = write_journal(path, records)
    data = path.read_bytes()
    for position in range(offsets[index], offsets[index + 1]):
        for flip in (0x01, 0x80, 0xFF):
            damaged = bytearray(data)
            damaged[position] ^= flip
            path.write_bytes(bytes(damaged))
            with pytest.raises(JournalCorruptError) as info:
                read(path)
            message = str(info.value)
            assert f"journal {path} is corrupt at byte {offsets[index]}" in message, position
            assert "--fresh" in message


def test_a_huge_length_in_a_middle_record_is_not_taken_for_a_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "journal.bin"
    offsets = write_journal(path, sample_records())
    damaged = bytearray(path.read_bytes())
    damaged[offsets[2] + 3] = 0x7F  # the length's high byte: the record "runs past the end"
    path.write_bytes(bytes(damaged))
    with pytest.raises(JournalCorruptError, match="frame checksum"):
        read(path)


def test_a_flipped_byte_in_the_header_record_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "journal.bin"
    offsets = write_journal(path, sample_records())
    data = path.read_bytes()
    for position in range(offsets[0], offsets[1]):
        damaged = bytearray(data)
        damaged[position] ^= 0x01
        path.write_bytes(bytes(damaged))
        with pytest.raises(JournalCorruptError):
            read(path)


def test_wrong_version_says_fresh(tmp_path: Path) -> None:
    path = tmp_path / "journal.bin"
    write_journal(path, [Header(VERSION + 1, "demo", "{}"), Closed("finished", 0)])
    with pytest.raises(JournalCorruptError) as info:
        read(path)
    message = str(info.value)
    assert f"has version {VERSION + 1}" in message
    assert f"reads version {VERSION}" in message
    assert "start over with --fresh" in message


def test_version_is_checked_before_the_other_records_are_decoded(tmp_path: Path) -> None:
    """A later version may have other record layouts: report the version, not 'corrupt'."""
    path = tmp_path / "journal.bin"
    encoder = msgspec.msgpack.Encoder()
    payloads = [
        encoder.encode(["Header", VERSION + 1, "demo", "{}", "a new field"]),
        encoder.encode(["NewRecord", 1, 2, 3]),
    ]
    with path.open("wb") as out:
        for payload in payloads:
            out.write(_raw_frame(payload))
    with pytest.raises(JournalCorruptError, match=f"has version {VERSION + 1}.*--fresh"):
        read(path)


def test_version_1_journal_is_reported_as_an_old_version(tmp_path: Path) -> None:
    """Version 1 framed records without a frame checksum."""
    path = tmp_path / "journal.bin"
    payload = msgspec.msgpack.encode(Header(1, "demo", "{}"))
    path.write_bytes(struct.pack("<II", len(payload), zlib.crc32(payload)) + payload)
    with pytest.raises(JournalCorruptError, match=r"has version 1, .*--fresh"):
        read(path)


def test_file_not_starting_with_a_header(tmp_path: Path) -> None:
    path = tmp_path / "journal.bin"
    write_journal(path, [Closed("finished", 0), Header(VERSION, "demo", "{}")])
    with pytest.raises(JournalCorruptError, match="does not start with a header"):
        read(path)


def test_garbage_file(tmp_path: Path) -> None:
    path = tmp_path / "journal.bin"
    path.write_bytes(b"this is not a journal at all, just some text\n" * 3)
    with pytest.raises(JournalCorruptError, match="corrupt at byte 0"):
        read(path)


def test_undecodable_payload_with_a_valid_checksum(tmp_path: Path) -> None:
    path = tmp_path / "journal.bin"
    write_journal(path, [Header(VERSION, "demo", "{}")])
    with path.open("ab") as out:
        out.write(_raw_frame(b"\xc1"))  # 0xc1 is never used in msgpack
        out.write(frame(Closed("finished", 0)))
    with pytest.raises(JournalCorruptError, match="cannot be decoded"):
        read(path)


def test_a_failed_write_leaves_no_half_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC half-way: the file is cut back, and the records stay queued for the next flush."""
    path = tmp_path / "journal.bin"
    writer = JournalWriter(path)
    writer.append(Header(VERSION, "demo", "{}"))
    writer.flush()
    good = path.stat().st_size
    real_write = os.write
    calls = {"n": 0}

    def failing_write(fd: int, data: Any) -> int:
        if fd != journal_fd:
            return real_write(fd, data)
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, bytes(data[:5]))  # a short write
        raise OSError(errno.ENOSPC, "No space left on device")

    journal_fd = writer._fd
    monkeypatch.setattr(os, "write", failing_write)
    writer.append(Seeded(1, [RequestSpec("http://example.com/", id=1, fingerprint=3)]))
    with pytest.raises(OSError, match="No space"):
        writer.flush()
    assert calls["n"] == 2
    assert path.stat().st_size == good
    monkeypatch.setattr(os, "write", real_write)
    writer.append(Closed("finished", 0))
    writer.close()
    records, length = read(path)
    assert records == [
        Header(VERSION, "demo", "{}"),
        Seeded(1, [RequestSpec("http://example.com/", id=1, fingerprint=3)]),
        Closed("finished", 0),
    ]
    assert length == path.stat().st_size


def _raw_frame(payload: bytes) -> bytes:
    head = struct.pack("<II", len(payload), zlib.crc32(payload))
    return head + struct.pack("<I", zlib.crc32(head)) + payload


# ---- failpoints ---------------------------------------------------------------------


def configure(monkeypatch: pytest.MonkeyPatch, spec: str, once_dir: str = "") -> None:
    monkeypatch.setattr(failpoints, "_POINTS", _parse(spec))
    monkeypatch.setattr(failpoints, "_ONCE_DIR", once_dir)


def test_parse_entries() -> None:
    points = _parse(
        "parser.after_item:2=kill@/page/17; downloader.mid_frame=abort ;"
        "scheduler.before_journal=sleep:0.5;parser.after_item=raise;;"
    )
    assert points == {
        "parser.after_item": [_Point("kill", 2, "/page/17"), _Point("raise", 0, "")],
        "downloader.mid_frame": [_Point("abort", 0, "")],
        "scheduler.before_journal": [_Point("sleep:0.5", 0, "")],
    }


def test_parse_url_with_equals_and_colons() -> None:
    points = _parse("downloader.after_fetch=enospc@http://h:8080/p?id=3")
    assert points == {"downloader.after_fetch": [_Point("enospc", 0, "http://h:8080/p?id=3")]}


def test_parse_nothing() -> None:
    assert _parse("") == {}
    assert _parse(" ; ") == {}


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("parser.after_item", "expected NAME[:N[+]]=ACTION[@URL]"),
        ("=kill", "expected NAME[:N[+]]=ACTION[@URL]"),
        (
            "parser.after_item=kil",
            "unknown action 'kil' (one of kill, abort, sleep, enospc, raise)",
        ),
        ("parser.after_item=", "unknown action ''"),
        ("parser.after_item:x=kill", "N must be a whole number >= 1, got 'x'"),
        ("parser.after_item:0=kill", "N must be a whole number >= 1, got '0'"),
        ("parser.after_item:=kill", "N must be a whole number >= 1, got ''"),
        ("parser.after_item:0+=kill", "N must be a whole number >= 1, got '0+'"),
        ("parser.after_item:+=kill", "N must be a whole number >= 1, got '+'"),
        ("parser.after_item=sleep:soon", "sleep takes seconds, got 'soon'"),
        ("parser.after_item=kill:9", "action 'kill' takes no argument"),
    ],
)
def test_parse_refuses_malformed_entries(spec: str, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        _parse(spec)
    assert fragment in str(info.value)
    assert repr(spec) in str(info.value)


def test_nothing_configured_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch, "")
    failpoint("parser.after_item", "http://x/")
    assert not enabled("parser.after_item")


def test_raise_fires_on_every_hit(monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch, "parser.after_item=raise")
    assert enabled("parser.after_item")
    assert not enabled("parser.after_write")
    for _ in range(3):
        with pytest.raises(RuntimeError, match=r"failpoint raised \(raise\)"):
            failpoint("parser.after_item")
    failpoint("parser.after_write")  # another name: nothing


def test_enospc(monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch, "scheduler.before_journal=enospc")
    with pytest.raises(OSError) as info:
        failpoint("scheduler.before_journal")
    assert info.value.errno == errno.ENOSPC


def test_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch, "parser.before_ack=sleep:0.05")
    started = time.monotonic()
    failpoint("parser.before_ack")
    assert time.monotonic() - started >= 0.05


def test_nth_hit_only(monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch, "parser.after_item:3=raise")
    failpoint("parser.after_item")
    failpoint("parser.after_item")
    with pytest.raises(RuntimeError):
        failpoint("parser.after_item")
    failpoint("parser.after_item")  # the 4th and later hits pass
    failpoint("parser.after_item")


def test_every_hit_from_the_nth_on(monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch, "journal.write:2+=enospc")
    assert _parse("journal.write:2+=enospc") == {
        "journal.write": [_Point("enospc", 2, "", onward=True)]
    }
    failpoint("journal.write")
    for _ in range(3):  # the 2nd hit and every one after it
        with pytest.raises(OSError):
            failpoint("journal.write")


def test_url_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch, "parser.after_item:2=raise@/page/17")
    failpoint("parser.after_item", "http://h/page/17")  # 1st matching hit
    failpoint("parser.after_item", "http://h/page/3")  # does not match: not counted
    failpoint("parser.after_item")  # no URL: does not match
    with pytest.raises(RuntimeError):
        failpoint("parser.after_item", "http://h/page/17?x=1")  # 2nd matching hit


def test_several_entries_for_one_name(monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch, "downloader.after_fetch=raise@/a;downloader.after_fetch=enospc@/b")
    with pytest.raises(RuntimeError):
        failpoint("downloader.after_fetch", "http://h/a")
    with pytest.raises(OSError):
        failpoint("downloader.after_fetch", "http://h/b")
    failpoint("downloader.after_fetch", "http://h/c")


def test_once_dir_fires_once_across_restarts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    configure(monkeypatch, "parser.after_item=raise", str(tmp_path))
    with pytest.raises(RuntimeError):
        failpoint("parser.after_item")
    assert (tmp_path / "parser.after_item").exists()
    failpoint("parser.after_item")  # claimed: no more
    configure(monkeypatch, "parser.after_item=raise", str(tmp_path))  # "a restarted process"
    failpoint("parser.after_item")


def test_once_dir_with_nth_hit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    configure(monkeypatch, "parser.after_item:2=raise", str(tmp_path))
    failpoint("parser.after_item")
    assert not (tmp_path / "parser.after_item").exists()  # not claimed before it fires
    with pytest.raises(RuntimeError):
        failpoint("parser.after_item")
    configure(monkeypatch, "parser.after_item:2=raise", str(tmp_path))
    failpoint("parser.after_item")
    failpoint("parser.after_item")  # the 2nd hit of the new process: already fired once


def test_once_dir_is_per_name(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    configure(monkeypatch, "parser.after_item=raise;parser.after_write=raise", str(tmp_path))
    with pytest.raises(RuntimeError):
        failpoint("parser.after_item")
    with pytest.raises(RuntimeError):
        failpoint("parser.after_write")
    failpoint("parser.after_item")
    failpoint("parser.after_write")


@pytest.mark.parametrize("chunk", [16, 64, 1000, 1 << 20])
def test_the_reader_streams_records_across_chunk_boundaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(Reader, "CHUNK", chunk)
    path = tmp_path / "journal.bin"
    records = sample_records() * 40
    data = b"".join(frame(r) for r in records)
    path.write_bytes(data + frame(Closed("finished", 0))[:-3])  # a torn last record
    reader = Reader(path)
    assert list(reader) == records
    assert reader.valid == len(data)
    path.write_bytes(data + bytes(5000))  # zeros a system crash left
    reader = Reader(path)
    assert list(reader) == records and reader.valid == len(data)
    damaged = bytearray(data)
    damaged[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(damaged))
    with pytest.raises(JournalCorruptError, match="is corrupt at byte"):
        list(Reader(path))


def test_replay_keeps_only_seen_fingerprints_and_reads_pending_requests_again() -> None:
    from crawler.journal.replay import replay
    from crawler.journal.stats import CrawlStats

    start = RequestSpec("http://a.com/", id=1, fingerprint=11)
    again = RequestSpec("http://a.com/x", id=7, fingerprint=0)  # fingerprint left to compute
    free = RequestSpec("http://a.com/free", id=3, dont_filter=True)
    records: list[Any] = [
        Header(VERSION, "demo", "{}"),
        Seeded(1, [start]),
        Done(1, 200, "p", 0, 10, 1, [again, free]),
        Requeued(7, 1, 0),
    ]
    passes: list[int] = []

    def again() -> list[Any]:
        passes.append(1)
        return records

    state = replay(iter(records), CrawlStats(), again)
    assert passes == [] and state.pending_count == 2  # nothing read again yet
    pending = list(state.pending)
    assert [r.id for r in pending] == [7, 3] and pending[0].attempts == 1 and passes == [1]
    assert state.next_id == 8 and state.consumed == 1 and not state.closed
    assert 11 in state.seen and len(state.seen) == 2  # dont_filter is never "seen"


def test_an_id_set_is_a_bitmap_that_grows() -> None:
    from crawler.journal.replay import IdSet

    ids = IdSet()
    assert ids.add(5) and not ids.add(5) and 5 in ids and 6 not in ids
    assert ids.add(10_000_000) and 10_000_000 in ids and 9_999_999 not in ids
    assert len(ids) == 2 and 10**9 not in ids


def test_a_reader_with_a_limit_stops_there(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    writer = JournalWriter(path)
    writer.append(Header(VERSION, "demo", "{}"))
    writer.append(Seeded(1, [RequestSpec("http://a.com/", id=1)]))
    writer.flush()
    limit = path.stat().st_size
    writer.append(Seeded(2, [RequestSpec("http://a.com/2", id=2)]))
    writer.flush()
    assert len(list(Reader(path))) == 3
    reader = Reader(path, limit=limit)
    assert len(list(reader)) == 2 and reader.valid == limit


def test_replay_of_many_pending_requests_holds_none_of_them(tmp_path: Path) -> None:
    """The first pass keeps fingerprints and a bitmap; pending requests are read again."""
    import tracemalloc

    from crawler.journal.replay import replay
    from crawler.journal.stats import CrawlStats

    path = tmp_path / "journal"
    writer = JournalWriter(path)
    writer.append(Header(VERSION, "demo", "{}"))
    count = 50_000
    for batch in range(0, count, 1000):
        specs = [
            RequestSpec(f"http://a.com/page/{i}?q={'x' * 100}", id=i + 1, fingerprint=i + 1)
            for i in range(batch, batch + 1000)
        ]
        writer.append(Seeded(batch + 1000, specs))
    writer.append(Done(1, 200, "p", 0, 10, 1, []))
    writer.flush()
    records = iter(Reader(path))
    next(records)
    tracemalloc.start()
    try:
        state = replay(records, CrawlStats(), lambda: Reader(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert state.pending_count == count - 1
    assert peak < 6 * 2**20  # the requests themselves would take about 36 MB
    assert sum(1 for _ in state.pending) == count - 1
