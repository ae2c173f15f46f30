"""Loading settings: settings.toml, then custom_settings, then -s overrides, each checked.

Types, bounds and value checks come from the fields of the schema (schema.py); the error
messages name the layer, the key and what is wrong, with a suggestion when a name is close.
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

from crawler.errors import SettingsError
from crawler.settings.schema import Settings, Spec, keys, sections, spec


def load(
    path: Path | None,
    overrides: list[str] | None = None,
    custom: dict[str, Any] | None = None,
) -> Settings:
    """Load `path` (or defaults), then spider `custom` settings, then `-s` overrides.

    Later layers win: settings.toml < custom_settings < -s.  Each layer is checked on its
    own, so an error names the layer that caused it.
    """
    data: dict[str, Any] = {}
    source = str(path) if path else "defaults"
    if path is not None:
        data = read_toml(path)
    tree = _build(data, source)
    if custom:
        _merge(data, _nest(custom, "custom_settings"))
        tree = _build(data, "custom_settings")
    for item in overrides or []:
        key, value = parse_override(item)
        if not isinstance(value, str) and _accepts_only_str(key):
            value = item.partition("=")[2].strip()  # `-s output.root=123`: the text as given
        source = f"-s {item!r}"
        _merge(data, _nest({key: value}, source))
        tree = _build(data, source)
    return tree


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file, turning every failure into a SettingsError naming the file."""
    if not path.exists():
        raise SettingsError(f"settings file not found: {path.resolve()}")
    if path.is_dir():
        raise SettingsError(f"settings path is a directory, not a file: {path.resolve()}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise SettingsError(f"{path}: cannot read the settings file: {reason}") from exc
    bom = 3 if raw.startswith(b"\xef\xbb\xbf") else 0
    try:
        text = raw[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _position(raw[bom : bom + exc.start].decode("utf-8"))
        raise SettingsError(
            f"{path}: not valid UTF-8 at line {line}, column {column} "
            f"(byte {bom + exc.start}: {raw[bom + exc.start : bom + exc.end]!r})"
        ) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, column, reason = _toml_error(exc, text)
        raise SettingsError(
            f"{path}: invalid TOML at line {line}, column {column}: {reason}"
        ) from exc


def _position(prefix: str) -> tuple[int, int]:
    """Line and column (both from 1) just after `prefix`."""
    return prefix.count("\n") + 1, len(prefix) - (prefix.rfind("\n") + 1) + 1


def _toml_error(exc: tomllib.TOMLDecodeError, text: str) -> tuple[int, int, str]:
    """(line, column, reason) of a TOML error; Python 3.11-3.13 only put them in the text."""
    message = str(exc)
    match = re.search(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)$", message)
    reason = message[: match.start()] if match else message
    lineno, colno = getattr(exc, "lineno", None), getattr(exc, "colno", None)
    if isinstance(lineno, int) and isinstance(colno, int):
        return lineno, colno, getattr(exc, "msg", reason)
    if match and match.group(1):
        return int(match.group(1)), int(match.group(2)), reason
    line, column = _position(text)
    return line, column, reason


def parse_override(item: str) -> tuple[str, Any]:
    """Split `-s section.key=value`; the value is read as TOML, else taken as a string."""
    key, sep, raw = item.partition("=")
    key, raw = key.strip(), raw.strip()
    section, dot, name = key.partition(".")
    if not sep or not dot or not section or not name:
        problem = "found no '='" if not sep else f"{key!r} is not SECTION.KEY"
        raise SettingsError(
            f"-s {item!r}: expected SECTION.KEY=VALUE (e.g. -s processes.parsers=4), "
            f"but {problem}{_suggest_path(name or section or key)}"
        )
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def _accepts_only_str(key: str) -> bool:
    section, _, name = key.partition(".")
    cls = sections().get(section)
    hint = get_type_hints(cls).get(name) if cls is not None else None
    return hint is str


def _nest(flat: dict[str, Any], source: str) -> dict[str, Any]:
    """Accept both {"a.b": 1} and {"a": {"b": 1}}."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        if not isinstance(key, str):
            raise SettingsError(
                f"{source}: keys must be strings like 'downloader.concurrency', "
                f"got {_describe(key)}"
            )
        if "." in key:
            section, _, name = key.partition(".")
            nested.setdefault(section, {})[name] = value
        elif isinstance(value, dict):
            nested.setdefault(key, {}).update(value)
        elif key in sections():
            raise SettingsError(
                f"{source}: section {key!r} must be a dict of settings "
                f"(e.g. {{{key!r}: {{...}}}}), got {_describe(value)}"
            )
        else:
            raise SettingsError(
                f"{source}: {key!r} must be SECTION.KEY (e.g. 'downloader.concurrency') or a "
                f"section with a table of settings, got {_describe(value)}"
                f"{_suggest_path(key)}"
            )
    return nested


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for section, values in extra.items():
        if isinstance(values, dict) and isinstance(base.get(section), dict):
            base[section].update(values)
        else:
            base[section] = values


def _build(data: dict[str, Any], source: str) -> Settings:
    built: dict[str, Any] = {}
    section_types = sections()
    for name, values in data.items():
        if name not in section_types:
            if isinstance(values, dict):
                hint = _suggest(name, section_types) or _suggest_path(name)
                raise SettingsError(f"{source}: unknown section [{name}]{hint}")
            raise SettingsError(
                f"{source}: unknown setting {name!r} outside any section{_suggest_path(name)}"
            )
        if not isinstance(values, dict):
            raise SettingsError(
                f"{source}: [{name}] must be a table of settings, got {_describe(values)}"
            )
        built[name] = _build_section(name, section_types[name], values, source)
    return Settings(**built)


def _build_section(name: str, cls: type[Any], values: dict[str, Any], source: str) -> Any:
    hints = get_type_hints(cls)
    specs = {f.name: spec(f) for f in fields(cls)}
    checked: dict[str, Any] = {}
    for key, value in values.items():
        path = f"{name}.{key}"
        if key not in specs:
            hint = _suggest(key, specs, name) or _suggest_path(key)
            raise SettingsError(f"{source}: unknown setting {path!r}{hint}")
        declared = specs[key]
        checked[key] = _check(path, hints[key], declared, value, source)
        if declared.check is not None and get_origin(hints[key]) not in (list, dict):
            problem = declared.check(checked[key])
            if problem:
                raise SettingsError(f"{source}: {path} = {checked[key]!r}: {problem}")
    try:
        return cls(**checked)
    except (TypeError, ValueError) as exc:  # pragma: no cover - guarded by _check
        raise SettingsError(f"{source}: [{name}]: {exc}") from exc


def _check(path: str, hint: Any, declared: Spec, value: Any, source: str) -> Any:
    origin = get_origin(hint)
    if origin is list:
        return _check_list(path, get_args(hint)[0], declared, value, source)
    if origin is dict:
        return _check_table(path, declared, value, source)
    choices = _literal_choices(hint)
    if value in choices and isinstance(value, str):
        return value
    members = _members(hint)
    is_bool = isinstance(value, bool)
    if float in members and isinstance(value, int | float) and not is_bool:
        value = float(value)
        if not math.isfinite(value):
            raise SettingsError(f"{source}: {path} must be a finite number, got {value!r}")
    elif int in members and isinstance(value, int) and not is_bool:
        pass
    elif (str in members and isinstance(value, str)) or (bool in members and is_bool):
        return value
    else:
        expected = _expected(hint, choices)
        raise SettingsError(f"{source}: {path} must be {expected}, got {_describe(value)}")
    low = 0 if declared.min is None else declared.min  # check_section: numbers declare it
    high = declared.max
    if value < low or (high is not None and value > high):
        allowed = f">= {low:g}" if high is None else f"between {low:g} and {high:g}"
        raise SettingsError(f"{source}: {path} must be {allowed}, got {value!r}")
    return value


def _check_list(path: str, element: Any, declared: Spec, value: Any, source: str) -> list[Any]:
    if not isinstance(value, list):
        kind = _expected(element, [])
        raise SettingsError(
            f"{source}: {path} must be an array of {kind.split(' ', 1)[1]}s, got {_describe(value)}"
        )
    checked = [
        _check(f"{path}[{i}]", element, declared, item, source) for i, item in enumerate(value)
    ]
    if declared.check is not None:
        for index, item in enumerate(checked):
            problem = declared.check(item)
            if problem:
                raise SettingsError(f"{source}: {path}[{index}] = {item!r}: {problem}")
    return checked


def _check_table(path: str, declared: Spec, value: Any, source: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise SettingsError(
            f'{source}: {path} must be a table of strings (e.g. {{ name = "value" }}), '
            f"got {_describe(value)}"
        )
    for key, item in value.items():
        if not isinstance(item, str):
            raise SettingsError(f"{source}: {path}.{key} must be a string, got {_describe(item)}")
    if declared.check is not None:
        for key, item in value.items():
            problem = declared.check((key, item))
            if problem:
                raise SettingsError(f"{source}: {path}.{key} = {item!r}: {problem}")
    return dict(value)


def _members(hint: Any) -> list[Any]:
    """The plain types a hint accepts (Literal choices excluded), in declaration order."""
    if get_origin(hint) is Literal:
        return []
    args = get_args(hint)
    return [a for a in args if get_origin(a) is not Literal] if args else [hint]


def _literal_choices(hint: Any) -> list[Any]:
    if get_origin(hint) is Literal:
        return list(get_args(hint))
    choices: list[Any] = []
    for arg in get_args(hint):
        if get_origin(arg) is Literal:
            choices.extend(get_args(arg))
    return choices


def _expected(hint: Any, choices: list[Any]) -> str:
    words = [
        {int: "an integer", float: "a number", str: "a string", bool: "true or false"}[m]
        for m in _members(hint)
    ]
    if choices and not words:
        return "one of " + ", ".join(repr(c) for c in choices)
    words += [repr(c) for c in choices]
    return " or ".join(words)


def _describe(value: Any) -> str:
    kind = {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "table",
    }.get(type(value), type(value).__name__)
    return f"{kind} {value!r}" if not isinstance(value, dict | list) else kind


def _suggest(word: str, candidates: Any, section: str | None = None) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    if not close:
        return ""
    name = f"{section}.{close[0]}" if section else close[0]
    return f" (did you mean {name!r}?)"


def _suggest_path(word: str) -> str:
    """Suggest the SECTION.KEY of any section whose key is close to `word`."""
    if not word or word in sections():
        return ""  # a section name: suggesting a key of another section would mislead
    paths = {path: path.partition(".")[2] for path in keys()}
    by_key: dict[str, str] = {}
    for path, key in paths.items():
        by_key.setdefault(key, path)
    close = difflib.get_close_matches(word, list(by_key), n=1, cutoff=0.6)
    if close:
        return f" (did you mean {by_key[close[0]]!r}?)"
    close = difflib.get_close_matches(word, list(paths), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
