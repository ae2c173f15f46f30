"""Typed, frozen settings loaded once from settings.toml, overrides and custom_settings.

Runs in the scheduler; children receive the resulting `Settings` as an argument.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import math
import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

from crawler import __version__
from crawler.errors import SettingsError

Auto = Literal["auto"]
DEFAULT_USER_AGENT = f"crawler/{__version__} (+https://pypi.org/project/crawler)"


@dataclass(frozen=True)
class ProcessSettings:
    downloaders: int | Auto = "auto"
    parsers: int | Auto = "auto"
    transport: Literal["auto", "unix", "tcp"] = "auto"


@dataclass(frozen=True)
class DownloaderSettings:
    concurrency: int = 64
    per_host: int = 16
    delay: float = 0.0
    timeout: float = 30.0
    retries: int = 2
    retry_backoff: float = 0.5
    max_retry_after: float = 60.0
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    max_body_size: int = 16 * 1024 * 1024
    max_decompressed_size: int = 64 * 1024 * 1024
    max_redirects: int = 10
    user_agent: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    cookies: bool = True
    proxy: str = ""
    handle_status: list[int] = field(default_factory=list)
    obey_robots: bool = True
    max_crawl_delay: float = 60.0
    verify_tls: bool = True
    resolve: dict[str, str] = field(default_factory=dict)


def user_agent(settings: DownloaderSettings) -> str:
    """The User-Agent sent: the setting, or one naming the framework and its version."""
    return settings.user_agent or DEFAULT_USER_AGENT


@dataclass(frozen=True)
class ThrottleSettings:
    enabled: bool = False
    target_concurrency: float = 1.0
    start_delay: float = 1.0
    max_delay: float = 60.0


_PRIVATE_NETWORKS = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "::ffff:0:0/96",
    "64:ff9b::/96",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
]


@dataclass(frozen=True)
class ScopeSettings:
    allow: list[str] = field(default_factory=list)
    deny: list[str] = field(default_factory=list)
    max_url_length: int = 2083
    max_query_params: int = 32
    max_repeated_segments: int = 2
    strip_params: list[str] = field(
        default_factory=lambda: ["jsessionid", "phpsessid", "sid", "sessionid", "session_id"]
    )
    allow_private: bool = False
    private_networks: list[str] = field(default_factory=lambda: list(_PRIVATE_NETWORKS))


@dataclass(frozen=True)
class FrontierSettings:
    order: Literal["depth-first", "breadth-first"] = "depth-first"
    memory_limit: int = 100_000


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
    lease_timeout: float = 300.0
    parser_memory_mb: int = 0
    shutdown_grace: float = 10.0


@dataclass(frozen=True)
class OutputSettings:
    root: str = "output"
    format: Literal["jsonl", "json", "csv"] = "jsonl"
    csv_escape_formulas: bool = True


@dataclass(frozen=True)
class JournalSettings:
    fsync_interval: float = 1.0


@dataclass(frozen=True)
class CacheSettings:
    enabled: bool = False
    dir: str = ".cache/http"
    expiration: float = 0.0
    ignore_status: list[int] = field(
        default_factory=lambda: [408, 429, 500, 502, 503, 504, 522, 524]
    )


@dataclass(frozen=True)
class DemoSettings:
    port: int = 8765
    pages: int = 2000


@dataclass(frozen=True)
class Settings:
    """Every tunable of a crawl; `settings.toml` mirrors these sections one to one."""

    processes: ProcessSettings = field(default_factory=ProcessSettings)
    downloader: DownloaderSettings = field(default_factory=DownloaderSettings)
    throttle: ThrottleSettings = field(default_factory=ThrottleSettings)
    scope: ScopeSettings = field(default_factory=ScopeSettings)
    frontier: FrontierSettings = field(default_factory=FrontierSettings)
    parser: ParserSettings = field(default_factory=ParserSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    journal: JournalSettings = field(default_factory=JournalSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    demo: DemoSettings = field(default_factory=DemoSettings)

    def downloader_count(self) -> int:
        """Downloader processes to run: the setting, or a quarter of the cores, at least 2
        (1 on a single core): `make bench` on 2 cores gives 2x2 about 10% over 1x2."""
        value = self.processes.downloaders
        if isinstance(value, int):
            return value
        cores = os.cpu_count() or 2
        return max(min(2, cores), cores // 4)

    def parser_count(self) -> int:
        """Parser processes to run: the setting, or one per core.

        Parsing is the CPU-bound stage; downloaders and the scheduler need little CPU and
        share the cores (`make bench` on 2 cores: 1x2 beats 1x1 by about 17%).
        """
        value = self.processes.parsers
        if isinstance(value, int):
            return value
        return max(1, os.cpu_count() or 2)

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
    "downloader.connect_timeout": 0.001,
    "downloader.max_body_size": 1024,
    "downloader.max_decompressed_size": 1024,
    "throttle.target_concurrency": 0.01,
    "throttle.max_delay": 0.001,
    "scope.max_url_length": 16,
    "parser.window": 1,
    "frontier.memory_limit": 10,
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
    cls = get_type_hints(Settings).get(section)
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
        elif key in get_type_hints(Settings):
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
    sections: dict[str, Any] = {}
    section_types = get_type_hints(Settings)
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
        sections[name] = _build_section(name, section_types[name], values, source)
    return Settings(**sections)


def _build_section(name: str, cls: type[Any], values: dict[str, Any], source: str) -> Any:
    hints = get_type_hints(cls)
    known = [f.name for f in fields(cls)]
    checked: dict[str, Any] = {}
    for key, value in values.items():
        path = f"{name}.{key}"
        if key not in known:
            hint = _suggest(key, known, name) or _suggest_path(key)
            raise SettingsError(f"{source}: unknown setting {path!r}{hint}")
        checked[key] = _check(path, hints[key], value, source)
        validate = _VALIDATORS.get(path)
        if validate is not None and get_origin(hints[key]) not in (list, dict):
            problem = validate(checked[key])
            if problem:
                raise SettingsError(f"{source}: {path} = {checked[key]!r}: {problem}")
    try:
        return cls(**checked)
    except (TypeError, ValueError) as exc:  # pragma: no cover - guarded by _check
        raise SettingsError(f"{source}: [{name}]: {exc}") from exc


def _check(path: str, hint: Any, value: Any, source: str) -> Any:
    origin = get_origin(hint)
    if origin is list:
        return _check_list(path, get_args(hint)[0], value, source)
    if origin is dict:
        return _check_table(path, value, source)
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
    low, high = _MINIMUM.get(path, 0), _MAXIMUM.get(path)
    if value < low or (high is not None and value > high):
        allowed = f">= {low:g}" if high is None else f"between {low:g} and {high:g}"
        raise SettingsError(f"{source}: {path} must be {allowed}, got {value!r}")
    return value


def _check_list(path: str, element: Any, value: Any, source: str) -> list[Any]:
    if not isinstance(value, list):
        kind = _expected(element, [])
        raise SettingsError(
            f"{source}: {path} must be an array of {kind.split(' ', 1)[1]}s, got {_describe(value)}"
        )
    checked = [_check(f"{path}[{i}]", element, item, source) for i, item in enumerate(value)]
    validate = _VALIDATORS.get(path)
    for index, item in enumerate(checked):
        if validate is not None:
            problem = validate(item)
            if problem:
                raise SettingsError(f"{source}: {path}[{index}] = {item!r}: {problem}")
    return checked


def _check_table(path: str, value: Any, source: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise SettingsError(
            f'{source}: {path} must be a table of strings (e.g. {{ name = "value" }}), '
            f"got {_describe(value)}"
        )
    for key, item in value.items():
        if not isinstance(item, str):
            raise SettingsError(f"{source}: {path}.{key} must be a string, got {_describe(item)}")
    validate = _VALIDATORS.get(path)
    if validate is not None:
        for key, item in value.items():
            problem = validate((key, item))
            if problem:
                raise SettingsError(f"{source}: {path}.{key} = {item!r}: {problem}")
    return dict(value)


def _regex_problem(pattern: Any) -> str | None:
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"not a valid regular expression ({exc})"
    return None


def _network_problem(network: Any) -> str | None:
    try:
        ipaddress.ip_network(network, strict=False)
    except ValueError as exc:
        return f"not an IP network like '10.0.0.0/8' ({exc})"
    return None


def _status_problem(status: Any) -> str | None:
    return None if 100 <= status <= 599 else "not an HTTP status (100 to 599)"


def _address_problem(entry: Any) -> str | None:
    try:
        ipaddress.ip_address(entry[1])
    except ValueError:
        return 'not an IP address; map a host name to an address, e.g. "127.0.0.1"'
    return None


def _header_problem(entry: Any) -> str | None:
    name, value = entry
    if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
        return "not a valid header name"
    if any(c in value for c in "\r\n\0"):
        return "a header value cannot hold CR, LF or NUL"
    return None


def _proxy_problem(url: Any) -> str | None:
    if url and not re.fullmatch(r"https?://[^\s/]+/?", url):
        return "a proxy is an http:// URL like 'http://user:pass@proxy.example:3128'"
    return None


_VALIDATORS: dict[str, Any] = {
    "downloader.proxy": _proxy_problem,
    "scope.allow": _regex_problem,
    "scope.deny": _regex_problem,
    "scope.private_networks": _network_problem,
    "downloader.handle_status": _status_problem,
    "cache.ignore_status": _status_problem,
    "downloader.resolve": _address_problem,
    "downloader.headers": _header_problem,
}


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
    if not word or word in get_type_hints(Settings):
        return ""  # a section name: suggesting a key of another section would mislead
    paths = {
        f"{section}.{f.name}": f.name
        for section, cls in get_type_hints(Settings).items()
        for f in fields(cls)
    }
    by_key: dict[str, str] = {}
    for path, key in paths.items():
        by_key.setdefault(key, path)
    close = difflib.get_close_matches(word, list(by_key), n=1, cutoff=0.6)
    if close:
        return f" (did you mean {by_key[close[0]]!r}?)"
    close = difflib.get_close_matches(word, list(paths), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def as_dict(settings: Settings) -> dict[str, Any]:
    """The settings as plain nested data (for the journal header and stats)."""
    return dataclasses.asdict(settings)
