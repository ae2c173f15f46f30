"""The settings: one schema (each key once, with its type, default and bounds) and its loading.

schema.py declares the sections and what each key allows; loading.py reads settings.toml,
custom_settings and -s overrides into a checked `Settings`; checks.py holds the value checks.
"""

from crawler.settings.loading import load, parse_override, read_toml
from crawler.settings.schema import (
    DEFAULT_USER_AGENT,
    CacheSettings,
    DemoSettings,
    DownloaderSettings,
    FrontierSettings,
    JournalSettings,
    LimitSettings,
    OutputSettings,
    ParserSettings,
    ProcessSettings,
    ScopeSettings,
    Settings,
    Spec,
    ThrottleSettings,
    as_dict,
    fixed_on_resume,
    keys,
    sections,
    setting,
    user_agent,
)

__all__ = [
    "DEFAULT_USER_AGENT",
    "CacheSettings",
    "DemoSettings",
    "DownloaderSettings",
    "FrontierSettings",
    "JournalSettings",
    "LimitSettings",
    "OutputSettings",
    "ParserSettings",
    "ProcessSettings",
    "ScopeSettings",
    "Settings",
    "Spec",
    "ThrottleSettings",
    "as_dict",
    "fixed_on_resume",
    "keys",
    "load",
    "parse_override",
    "read_toml",
    "sections",
    "setting",
    "user_agent",
]
