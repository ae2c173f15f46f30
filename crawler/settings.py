"""Typed, frozen settings loaded once from settings.toml, overrides and custom_settings.

Runs in the scheduler; children receive the resulting `Settings` as an argument.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

from crawler.errors import SettingsError

Auto = Literal["auto"]


@dataclass(frozen=True)
class ProcessSettings:
    downloaders: int | Auto = "auto"
    parsers: int | Auto = "auto"
    transport: Literal["auto", "unix", "tcp"] = "auto"


@dataclass(frozen=True)
class DownloaderSettings:
    concurrency: int = 64
    per_host: int = 16
    timeout: float = 30.0
    retries: int = 2
    max_body_size: int = 16 * 1024 * 1024
    user_agent: str = ""


@dataclass(frozen=True)
class ParserSettings:
    window: int = 64


@dataclass(frozen=True)
class LimitSettings:
    max_pages: int = 0
    max_depth: int = 0
    max_crash_deliveries: int = 3
    max_restarts: int = 10
    hang_timeout: float = 60.0
    shutdown_grace: float = 10.0


@dataclass(frozen=True)
class OutputSettings:
    root: str = "output"


@dataclass(frozen=True)
class JournalSettings:
    fsync_interval: float = 1.0


@dataclass(frozen=True)
class DemoSettings:
    port: int = 8765
    pages: int = 2000


@dataclass(frozen=True)
class Settings:
    """Every tunable of a crawl; `settings.toml` mirrors these sections one to one."""

    processes: ProcessSettings = field(default_factory=ProcessSettings)
    downloader: DownloaderSettings = field(default_factory=DownloaderSettings)
    parser: ParserSettings = field(default_factory=ParserSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    journal: JournalSettings = field(default_factory=JournalSettings)
    demo: DemoSettings = field(default_factory=DemoSettings)

    def downloader_count(self) -> int:
        """Downloader processes to run: the setting, or derived from the core count."""
        value = self.processes.downloaders
        return value if isinstance(value, int) else max(1, (os.cpu_count() or 2) // 4)

    def parser_count(self) -> int:
        """Parser processes to run: the setting, or derived from the core count."""
        value = self.processes.parsers
        if isinstance(value, int):
            return value
        return max(1, (os.cpu_count() or 2) - self.downloader_count())

    def transport(self) -> Literal["unix", "tcp"]:
        """The socket family between downloaders and parsers."""
        value = self.processes.transport
        if value == "auto":
            import socket

            return "unix" if hasattr(socket, "AF_UNIX") else "tcp"
        return value


# Lower bounds (inclusive) of numeric settings; everything not listed must be >= 0.
_MINIMUM: dict[str, float] = {
    "processes.downloaders": 1,
    "processes.parsers": 1,
    "downloader.concurrency": 1,
    "downloader.per_host": 1,
    "downloader.timeout": 0.001,
    "downloader.max_body_size": 1024,
    "parser.window": 1,
    "limits.max_crash_deliveries": 1,
    "limits.hang_timeout": 0.1,
    "journal.fsync_interval": 0.001,
    "demo.port": 1,
}
_MAXIMUM: dict[str, float] = {"demo.port": 65535, "downloader.retries": 100}


def load(
    path: Path | None,
    overrides: list[str] | None = None,
    custom: dict[str, Any] | None = None,
) -> Settings:
    """Load `path` (or defaults), then spider `custom` settings, then `-s` overrides."""
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
        _merge(data, _nest({key: value}, f"-s {item}"))
        tree = _build(data, f"-s {item}")
    return tree


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file, turning every failure into a SettingsError naming the file."""
    if not path.exists():
        raise SettingsError(f"settings file not found: {path.resolve()}")
    if path.is_dir():
        raise SettingsError(f"settings path is a directory, not a file: {path.resolve()}")
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{path}: not valid UTF-8 at byte {exc.start}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: invalid TOML: {exc}") from exc


def parse_override(item: str) -> tuple[str, Any]:
    """Split `-s section.key=value`; the value is read as TOML, else taken as a string."""
    key, sep, raw = item.partition("=")
    if not sep or "." not in key:
        raise SettingsError(f"-s {item!r}: expected SECTION.KEY=VALUE, e.g. -s processes.parsers=4")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip(), value


