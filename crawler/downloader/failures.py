"""The one mapping from the HTTP client's exceptions to our failures.

Used by every fetch (`crawler.downloader.fetch.exchange`): pages in a crawl, robots.txt
files, and `crawler parse` / `crawler shell`.  What is not in `FETCH_ERRORS` is a bug,
not a failed fetch, and propagates.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from crawler.downloader.netguard import private_error
from crawler.errors import BodyError
from crawler.wire.messages import FailureKind

FETCH_ERRORS = (aiohttp.ClientError, OSError, TimeoutError, BodyError)
"""What a fetch may raise for reasons outside this program: the network, the server, limits."""


@dataclass(frozen=True, slots=True)
class Failed:
    """Why an HTTP exchange got no usable response."""

    reason: str  # as `errors.jsonl` records it, e.g. "connect timeout"
    kind: FailureKind
    retryable: bool
    error: BaseException  # what was raised

    @property
    def detail(self) -> str:
        """The exception's own words: `ClientConnectorError: Cannot connect to host ...`."""
        return _named(self.error)


def failed(error: BaseException) -> Failed:
    """Our failure for one of `FETCH_ERRORS`."""
    if isinstance(error, BodyError):
        return Failed(str(error), FailureKind.LIMIT, False, error)
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        return Failed("connect timeout", FailureKind.NETWORK, True, error)
    if isinstance(error, aiohttp.SocketTimeoutError):
        return Failed("read timeout", FailureKind.NETWORK, True, error)
    if isinstance(error, TimeoutError):
        return Failed("timeout", FailureKind.NETWORK, True, error)
    refused = private_error(error)
    if refused is not None:
        return Failed(refused, FailureKind.REFUSED, False, error)
    return Failed(_named(error), FailureKind.NETWORK, True, error)


def _named(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"
