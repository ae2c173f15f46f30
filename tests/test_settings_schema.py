"""crawler/settings/schema.py: what each field declares, its checks at import, the resume rule."""

from __future__ import annotations

import dataclasses
import json
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import pytest

from crawler.scheduler.crawl import config_digest
from crawler.settings import (
    Settings,
    Spec,
    fixed_on_resume,
    keys,
    load,
    schema,
    sections,
    setting,
)
from crawler.settings.schema import check_section, spec

# ---- declaring a field ----------------------------------------------------------------


def test_every_section_of_the_schema_passes_its_import_check() -> None:
    assert list(sections()) == [f.name for f in dataclasses.fields(Settings)]
    for cls in sections().values():
        check_section(cls)  # what the import of schema.py runs for every section


def test_setting_puts_one_spec_on_the_field() -> None:
    @dataclass(frozen=True)
    class Section:
        count: int = setting(3, min=1, max=9, resumable=False)
        names: list[str] = setting(["a"], resumable=True)

    count, _ = dataclasses.fields(Section)
    assert spec(count) == Spec(resumable=False, min=1, max=9)
    assert dict(count.metadata) == {"crawler.settings": spec(count)}
    assert Section().count == 3
    assert Section().names == ["a"]
    assert Section().names is not Section().names  # a list default is copied


def test_unknown_declarations_are_refused() -> None:
    with pytest.raises(TypeError, match="mini"):
        setting(1, mini=0, resumable=True)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="resumable"):
        setting(1, min=0)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="mini"):
        Spec(resumable=True, mini=0)  # type: ignore[call-arg]


def _section(name: str, annotation: Any, value: Any) -> type[Any]:
    """A frozen dataclass with one field `name: annotation = value`."""
    namespace = {"__annotations__": {name: annotation}, name: value}
    return dataclass(frozen=True)(type("Section", (), namespace))


@pytest.mark.parametrize(
    ("annotation", "value", "problem"),
    [
        (int, 3, r"Section.x: declare it with setting\(\.\.\.\) alone"),
        (
            int,
            field(default=3),
            r"declare it with setting\(\.\.\.\) alone, not field metadata \[\]",
        ),
        (
            int,
            field(default=3, metadata={"crawler.settings": Spec(True, min=0), "max": 5}),
            r"not field metadata \['crawler.settings', 'max'\]",
        ),
        (str, setting("a", min=1, resumable=True), "min/max bound a number setting"),
        (bool, setting(True, max=1, resumable=True), "min/max bound a number setting"),
        (list[str], setting([], min=0, resumable=True), "min/max bound a number setting"),
        (dict[str, str], setting({}, min=0, resumable=True), "min/max bound a number"),
        (float, setting(1.0, resumable=True), "a number setting must declare its min"),
        (int | Literal["auto"], setting("auto", resumable=True), "must declare its min"),
        (list[int], setting([], resumable=True), "must declare its min"),
        (int, setting(5, min=9, max=1, resumable=True), "min 9 is above max 1"),
        (int, setting(0, min=1, resumable=True), "the default 0 is out of its bounds"),
        (float, setting(7.0, min=0, max=5, resumable=True), "default 7.0 is out of"),
        (list[int], setting([1, -1], min=0, resumable=True), "default -1 is out of"),
    ],
)
def test_inconsistent_declarations_fail_the_check(
    annotation: Any, value: Any, problem: str
) -> None:
    with pytest.raises(TypeError, match=problem):
        check_section(_section("x", annotation, value))


@pytest.mark.parametrize(
    ("line", "broken", "problem"),
    [
        (
            "pages: int = setting(2000, min=0, resumable=True)",
            "pages: int = setting(2000, resumable=True)",
            "DemoSettings.pages: a number setting must declare its min",
        ),
        (
            'dir: str = setting(".cache/http", resumable=True)',
            'dir: str = setting(".cache/http", min=1, resumable=True)',
            "CacheSettings.dir: min/max bound a number setting",
        ),
        (
            "window: int = setting(64, min=1, resumable=True)",
            'window: int = field(default=64, metadata={"min": 1})',
            r"ParserSettings.window: declare it with setting\(\.\.\.\) alone",
        ),
    ],
)
def test_a_broken_declaration_fails_the_import_of_the_schema(
    monkeypatch: pytest.MonkeyPatch, line: str, broken: str, problem: str
) -> None:
    source = Path(schema.__file__).read_text(encoding="utf-8")
    assert source.count(line) == 1
    module = types.ModuleType("broken_schema")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    code = compile(source.replace(line, broken), "broken_schema.py", "exec")
    with pytest.raises(TypeError, match=problem):
        exec(code, module.__dict__)


