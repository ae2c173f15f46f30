"""The settings sections: every key once, with its type, default, bounds, check and resume rule.

Each field of a section is declared with `setting(...)`; the loader (loading.py) and the
resume comparison (`fixed_on_resume`) read what it declares from the field itself. Runs in
the scheduler; children receive the resulting `Settings` as an argument.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os
import types
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from crawler.settings.checks import (
    address_problem,
    header_problem,
    network_problem,
    proxy_problem,
    regex_problem,
    status_problem,
)
from crawler.version import __version__

Auto = Literal["auto"]
Check = Callable[[Any], str | None]
DEFAULT_USER_AGENT = f"crawler/{__version__} (+https://pypi.org/project/crawler)"

T = TypeVar("T")
_SPEC = "crawler.settings"  # the one key of a settings field's metadata


@dataclass(frozen=True)
class Spec:
    """What a settings field declares besides its type and default (see `setting`)."""

    resumable: bool
    min: float | None = None
    max: float | None = None
    check: Check | None = None


def setting(
    default: T,
    *,
    resumable: bool,
    min: float | None = None,
    max: float | None = None,
    check: Check | None = None,
) -> T:
    """A settings field: its default and what `Spec` holds.

    `resumable`: whether a resumed run may use another value (False: the value is part of
    what a resume must keep). `min` and `max` (inclusive) bound a number setting, or each
    element of a list of numbers; such a setting must give `min`, others may not give
    either. `check` names any further problem with the value (see checks.py). A list or
    table default is copied for each instance.
    """
    metadata = {_SPEC: Spec(resumable=resumable, min=min, max=max, check=check)}
    if isinstance(default, list | dict):
        return field(default_factory=functools.partial(copy.deepcopy, default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class ProcessSettings:
    """[processes]: how many worker processes run, and how they talk."""

    downloaders: int | Auto = setting("auto", min=1, resumable=True)
    parsers: int | Auto = setting("auto", min=1, resumable=True)
    transport: Literal["auto", "unix", "tcp"] = setting("auto", resumable=True)


@dataclass(frozen=True)
class DownloaderSettings:
    """[downloader]: fetching, its pacing, timeouts, retries and limits."""

    concurrency: int = setting(64, min=1, resumable=True)
    per_host: int = setting(16, min=1, resumable=True)
    delay: float = setting(0.0, min=0, resumable=True)
    timeout: float = setting(30.0, min=0.001, resumable=True)
    retries: int = setting(2, min=0, max=100, resumable=False)
    retry_backoff: float = setting(0.5, min=0, resumable=True)
    max_retry_after: float = setting(60.0, min=0, resumable=True)
    connect_timeout: float = setting(10.0, min=0.001, resumable=True)
    read_timeout: float = setting(20.0, min=0, resumable=True)
    max_body_size: int = setting(16 * 1024 * 1024, min=1024, resumable=False)
    max_decompressed_size: int = setting(64 * 1024 * 1024, min=1024, resumable=False)
    max_redirects: int = setting(10, min=0, resumable=False)
    user_agent: str = setting("", resumable=False)
    headers: dict[str, str] = setting({}, check=header_problem, resumable=False)
    cookies: bool = setting(True, resumable=False)
    proxy: str = setting("", check=proxy_problem, resumable=True)
    handle_status: list[int] = setting([], min=0, check=status_problem, resumable=False)
    obey_robots: bool = setting(True, resumable=False)
    max_crawl_delay: float = setting(60.0, min=0, resumable=False)
    verify_tls: bool = setting(True, resumable=True)
    resolve: dict[str, str] = setting({}, check=address_problem, resumable=True)


def user_agent(settings: DownloaderSettings) -> str:
    """The User-Agent sent: the setting, or one naming the framework and its version."""
    return settings.user_agent or DEFAULT_USER_AGENT


@dataclass(frozen=True)
class ThrottleSettings:
    """[throttle]: the auto-throttle of each host's delay."""

    enabled: bool = setting(False, resumable=True)
    target_concurrency: float = setting(1.0, min=0.01, resumable=True)
    start_delay: float = setting(1.0, min=0, resumable=True)
    max_delay: float = setting(60.0, min=0.001, resumable=True)


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
    """[scope]: which links are followed, and what identifies a URL."""

    allow: list[str] = setting([], check=regex_problem, resumable=True)
    deny: list[str] = setting([], check=regex_problem, resumable=True)
    max_url_length: int = setting(2083, min=16, resumable=True)
    max_query_params: int = setting(32, min=0, resumable=True)
    max_repeated_segments: int = setting(2, min=0, resumable=True)
    # strip_params changes fingerprints: a resume must use the same list.
    strip_params: list[str] = setting(
        ["jsessionid", "phpsessid", "sid", "sessionid", "session_id"], resumable=False
    )
    allow_private: bool = setting(False, resumable=True)
    private_networks: list[str] = setting(_PRIVATE_NETWORKS, check=network_problem, resumable=True)


@dataclass(frozen=True)
class FrontierSettings:
    """[frontier]: the order of pending requests and their memory."""

    order: Literal["depth-first", "breadth-first"] = setting("depth-first", resumable=True)
    memory_limit: int = setting(100_000, min=10, resumable=True)