def _nest(flat: dict[str, Any], source: str) -> dict[str, Any]:
    """Accept both {"a.b": 1} and {"a": {"b": 1}}."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        if "." in key:
            section, _, name = key.partition(".")
            nested.setdefault(section, {})[name] = value
        elif isinstance(value, dict):
            nested.setdefault(key, {}).update(value)
        else:
            raise SettingsError(f"{source}: {key!r} is not SECTION.KEY")
    return nested


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for section, values in extra.items():
        if isinstance(values, dict) and isinstance(base.get(section), dict):
            base[section].update(values)
        else:
            base[section] = values


def _build(data: dict[str, Any], source: str) -> Settings:
    sections: dict[str, Any] = {}
    section_types = get_type_hints(Settings)
    for name, values in data.items():
        if name not in section_types:
            raise SettingsError(f"{source}: unknown section [{name}]{_suggest(name, section_types)}")
        if not isinstance(values, dict):
            raise SettingsError(f"{source}: [{name}] must be a table, got {_describe(values)}")
        sections[name] = _build_section(name, section_types[name], values, source)
    return Settings(**sections)


def _build_section(name: str, cls: type[Any], values: dict[str, Any], source: str) -> Any:
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    checked: dict[str, Any] = {}
    for key, value in values.items():
        path = f"{name}.{key}"
        if key not in known:
            raise SettingsError(f"{source}: unknown key {path!r}{_suggest(key, known, name)}")
        checked[key] = _check(path, hints[key], value, source)
    try:
        return cls(**checked)
    except (TypeError, ValueError) as exc:  # pragma: no cover - guarded by _check
        raise SettingsError(f"{source}: [{name}]: {exc}") from exc


def _check(path: str, hint: Any, value: Any, source: str) -> Any:
    choices = _literal_choices(hint)
    if value in choices and not isinstance(value, bool):
        return value
    accepts_int = int in _members(hint)
    accepts_float = float in _members(hint)
    is_bool = isinstance(value, bool)
    if accepts_float and isinstance(value, int | float) and not is_bool:
        value = float(value)
    elif accepts_int and isinstance(value, int) and not is_bool:
        pass
    elif str in _members(hint) and isinstance(value, str):
        return value
    elif bool in _members(hint) and is_bool:
        return value
    else:
        expected = _expected(hint, choices)
        raise SettingsError(f"{source}: {path}: expected {expected}, got {_describe(value)}")
    low, high = _MINIMUM.get(path, 0), _MAXIMUM.get(path)
    if value < low or (high is not None and value > high):
        allowed = f">= {low:g}" if high is None else f"between {low:g} and {high:g}"
        raise SettingsError(f"{source}: {path}: must be {allowed}, got {value!r}")
    return value


def _members(hint: Any) -> set[Any]:
    args = get_args(hint)
    if get_origin(hint) is Literal:
        return set()
    return {a for a in args if get_origin(a) is not Literal} if args else {hint}


def _literal_choices(hint: Any) -> list[Any]:
    if get_origin(hint) is Literal:
        return list(get_args(hint))
    choices: list[Any] = []
    for arg in get_args(hint):
        if get_origin(arg) is Literal:
            choices.extend(get_args(arg))
    return choices


def _expected(hint: Any, choices: list[Any]) -> str:
    words = [{int: "an integer", float: "a number", str: "a string", bool: "true or false"}[m]
             for m in _members(hint)]
    words += [repr(c) for c in choices]
    return " or ".join(words)


def _describe(value: Any) -> str:
    kind = {bool: "boolean", int: "integer", float: "number", str: "string",
            list: "array", dict: "table"}.get(type(value), type(value).__name__)
    return f"{kind} {value!r}" if not isinstance(value, dict | list) else kind


def _suggest(word: str, candidates: Any, section: str | None = None) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    if not close:
        return ""
    name = f"{section}.{close[0]}" if section else close[0]
    return f" (did you mean {name!r}?)"


def as_dict(settings: Settings) -> dict[str, Any]:
    """The settings as plain nested data (for the journal header and stats)."""
    return dataclasses.asdict(settings)