def test_consistent_declarations_pass_the_check() -> None:
    check_section(_section("x", int | Literal["auto"], setting("auto", min=1, resumable=True)))
    check_section(_section("x", list[int], setting([200], min=0, resumable=False)))
    check_section(_section("x", float, setting(0.5, min=0, max=1, resumable=True)))
    check_section(_section("x", str, setting("", resumable=True)))


# ---- the resume rule ------------------------------------------------------------------

# The digest of the default settings as it was when the rule was a list in crawl.py: runs
# started then must still resume, so it may not change.
DEFAULT_DIGEST = {
    "args": {"tag": "x"},
    "settings": {
        "downloader": {
            "cookies": True,
            "handle_status": [],
            "headers": {},
            "max_body_size": 16777216,
            "max_crawl_delay": 60.0,
            "max_decompressed_size": 67108864,
            "max_redirects": 10,
            "obey_robots": True,
            "retries": 2,
            "user_agent": "",
        },
        "limits": {"max_crash_deliveries": 3, "max_depth": 0, "max_pages": 0},
        "strip_params": ["jsessionid", "phpsessid", "sid", "sessionid", "session_id"],
    },
    "spider": "quotes",
}


def digest(settings: Settings, args: dict[str, str] | None = None) -> str:
    return config_digest(SimpleNamespace(name="quotes"), settings, args or {})  # type: ignore[arg-type]


def test_the_digest_of_the_defaults_is_the_one_earlier_runs_wrote() -> None:
    text = digest(Settings(), {"tag": "x"})
    assert text == json.dumps(DEFAULT_DIGEST, sort_keys=True)


def test_the_digest_of_other_values_is_the_one_earlier_runs_wrote() -> None:
    settings = load(
        None,
        [
            "downloader.retries=5",
            "scope.strip_params=['sid']",
            "limits.max_depth=3",
            "downloader.handle_status=[404]",
            "downloader.headers={ Accept-Language = 'en' }",
            "downloader.concurrency=3",
            "throttle.enabled=true",
        ],
    )
    assert digest(settings) == (
        '{"args": {}, "settings": {"downloader": {"cookies": true, "handle_status": [404], '
        '"headers": {"Accept-Language": "en"}, "max_body_size": 16777216, '
        '"max_crawl_delay": 60.0, "max_decompressed_size": 67108864, "max_redirects": 10, '
        '"obey_robots": true, "retries": 5, "user_agent": ""}, "limits": '
        '{"max_crash_deliveries": 3, "max_depth": 3, "max_pages": 0}, '
        '"strip_params": ["sid"]}, "spider": "quotes"}'
    )


# Keys whose "default + 1" (or "+ x", "not", the first element) is not a valid other value.
OTHER_VALUES: dict[str, Any] = {
    "processes.downloaders": 2,
    "processes.parsers": 2,
    "processes.transport": "tcp",
    "downloader.proxy": "http://proxy.test:3128",
    "downloader.headers": {"X-A": "b"},
    "downloader.handle_status": [404],
    "downloader.resolve": {"shop.test": "127.0.0.1"},
    "scope.allow": ["x"],
    "scope.deny": ["x"],
    "frontier.order": "breadth-first",
    "output.format": "csv",
}


def _value(settings: Settings, key: str) -> Any:
    section, _, name = key.partition(".")
    return getattr(getattr(settings, section), name)


def _another_value(key: str) -> Any:
    """A valid value of `key` other than its default."""
    if key in OTHER_VALUES:
        return OTHER_VALUES[key]
    default = _value(Settings(), key)
    if isinstance(default, bool):
        return not default
    if isinstance(default, int | float):
        return default + 1
    if isinstance(default, str):
        return default + "x"
    assert isinstance(default, list) and len(default) > 1, key
    return default[:1]


@pytest.mark.parametrize("key", keys())
def test_a_key_changes_the_digest_exactly_when_it_is_not_resumable(key: str) -> None:
    section, _, name = key.partition(".")
    declared = spec(next(f for f in dataclasses.fields(sections()[section]) if f.name == name))
    changed = load(None, custom={key: _another_value(key)})
    assert _value(changed, key) != _value(Settings(), key)
    assert (digest(changed) == digest(Settings())) is declared.resumable
    assert (name in fixed_on_resume(changed).get(section, {})) is not declared.resumable
