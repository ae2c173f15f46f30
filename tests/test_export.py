"""Exports: JSON lines from committed ranges only; JSON and CSV conversions; -o formats."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from crawler.errors import JournalCorruptError, UsageError
from crawler.journal.export import ErrorLog, convert, format_of, write_items
from crawler.journal.records import Done, Failed, Header

ITEMS = [
    {"name": '=HYPERLINK("http://evil")', "price": -3, "tags": ["a", "b"]},
    {"name": "+plain", "extra": "@at", "price": 4.5},
    {"name": "ok"},
]


def jsonl(tmp_path: Path) -> Path:
    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps(item) + "\n" for item in ITEMS))
    return path


def test_only_committed_ranges_are_exported(tmp_path: Path) -> None:
    parts = tmp_path / "parts"
    parts.mkdir()
    (parts / "0-1.jsonl").write_bytes(b'{"a":1}\n{"torn":\n{"b":2}\n')
    records = [
        Header(2, "s", "{}"),
        Done(1, 200, "0-1.jsonl", 0, 8, 1, []),
        Done(2, 200, "0-1.jsonl", 17, 25, 1, []),
    ]
    write_items(records, parts, tmp_path / "items.jsonl")  # type: ignore[arg-type]
    assert (tmp_path / "items.jsonl").read_text() == '{"a":1}\n{"b":2}\n'


def test_one_pass_writes_items_and_errors_and_a_failed_pass_leaves_neither(
    tmp_path: Path,
) -> None:
    parts = tmp_path / "parts"
    parts.mkdir()
    (parts / "0-1.jsonl").write_bytes(b'{"a":1}\n')
    records = [
        Header(2, "s", "{}"),
        Failed(1, "http://a.test/x", "HTTP 404", 1, 404),
        Done(2, 200, "0-1.jsonl", 0, 8, 1, []),
    ]
    with ErrorLog(tmp_path / "errors.jsonl") as errors:
        write_items(errors.passing(records), parts, tmp_path / "items.jsonl")  # type: ignore[arg-type]
    assert (tmp_path / "items.jsonl").read_text() == '{"a":1}\n'
    (error,) = [json.loads(line) for line in (tmp_path / "errors.jsonl").read_text().splitlines()]
    assert error["url"] == "http://a.test/x" and error["status"] == 404
    broken = [*records, Done(3, 200, "0-1.jsonl", 8, 99, 1, [])]  # past the part's end
    with pytest.raises(JournalCorruptError), ErrorLog(tmp_path / "again.jsonl") as errors:
        write_items(errors.passing(broken), parts, tmp_path / "again-items.jsonl")  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["errors.jsonl", "items.jsonl", "parts"]


def test_json_export_is_one_array(tmp_path: Path) -> None:
    convert(jsonl(tmp_path), tmp_path / "out.json", "json")
    assert json.loads((tmp_path / "out.json").read_text()) == ITEMS


def test_empty_json_export(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("")
    convert(tmp_path / "empty.jsonl", tmp_path / "out.json", "json")
    assert json.loads((tmp_path / "out.json").read_text()) == []


def test_csv_has_one_header_and_neutralised_formulas(tmp_path: Path) -> None:
    convert(jsonl(tmp_path), tmp_path / "out.csv", "csv")
    with (tmp_path / "out.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["name", "price", "tags", "extra"]
    assert all(len(row) == 4 for row in rows)
    assert rows[1] == ['\'=HYPERLINK("http://evil")', "-3", '["a", "b"]', ""]
    assert rows[2] == ["'+plain", "4.5", "", "'@at"]  # numbers stay numbers


def test_csv_formulas_kept_when_asked(tmp_path: Path) -> None:
    convert(jsonl(tmp_path), tmp_path / "out.csv", "csv", escape_formulas=False)
    assert "\n=HYPERLINK" in (tmp_path / "out.csv").read_text().replace('"=HYP', "=HYP")


def test_format_of_extension() -> None:
    assert format_of(Path("a.JSONL")) == "jsonl"
    assert format_of(Path("a.csv")) == "csv"
    with pytest.raises(UsageError, match=r"unknown output format '.xlsx'.*\.csv"):
        format_of(Path("out.xlsx"))
