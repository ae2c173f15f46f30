"""What became of a fetch that does not reach a parser, told to the scheduler.

A 2xx response (or a status the spider handles) goes on to its parser; a redirect goes
back to the scheduler, which checks and follows it; every other status, and every failed
exchange, is reported as a failure, retryable or not.  A fetched page is reported by its
parser's acknowledgement, not from here.
"""

from __future__ import annotations

import datetime
import email.utils
from typing import Any, TypeAlias

import aiohttp

from crawler.api.request import max_retries
from crawler.downloader.cache import CachedResponse
from crawler.downloader.failures import Failed
from crawler.downloader.fetch import resolve_location
from crawler.settings.schema import DownloaderSettings
from crawler.urls.statuses import REDIRECT_STATUSES, RETRY_STATUSES
from crawler.wire.channel import Channel
from crawler.wire.messages import FailureKind, Fetch, FetchFailed, Redirected

Head: TypeAlias = aiohttp.ClientResponse | CachedResponse  # a response's status and headers


def retry_after(value: str | None) -> float:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; 0 if absent or bad."""
    if not value:
        return 0.0
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (when - datetime.datetime.now(datetime.UTC)).total_seconds())


class Outcomes:
    """Decides whether a response goes to a parser, and reports those that do not."""

    def __init__(self, out: Channel, settings: DownloaderSettings) -> None:
        self.out = out
        self.retries = settings.retries
        self.cookies = settings.cookies
        self.handle_status = frozenset(settings.handle_status)

    def wanted(self, fetch: Fetch, response: Head) -> bool:
        """Whether the response's body goes to a parser; if not, report what happened."""
        status = response.status
        if 200 <= status < 300:
            return True
        if status in REDIRECT_STATUSES and "Location" in response.headers:
            self._redirected(fetch, response)
            return False
        request = fetch.request
        retry = status in RETRY_STATUSES and request.attempts < max_retries(request, self.retries)
        if not retry and self._handles(request.meta, status):
            return True
        # Also when out of retries: a 429/503 pauses its host for its Retry-After.
        wait = retry_after(response.headers.get("Retry-After")) if status in RETRY_STATUSES else 0.0
        self.out.send(
            FetchFailed(fetch.lease, f"HTTP {status}", FailureKind.HTTP, retry, status, wait)
        )
        return False

    def failed(self, fetch: Fetch, failure: Failed) -> None:
        """Report an exchange (or a request hook) that failed."""
        self.out.send(FetchFailed(fetch.lease, failure.reason, failure.kind, failure.retryable))

    def fail(
        self, fetch: Fetch, reason: str, kind: FailureKind, retryable: bool, status: int = 0
    ) -> None:
        """Report a failure."""
        self.out.send(FetchFailed(fetch.lease, reason, kind, retryable, status))

    def _redirected(self, fetch: Fetch, response: Head) -> None:
        try:
            location = str(resolve_location(response.url, response.headers["Location"]))
        except ValueError as exc:
            reason = f"bad redirect Location: {exc}"
            self.fail(fetch, reason, FailureKind.REDIRECT, False, response.status)
            return
        cookies = response.headers.getall("Set-Cookie", ()) if self.cookies else ()
        self.out.send(
            Redirected(fetch.lease, response.status, location, str(response.url), list(cookies))
        )

    def _handles(self, meta: dict[str, Any], status: int) -> bool:
        """Whether the spider asked for responses with this (non-2xx) status."""
        if status in self.handle_status:
            return True
        if not meta:
            return False
        if meta.get("handle_all_status") is True:
            return True
        wanted = meta.get("handle_status")
        return isinstance(wanted, list) and status in wanted
