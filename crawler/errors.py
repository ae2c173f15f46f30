"""The framework's exception tree, exit codes and terminal signals, used by every process.

Every exception the framework raises on purpose is defined here, once:

    CrawlerError
    ├── UsageError            bad command line, settings or spider: exit 2 before any work
    │   ├── SettingsError     settings.toml, -s overrides or custom_settings
    │   └── SpiderError       spider module, class, arguments or start URLs
    ├── JobError              the run folder cannot be used: exit 2 (locked) or 3 (corrupt)
    │   ├── JobLockedError    another live crawl holds the run folder
    │   └── JournalCorruptError  the journal is unreadable or from another version
    ├── FatalCrawlError       runtime abort with state saved: exit 3
    ├── PageError             one page failed in a callback; recorded, the crawl goes on
    │   └── NotTextError      response.text or a selector of an image, PDF or binary body
    └── Retry                 raised by a spider's hook or callback: fetch the page again

Outside `CrawlerError`, because callers rely on their standard base:

    ValueError
    └── NoLinkError           response.follow() of an element without href/src
    OSError
    └── PrivateAddressError   a connection to a blocked address, refused (aiohttp sees an
                              OSError, as from any failed connect)
    Exception
    ├── BodyError             a body over its limits or undecodable: the request fails
    └── FrameTooLarge         a peer announced a frame over the channel's limit
"""

from __future__ import annotations

import enum
import errno
import signal

TERMINAL_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})
"""The signals that stop a crawl in order; workers ignore them, the scheduler handles them."""


class ExitCode(enum.IntEnum):
    """The exit status of the `crawler` command, and of a worker process to its scheduler."""

    OK = 0
    ERROR = 1  # an unexpected error; `crawler parse`: the callback failed
    USAGE = 2  # bad input, nothing started (UsageError)
    FATAL = 3  # the crawl could not go on; its state is saved (FatalCrawlError, JobError)
    BROKEN_WORKER = 70  # a worker asks to be restarted (EX_SOFTWARE)
    SIGINT = 128 + signal.SIGINT  # stopped by Ctrl-C
    SIGTERM = 128 + signal.SIGTERM  # stopped by SIGTERM


class CrawlerError(Exception):
    """Base of every error the framework raises on purpose."""

    exit_code: int = ExitCode.ERROR


class UsageError(CrawlerError):
    """The user asked for something that cannot run; nothing was started."""

    exit_code = ExitCode.USAGE


class SettingsError(UsageError):
    """A setting is unknown, mistyped or out of range."""


class SpiderError(UsageError):
    """A spider cannot be found, imported or started."""


class JobError(CrawlerError):
    """The run folder cannot be used."""

    exit_code = ExitCode.FATAL


class JobLockedError(JobError):
    """Another live crawl holds the run folder's lock."""

    exit_code = ExitCode.USAGE


class JournalCorruptError(JobError):
    """The journal is damaged or was written by an incompatible version."""


class FatalCrawlError(CrawlerError):
    """The crawl had to stop; its state is saved and it can be resumed."""

    exit_code = ExitCode.FATAL


class PageError(CrawlerError):
    """A page's callback failed or yielded something that cannot be sent on."""


class NotTextError(PageError):
    """A callback asked for the text or selectors of a body that is not text."""


class Retry(CrawlerError):
    """Raise from a response hook or a callback: fetch this page again.

    The retry counts against `downloader.retries` (or `meta["max_retries"]`) and waits the
    usual backoff; when none are left the request fails with this reason.
    """

    def __init__(self, reason: str = "retry requested") -> None:
        super().__init__(reason)
        self.reason = reason


class NoLinkError(ValueError):
    """`follow()` was given an element without an href (or src) attribute."""


class PrivateAddressError(OSError):
    """A connection to a blocked (private) address was refused before it was made."""

    def __init__(self, address: str) -> None:
        # One text for every address, so that aiohappyeyeballs, when every address of a
        # host fails, re-raises this error instead of a plain OSError combining them.
        super().__init__(errno.EACCES, "private address refused (scope.private_networks)")
        self.address = address
        self.reason = f"private address refused: {address} (scope.private_networks)"


class BodyError(Exception):
    """The body broke a limit or could not be decoded; the request fails for good."""


class FrameTooLarge(Exception):
    """A peer announced a frame larger than the channel allows."""