@dataclass(frozen=True)
class ParserSettings:
    """[parser]: the back-pressure towards each parser."""

    window: int = setting(64, min=1, resumable=True)


@dataclass(frozen=True)
class LimitSettings:
    """[limits]: how far a crawl goes, and how it treats failing workers."""

    max_pages: int = setting(0, min=0, resumable=False)
    max_depth: int = setting(0, min=0, resumable=False)
    max_crash_deliveries: int = setting(3, min=1, resumable=False)
    max_restarts: int = setting(10, min=0, resumable=True)
    hang_timeout: float = setting(60.0, min=0.1, resumable=True)
    lease_timeout: float = setting(300.0, min=0, resumable=True)
    parser_memory_mb: int = setting(0, min=0, resumable=True)
    shutdown_grace: float = setting(10.0, min=0, resumable=True)


@dataclass(frozen=True)
class OutputSettings:
    """[output]: where run folders go, and the export format."""

    root: str = setting("output", resumable=True)
    format: Literal["jsonl", "json", "csv"] = setting("jsonl", resumable=True)
    csv_escape_formulas: bool = setting(True, resumable=True)


@dataclass(frozen=True)
class JournalSettings:
    """[journal]: how often the journal reaches the disk."""

    fsync_interval: float = setting(1.0, min=0.001, resumable=True)


@dataclass(frozen=True)
class CacheSettings:
    """[cache]: the HTTP cache for developing a spider."""

    enabled: bool = setting(False, resumable=True)
    dir: str = setting(".cache/http", resumable=True)
    expiration: float = setting(0.0, min=0, resumable=True)
    ignore_status: list[int] = setting(
        [408, 429, 500, 502, 503, 504, 522, 524], min=0, check=status_problem, resumable=True
    )


@dataclass(frozen=True)
class DemoSettings:
    """[demo]: the bundled demo site."""

    port: int = setting(8765, min=1, max=65535, resumable=True)
    pages: int = setting(2000, min=0, resumable=True)


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


def sections() -> dict[str, type[Any]]:
    """The section classes of `Settings`, by section name, in declaration order."""
    return dict(_SECTIONS)


def spec(setting_field: dataclasses.Field[Any]) -> Spec:
    """What a settings field declares (the field must come from `setting`)."""
    value = setting_field.metadata.get(_SPEC)
    if not isinstance(value, Spec):
        raise TypeError(f"{setting_field.name}: not declared with setting(...)")
    return value


def keys() -> list[str]:
    """Every setting as "section.key", in declaration order."""
    return [f"{name}.{f.name}" for name, cls in _SECTIONS.items() for f in fields(cls)]


def fixed_on_resume(settings: Settings) -> dict[str, dict[str, Any]]:
    """The values a resumed run must keep (fields with resumable=False), by section.

    Sections without such a field are left out.
    """
    data = as_dict(settings)
    fixed: dict[str, dict[str, Any]] = {}
    for name, cls in _SECTIONS.items():
        values = {f.name: data[name][f.name] for f in fields(cls) if not spec(f).resumable}
        if values:
            fixed[name] = values
    return fixed


def as_dict(settings: Settings) -> dict[str, Any]:
    """The settings as plain nested data (for the journal header and stats)."""
    return dataclasses.asdict(settings)


def takes_numbers(hint: Any) -> bool:
    """Whether a type hint admits numbers: int or float, alone, in a union, or in a list."""
    if get_origin(hint) is list:
        (hint,) = get_args(hint)
    members = get_args(hint) if get_origin(hint) in (Union, types.UnionType) else (hint,)
    return any(member in (int, float) for member in members)


def check_section(cls: type[Any]) -> None:
    """Raise TypeError unless every field of the section `cls` is a consistent `setting`.

    Runs at import for every section: a field made without `setting`, metadata beyond its
    `Spec`, bounds on a setting that is not a number, a number without `min`, `min` above
    `max`, or a default out of its bounds all fail there.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"settings section {cls!r} is not a dataclass")
    hints = get_type_hints(cls)
    for f in fields(cls):
        where = f"{cls.__name__}.{f.name}"
        if set(f.metadata) != {_SPEC}:
            raise TypeError(
                f"{where}: declare it with setting(...) alone, "
                f"not field metadata {sorted(map(str, f.metadata))}"
            )
        declared = spec(f)
        bounded = declared.min is not None or declared.max is not None
        if not takes_numbers(hints[f.name]):
            if bounded:
                raise TypeError(f"{where}: min/max bound a number setting, not {hints[f.name]}")
            continue
        if declared.min is None:
            raise TypeError(f"{where}: a number setting must declare its min")
        if declared.max is not None and declared.min > declared.max:
            raise TypeError(f"{where}: min {declared.min} is above max {declared.max}")
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        for value in default if isinstance(default, list) else [default]:
            if not isinstance(value, int | float) or isinstance(value, bool):
                continue
            if value < declared.min or (declared.max is not None and value > declared.max):
                raise TypeError(f"{where}: the default {value!r} is out of its bounds")


_SECTIONS: dict[str, type[Any]] = get_type_hints(Settings)
for _section in _SECTIONS.values():
    check_section(_section)
