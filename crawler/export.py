"""Exports built from the journal's committed records; run by the scheduler at the end of a run.

Only bytes inside committed ranges of the part files are ever exported.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import BinaryIO

from crawler.errors import JournalCorruptError
from crawler.journal import Done, Failed, Record


def write_items(records: list[Record], parts: Path, target: Path) -> int:
    """Write every committed item, in commit order, to `target` atomically; return the bytes."""
    temp = target.with_name(f".{target.name}.tmp")
    handles: dict[str, BinaryIO] = {}
    total = 0
    try:
        with open(temp, "wb") as out:
            for record in records:
                if not isinstance(record, Done) or record.end == record.start:
                    continue
                part = handles.get(record.part)
                if part is None:
                    part = handles[record.part] = open(parts / record.part, "rb")  # noqa: SIM115
                part.seek(record.start)
                chunk = part.read(record.end - record.start)
                if len(chunk) != record.end - record.start:
                    raise JournalCorruptError(
                        f"part file {record.part} is shorter than its committed range "
                        f"[{record.start}, {record.end}) (was the disk lost?)"
                    )
                out.write(chunk)
                total += len(chunk)
            out.flush()
            os.fsync(out.fileno())
    finally:
        for handle in handles.values():
            handle.close()
    os.replace(temp, target)
    return total


def write_errors(records: list[Record], target: Path) -> int:
    """Write one JSON line per request that finally failed; return the count."""
    temp = target.with_name(f".{target.name}.tmp")
    count = 0
    with open(temp, "w", encoding="utf-8") as out:
        for record in records:
            if isinstance(record, Failed):
                line = {
                    "url": record.url,
                    "reason": record.reason,
                    "attempts": record.attempts,
                    "status": record.status or None,
                    "state": "dead" if record.dead else "failed",
                }
                out.write(json.dumps(line) + "\n")
                count += 1
    os.replace(temp, target)
    return count


def copy_to(source: Path, destination: Path) -> None:
    """The `-o FILE` export: one more copy of items.jsonl."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    temp = destination.with_name(f".{destination.name}.tmp")
    shutil.copyfile(source, temp)
    os.replace(temp, destination)
