"""The `Spider` base class users subclass, and how spiders are found in `spiders/`."""

from __future__ import annotations

import importlib
import inspect
import sys
import traceback
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from crawler.api.hooks import Hook
from crawler.api.request import Request
from crawler.errors import SpiderError


class Spider:
    """Subclass this: set `name` and `start_urls`, and write `parse(response)`.

    Keyword arguments (from `-a NAME=VALUE` on the command line) become attributes.
    """

    name: ClassVar[str] = ""
    start_urls: list[str] = []
    allowed_domains: list[str] = []
    custom_settings: ClassVar[dict[str, Any]] = {}
    handle_status: ClassVar[list[int]] = []
    hooks: ClassVar[list[Hook]] = []
    # A msgspec.Struct or dataclass every item must fit (None: any dict or dataclass goes).
    item_schema: ClassVar[type | None] = None

    def __init__(self, **kwargs: Any) -> None:
        for key, value in kwargs.items():
            setattr(self, key, value)

    def start_requests(self) -> Iterator[Request] | AsyncIterator[Request]:
        """The first requests; by default one for each of `start_urls`."""
        if isinstance(self.start_urls, str):
            raise SpiderError(f"{type(self).__name__}.start_urls must be a list of URLs, not a str")
        return (Request(url) for url in self.start_urls)

    def parse(self, response: Any) -> Any:
        """The default callback."""
        raise NotImplementedError(f"{type(self).__name__}.parse() is not defined")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


@dataclass(frozen=True)
class SpiderRef:
    """Where a spider class lives, so every process can import it by module path."""

    root: str
    module: str
    qualname: str
    name: str

    def load(self) -> type[Spider]:
        """Import the spider class (in any process)."""
        _add_root(self.root)
        module = importlib.import_module(self.module)
        cls = getattr(module, self.qualname)
        assert isinstance(cls, type) and issubclass(cls, Spider)
        return cls


def _add_root(root: str) -> None:
    if root not in sys.path:
        sys.path.insert(0, root)


def discover(root: Path) -> dict[str, SpiderRef]:
    """Import every module in `root/spiders/` and return the spiders found, by name."""
    folder = root / "spiders"
    if not folder.is_dir():
        raise SpiderError(f"no spiders/ folder in {root}")
    _add_root(str(root))
    found: dict[str, SpiderRef] = {}
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        module = _import(f"spiders.{path.stem}", path)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if not issubclass(cls, Spider) or cls is Spider or cls.__module__ != module.__name__:
                continue
            if not cls.name:
                continue
            if cls.name in found:
                other = found[cls.name]
                raise SpiderError(
                    f"two spiders are named {cls.name!r}: {other.module}.{other.qualname} "
                    f"and {module.__name__}.{cls.__qualname__}"
                )
            found[cls.name] = SpiderRef(str(root), module.__name__, cls.__qualname__, cls.name)
    return found


def _import(module_name: str, path: Path) -> Any:
    try:
        return importlib.import_module(module_name)
    except Exception as exc:
        frames = traceback.extract_tb(exc.__traceback__)
        user = [f for f in frames if str(root_of(f.filename)) == str(path.parent.resolve())]
        where = f"{user[-1].filename}:{user[-1].lineno}" if user else str(path)
        if isinstance(exc, SyntaxError) and exc.filename:
            where = f"{exc.filename}:{exc.lineno}"
        raise SpiderError(
            f"cannot import spider module {path}: {type(exc).__name__}: {exc} (at {where})"
        ) from exc


def root_of(filename: str) -> Path:
    return Path(filename).resolve().parent


def find(root: Path, name: str) -> SpiderRef:
    """Return the spider called `name`, or raise SpiderError listing the known ones."""
    spiders = discover(root)
    if name not in spiders:
        known = ", ".join(sorted(spiders)) or "none"
        raise SpiderError(f"no spider named {name!r} in {root / 'spiders'}; found: {known}")
    return spiders[name]


def parse_spider_args(pairs: list[str]) -> dict[str, str]:
    """Turn `-a NAME=VALUE` pairs into a dict."""
    args: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.isidentifier():
            raise SpiderError(f"spider argument {pair!r} is not NAME=VALUE")
        args[name] = value
    return args
