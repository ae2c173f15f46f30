"""settings.toml and the README's settings reference name every key of the schema, and only
those; the README states each key's bounds as the schema declares them, and what a resumed
run must keep as `resumable=False` does."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import get_type_hints

import pytest

from crawler.settings import DemoSettings, Settings, fixed_on_resume, keys, schema, setting
from crawler.settings.schema import spec, takes_numbers

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
SETTINGS_TOML = REPO / "settings.toml"

HEADER = "| Key | Default | Meaning |"
SEPARATOR = "|---|---|---|"
SECTION = re.compile(r"### `\[([a-z_]+)\]`")
ROW = re.compile(r"\| `([a-z_]+)` \| (.+?) \| (.+) \|")
# "(>= N)" or "(N to M)", as the reference's introduction says; any other >= or <= is a mistake
BOUND = re.compile(r"\((?:>= (-?\d+(?:\.\d+)?)|(-?\d+(?:\.\d+)?) to (-?\d+(?:\.\d+)?))\)")


def section_text(text: str, title: str) -> str:
    """The body of the `## title` section of a Markdown text."""
    start = text.index(f"\n## {title}\n") + len(f"\n## {title}\n")
    end = text.find("\n## ", start)
    return text[start : end if end >= 0 else len(text)]


def readme_reference() -> dict[str, str]:
    """The README's settings reference: "section.key" -> the Meaning cell of its row.

    Keys are the first cells, in backticks, of the table rows under each `### [section]`
    heading; any other heading or table row there fails, so no key is silently missed.
    """
    rows: dict[str, str] = {}
    section = None
    for line in section_text(README.read_text(encoding="utf-8"), "Settings reference").splitlines():
        heading = SECTION.fullmatch(line)
        if heading:
            section = heading[1]
            continue
        assert not line.startswith("#"), f"README settings reference: unexpected heading {line!r}"
        if not line.startswith("|") or line in (HEADER, SEPARATOR):
            continue
        row = ROW.fullmatch(line)
        assert row, (
            f"README settings reference: not a `| \\`key\\` | default | meaning |` row: {line!r}"
        )
        assert section, f"README settings reference: a row before any `### [section]`: {line!r}"
        key = f"{section}.{row[1]}"
        assert key not in rows, f"README settings reference: {key} is documented twice"
        rows[key] = row[3]
    return rows


def settings_toml_keys() -> list[str]:
    """Every "section.key" that the repository's settings.toml sets."""
    data = tomllib.loads(SETTINGS_TOML.read_text(encoding="utf-8"))
    found = []
    for section, values in data.items():
        assert isinstance(values, dict), f"settings.toml: {section} is not a [section]"
        found += [f"{section}.{key}" for key in values]
    return found


def mismatch(where: str, documented: list[str]) -> str:
    """What differs between `documented` and the schema's keys, or ""."""
    missing = [key for key in keys() if key not in documented]
    unknown = [key for key in documented if key not in keys()]
    problems = []
    if missing:
        problems.append(f"{where} lacks {', '.join(missing)}")
    if unknown:
        problems.append(f"{where} has {', '.join(unknown)}, which the schema does not")
    return "; ".join(problems)


def test_the_readme_reference_documents_every_key_of_the_schema_and_no_other() -> None:
    assert mismatch("the README's settings reference", list(readme_reference())) == ""


def test_settings_toml_holds_every_key_of_the_schema_and_no_other() -> None:
    assert mismatch("settings.toml", settings_toml_keys()) == ""


@dataclass(frozen=True)
class _DemoWithColour(DemoSettings):
    colour: str = setting("red", resumable=True)


def test_a_key_added_to_the_schema_alone_fails_both_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(schema._SECTIONS, "demo", _DemoWithColour)
    assert "demo.colour" in keys()
    assert "lacks demo.colour" in mismatch("the README", list(readme_reference()))
    assert "lacks demo.colour" in mismatch("settings.toml", settings_toml_keys())
    with pytest.raises(AssertionError, match=r"lacks demo\.colour"):
        test_the_readme_reference_documents_every_key_of_the_schema_and_no_other()
    with pytest.raises(AssertionError, match=r"lacks demo\.colour"):
        test_settings_toml_holds_every_key_of_the_schema_and_no_other()


def _stated_bounds(meaning: str) -> tuple[float, float | None] | None:
    """The (min, max) a README row states, or None if it states none."""
    found = BOUND.findall(meaning)
    assert len(found) <= 1, f"more than one bound in {meaning!r}"
    assert len(re.findall(r"[<>]=", meaning)) == len([low for low, _, _ in found if low]), (
        f"a bound not written as (>= N) or (N to M) in {meaning!r}"
    )
    if not found:
        return None
    low, start, end = found[0]
    return (float(low), None) if low else (float(start), float(end))


def test_the_readme_states_each_bound_as_the_schema_declares_it() -> None:
    reference = readme_reference()
    wrong = []
    for name, cls in schema.sections().items():
        hints = get_type_hints(cls)
        for f in dataclasses.fields(cls):
            key, declared = f"{name}.{f.name}", spec(f)
            expected: tuple[float, float | None] | None = None  # ">= 0", which goes unsaid
            if takes_numbers(hints[f.name]) and (declared.min != 0 or declared.max is not None):
                assert declared.min is not None
                expected = (declared.min, declared.max)
            stated = _stated_bounds(reference[key])
            if stated != expected:
                wrong.append(f"{key}: the README states {stated}, the schema {expected}")
    assert wrong == []


def test_stated_bounds_are_read_as_written() -> None:
    assert _stated_bounds("Requests in flight (>= 1).") == (1.0, None)
    assert _stated_bounds("Seconds (>= 0.001) per request") == (0.001, None)
    assert _stated_bounds("The port (1 to 65535) on 127.0.0.1") == (1.0, 65535.0)
    assert _stated_bounds("Retries after a failure. `0` means none.") is None
    with pytest.raises(AssertionError, match="not written as"):
        _stated_bounds("Requests in flight (>=1).")
    with pytest.raises(AssertionError, match="more than one"):
        _stated_bounds("(>= 1) or (2 to 3)")


def test_the_readme_names_what_a_resume_must_keep_as_the_schema_does() -> None:
    """The "Resuming" paragraph: which settings a resumed run must share with its start."""
    text = section_text(README.read_text(encoding="utf-8"), "Stopping, resuming and crash safety")
    start = text.index("A run must be resumed with the same spider arguments")
    items = text[start:].split("\n\n", 1)[0].split("\n- ")[1:]  # the list that follows
    assert len(items) == 3, items
    named: set[str] = set()
    for item in items:
        whole = re.match(r"the `\[([a-z_]+)\]` settings, except (.*)", item, re.S)
        if whole:
            section = whole[1]
            excepted = {f"{section}.{key}" for key in re.findall(r"`([a-z_]+)`", whole[2])}
            named |= {key for key in keys() if key.startswith(f"{section}.")} - excepted
        else:
            named |= set(re.findall(r"`([a-z_]+\.[a-z_]+)`", item))
    fixed = {
        f"{name}.{key}" for name, values in fixed_on_resume(Settings()).items() for key in values
    }
    assert named == fixed
