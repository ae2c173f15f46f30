"""Exports built from the journal's committed records; run by the scheduler at the end of a run.

Only bytes inside committed ranges of the part files are ever exported.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from crawler.errors import JournalCorruptError, UsageError
from crawler.journal.parts import INVALID_MARK
from crawler.journal.records import Done, Failed, Record


def write_items(
    records: Iterable[Record], parts: Path, target: Path, invalid_target: Path | None = None
) -> int:
    """Write every committed item, in commit order, to `target` atomically; return the bytes.

    Items that failed the spider's item_schema (lines marked with INVALID_MARK) go to
    `invalid_target` instead, when there are any.
    """
    temp = target.with_name(f".{target.name}.tmp")
    handles: dict[str, BinaryIO] = {}
    total = 0
    invalid_temp = (
        invalid_target.with_name(f".{invalid_target.name}.tmp") if invalid_target else None
    )
    quarantine: BinaryIO | None = None  # opened at the first invalid item
    try:
        with open(temp, "wb") as out:
            for record in records:
                if not isinstance(record, Done | Failed) or record.end == record.start:
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
                if record.invalid:
                    lines = chunk.splitlines(keepends=True)
                    if invalid_temp is not None:
                        if quarantine is None:
                            quarantine = open(invalid_temp, "wb")  # noqa: SIM115
                        bad = (line[1:] for line in lines if line.startswith(INVALID_MARK))
                        quarantine.writelines(bad)
                    chunk = b"".join(line for line in lines if not line.startswith(INVALID_MARK))
                out.write(chunk)
                total += len(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)  # no half-written export left behind
        if invalid_temp is not None:
            invalid_temp.unlink(missing_ok=True)
        raise
    finally:
        for handle in handles.values():
            handle.close()
        if quarantine is not None:
            quarantine.close()
    os.replace(temp, target)
    if quarantine is not None and invalid_temp is not None and invalid_target is not None:
        os.replace(invalid_temp, invalid_target)
    return total


def write_errors(records: Iterable[Record], target: Path) -> int:
    """Write one JSON line per request that finally failed; return the count."""
    with ErrorLog(target) as errors:
        for record in records:
            errors.add(record)
    return errors.count


class ErrorLog:
    """errors.jsonl, written as the journal's records stream by (atomically, at the end).

    `passing(records)` writes the failures among records that another export is reading,
    so that one pass over the journal makes both files.
    """

    def __init__(self, target: Path) -> None:
        self.target = target
        self.temp = target.with_name(f".{target.name}.tmp")
        self.count = 0
        self._out: Any = None

    def __enter__(self) -> ErrorLog:
        self._out = open(self.temp, "w", encoding="utf-8")
        return self

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        self._out.close()
        if kind is None:
            os.replace(self.temp, self.target)
        else:
            self.temp.unlink(missing_ok=True)

    def add(self, record: Record) -> None:
        """Write `record` if it is a request that finally failed."""
        if isinstance(record, Failed):
            line = {
                "url": record.url,
                "reason": record.reason,
                "attempts": record.attempts,
                "status": record.status or None,
                "state": "dead" if record.dead else "failed",
            }
            self._out.write(json.dumps(line) + "\n")
            self.count += 1

    def passing(self, records: Iterable[Record]) -> Iterator[Record]:
        """Every record of `records`, unchanged, the failures written on the way."""
        for record in records:
            self.add(record)
            yield record


FORMATS = {".jsonl": "jsonl", ".jl": "jsonl", ".json": "json", ".csv": "csv"}
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def format_of(path: Path) -> str:
    """The export format named by a file's extension, or UsageError listing the choices."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        choices = ", ".join(sorted(FORMATS))
        raise UsageError(f"-o {path}: unknown output format {path.suffix!r}; use one of {choices}")
    return fmt


def convert(source: Path, destination: Path, fmt: str, escape_formulas: bool = True) -> None:
    """Write the items of `source` (JSON lines) to `destination` as jsonl, json or csv."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    temp = destination.with_name(f".{destination.name}.tmp")
    if fmt == "jsonl":
        shutil.copyfile(source, temp)
    elif fmt == "json":
        with open(source, "rb") as lines, open(temp, "wb") as out:
            out.write(b"[")
            for index, line in enumerate(lines):
                out.write((b",\n" if index else b"\n") + line.rstrip(b"\n"))
            out.write(b"\n]\n")
    else:
        _write_csv(source, temp, escape_formulas)
    os.replace(temp, destination)


def _write_csv(source: Path, target: Path, escape_formulas: bool) -> None:
    """One header (every field seen, in first-seen order), then one row per item."""
    fields: dict[str, None] = {}
    with open(source, "rb") as lines:
        for line in lines:
            fields.update(dict.fromkeys(_flat(json.loads(line))))
    with open(source, "rb") as lines, open(target, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(fields))
        writer.writeheader()
        for line in lines:
            row = _flat(json.loads(line))
            writer.writerow({k: _cell(v, escape_formulas) for k, v in row.items()})


def _flat(item: Any) -> dict[str, Any]:
    return item if isinstance(item, dict) else {"value": item}


def _cell(value: Any, escape_formulas: bool) -> Any:
    """Nested values as JSON; text that a spreadsheet would run as a formula gets a quote."""
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False)
    if escape_formulas and isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value
