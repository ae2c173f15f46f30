"""The framework's exception tree, used by every process.

CrawlerError
├── UsageError            bad command line, settings or spider: exit 2 before any work
│   ├── SettingsError     settings.toml, -s overrides or custom_settings
│   └── SpiderError       spider module, class, arguments or start URLs
├── JobError              the run folder cannot be used: exit 2 (locked) or 3 (corrupt)
│   ├── JobLockedError    another live crawl holds the run folder
│   └── JournalCorruptError  the journal is unreadable or from another version
├── FatalCrawlError       runtime abort with state saved: exit 3
└── PageError             one page failed in a callback; recorded, the crawl goes on
    └── NotTextError      response.text or a selector of an image, PDF or binary body
"""

from __future__ import annotations


class CrawlerError(Exception):
    """Base of every error the framework raises on purpose."""

    exit_code = 1


class UsageError(CrawlerError):
    """The user asked for something that cannot run; nothing was started."""

    exit_code = 2


class SettingsError(UsageError):
    """A setting is unknown, mistyped or out of range."""


class SpiderError(UsageError):
    """A spider cannot be found, imported or started."""


class JobError(CrawlerError):
    """The run folder cannot be used."""

    exit_code = 3


class JobLockedError(JobError):
    """Another live crawl holds the run folder's lock."""

    exit_code = 2


class JournalCorruptError(JobError):
    """The journal is damaged or was written by an incompatible version."""


class FatalCrawlError(CrawlerError):
    """The crawl had to stop; its state is saved and it can be resumed."""

    exit_code = 3


class PageError(CrawlerError):
    """A page's callback failed or yielded something that cannot be sent on."""


class NotTextError(PageError):
    """A callback asked for the text or selectors of a body that is not text."""
