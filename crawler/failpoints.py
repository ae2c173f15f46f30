"""Named failpoints for exact fault tests; a no-op unless CRAWLER_FAILPOINTS is set.

    CRAWLER_FAILPOINTS="parser.after_item:2=kill@/page/17;downloader.mid_frame=kill"

Each entry is `NAME[:N[+]]=ACTION[@URL_SUBSTRING]`: fire on the Nth matching hit, on
every hit from the Nth with `N+` (a disk that stays full), or on every hit without N.
Actions: `kill` (SIGKILL self), `abort`, `sleep:SECONDS`, `enospc` (raise OSError
ENOSPC), `raise`.  With CRAWLER_FAILPOINTS_ONCE=DIR each failpoint fires once per
crawl, across process restarts (a marker file in DIR records it).
"""

from __future__ import annotations

import errno
import os
import signal
import time
from dataclasses import dataclass


@dataclass
class _Point:
    action: str
    nth: int
    url: str
    onward: bool = False  # N+: every hit from the Nth on
    hits: int = 0


_ACTIONS = ("kill", "abort", "sleep", "enospc", "raise")


def _parse(spec: str) -> dict[str, list[_Point]]:
    """Parse CRAWLER_FAILPOINTS; raise ValueError on a malformed entry (a typo must not
    silently disable the fault a test relies on)."""
    points: dict[str, list[_Point]] = {}
    for entry in filter(None, (e.strip() for e in spec.split(";"))):
        target, sep, action = entry.partition("=")
        action, _, url = action.partition("@")
        name, colon, nth = (part.strip() for part in target.partition(":"))
        action = action.strip()
        kind, _, arg = action.partition(":")
        problem = ""
        if not sep or not name:
            problem = "expected NAME[:N[+]]=ACTION[@URL]"
        elif colon and not (nth.rstrip("+").isdigit() and int(nth.rstrip("+")) >= 1):
            problem = f"N must be a whole number >= 1, got {nth!r}"
        elif kind not in _ACTIONS:
            problem = f"unknown action {action!r} (one of {', '.join(_ACTIONS)})"
        elif arg and kind != "sleep":
            problem = f"action {kind!r} takes no argument, got {action!r}"
        elif kind == "sleep" and arg and not _is_number(arg):
            problem = f"sleep takes seconds, got {arg!r}"
        if problem:
            raise ValueError(f"CRAWLER_FAILPOINTS entry {entry!r}: {problem}")
        onward = nth.endswith("+")
        points.setdefault(name, []).append(_Point(action, int(nth.rstrip("+") or 0), url, onward))
    return points


def _is_number(text: str) -> bool:
    try:
        return float(text) >= 0
    except ValueError:
        return False


_POINTS = _parse(os.environ.get("CRAWLER_FAILPOINTS", ""))
_ONCE_DIR = os.environ.get("CRAWLER_FAILPOINTS_ONCE", "")


def failpoint(name: str, url: str = "") -> None:
    """Run the action configured for `name`, if any (cheap when none is)."""
    if not _POINTS:
        return
    for point in _POINTS.get(name, ()):
        if point.url and point.url not in url:
            continue
        point.hits += 1
        if point.nth and (point.hits < point.nth if point.onward else point.hits != point.nth):
            continue
        if _ONCE_DIR and not _claim(name):
            continue
        _act(point.action)


def _claim(name: str) -> bool:
    try:
        os.close(os.open(os.path.join(_ONCE_DIR, name), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def _act(action: str) -> None:
    kind, _, arg = action.partition(":")
    if kind == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif kind == "abort":
        os.abort()
    elif kind == "sleep":
        time.sleep(float(arg or 3600))
    elif kind == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    elif kind == "raise":
        raise RuntimeError(f"failpoint raised ({action})")


def enabled(name: str) -> bool:
    """Whether any action is configured for `name` (to skip costly set-up)."""
    return name in _POINTS
