"""What becomes of a lease: commits, retries, failures, redirects; each journaled.

Downloaders report failures and redirects; parsers acknowledge pages (with their items
and new requests) or report a page that failed.  Each outcome ends its lease in the
frontier (refusing a lease no longer current: fencing), is journaled, and is counted.
"""

from __future__ import annotations

import logging
import random
import time

from crawler.api.request import max_retries
from crawler.frontier.interface import Lease
from crawler.journal.records import Done, Failed, Requeued, Skipped
from crawler.scheduler.context import CrawlContext
from crawler.scheduler.redirects import redirect_request
from crawler.urls.statuses import SLOW_DOWN_STATUSES
from crawler.wire.messages import (
    FailureKind,
    Fetched,
    FetchFailed,
    FetchFailure,
    PageDone,
    PageFailed,
    Redirected,
    RequestSpec,
)

logger = logging.getLogger("crawler")


class Outcomes:
    """Turns the workers' reports into journal records, retries and new requests."""

    def __init__(self, ctx: CrawlContext) -> None:
        self.ctx = ctx

    # ---- from downloaders --------------------------------------------------------------

    def fetched(self, message: Fetched) -> None:
        """A response's latency: the auto-throttle adapts the host's delay (when enabled)."""
        throttle = self.ctx.throttle
        if throttle is not None:
            delay = throttle.observe(message.host, message.latency, message.status)
            self.ctx.frontier.set_delay(message.host, delay)

    def redirected(self, message: Redirected) -> None:
        """A redirect ends its request; the target is admitted (and deduplicated) as new."""
        ctx = self.ctx
        lease = ctx.frontier.end(message.lease)
        if lease is None:
            return
        request = lease.request
        done = Done(request.id, message.status, "", 0, 0, 0, [])
        if message.cookies:
            self._merge_cookies(request, message.url, message.cookies, done)
        target = redirect_request(
            request,
            message.status,
            message.location,
            ctx.settings.downloader.max_redirects,
            ctx.fingerprint,
        )
        if isinstance(target, str):
            self.fail(request, target, FailureKind.REDIRECT, message.status)
            return
        # The target keeps the depth its request was admitted at: max_depth never filters it.
        filtered = ctx.scope.check(target.url, target.depth, request.url, request.private)
        if filtered is not None:
            ctx.stats.filtered[filtered] += 1
            logger.debug("%s redirects to %s: filtered (%s)", request.url, target.url, filtered)
        done.requests = admitted = ctx.frontier.admit([target]) if filtered is None else []
        ctx.journal.append(done)
        ctx.stats.redirects += 1
        if not admitted and filtered is None:
            ctx.stats.duplicates += 1
            logger.debug("%s redirects to %s, already seen", request.url, message.location)

    def fetch_failed(self, message: FetchFailed) -> None:
        """A fetch failed: pause a host that asked to slow down, retry, or fail for good."""
        ctx = self.ctx
        lease = ctx.frontier.end(message.lease)
        if lease is None:
            return
        request = lease.request
        if ctx.throttle is not None and message.kind == FailureKind.NETWORK:
            # No response (an HTTP failure was observed with its status already): an error.
            ctx.frontier.set_delay(lease.host, ctx.throttle.observe(lease.host, 0.0, 0))
        if message.kind == FailureKind.PARSER:
            ctx.frontier.push(request)
            return
        if message.status in SLOW_DOWN_STATUSES:
            seconds = ctx.backoff.slowed(lease.host, message.retry_after)
            ctx.frontier.pause(lease.host, seconds)
            ctx.stats.host_pauses += 1
            logger.info(
                "%s answered %d: no new request to it for %.1fs",
                lease.host,
                message.status,
                seconds,
            )
        if message.retryable and self.retry(request, message.retry_after):
            return
        self.fail(request, message.reason, message.kind, message.status)

    # ---- from parsers ------------------------------------------------------------------

    def page_done(self, parser: int, name: str, message: PageDone) -> None:
        """A parser committed a page: journal it with its items and admit its requests."""
        ctx = self.ctx
        lease = self._current(parser, name, message.lease)
        if lease is None:
            return
        failure = lease.request.failure
        if failure is not None:  # its errback ran
            self.record_failure(lease.request, failure.reason, failure.status, errback=message)
            return
        status = message.status
        if ctx.backoff.strikes and status not in SLOW_DOWN_STATUSES:
            ctx.backoff.recovered(lease.host)  # (a 429 the callback asked for is no page)
        done = Done(
            lease.request.id,
            status,
            message.part,
            message.start,
            message.end,
            message.items,
            [],
            message.invalid,
        )
        if message.cookies:
            self._merge_cookies(lease.request, lease.request.url, message.cookies, done)
        done.requests = admitted = ctx.frontier.admit(message.requests)
        ctx.journal.append(done)
        stats = ctx.stats
        stats.pages += 1
        stats.session_pages += 1
        stats.items += message.items
        stats.invalid_items += message.invalid
        stats.statuses[status] += 1
        stats.duplicates += len(message.requests) - len(admitted)
        if message.filtered:
            stats.filtered.update(message.filtered)
        if message.warnings:
            stats.warnings.update(message.warnings)

    def page_failed(self, parser: int, name: str, message: PageFailed) -> None:
        """A page's callback (or errback) failed: retry it if asked to, or record it."""
        lease = self._current(parser, name, message.lease)
        if lease is None:
            return
        request, reason = lease.request, message.reason
        if (failure := request.failure) is not None:
            why = f"{failure.reason}; {reason}"  # "...; errback error: ..."
            self.record_failure(request, why, failure.status)
        elif not (message.retry and self.retry(request)):
            self.record_failure(request, reason, 0)

    def _current(self, parser: int, name: str, lease_id: int) -> Lease | None:
        """End and return the lease if it is still `parser`'s; refuse a revoked one (fencing)."""
        frontier = self.ctx.frontier
        lease = frontier.current(lease_id)
        if lease is None or lease.parser != parser:
            self.ctx.stats.stale_acks += 1
            logger.debug("refused a stale acknowledgement (lease %d) from %s", lease_id, name)
            return None
        frontier.end(lease_id)
        return lease

    # ---- decided here ------------------------------------------------------------------

    def skip(self, lease: Lease, reason: str) -> None:
        """End a lease without fetching: the request is filtered for `reason`, for good."""
        self.ctx.frontier.end(lease.id)
        request = lease.request
        self.ctx.journal.append(Skipped(request.id, request.url, reason))
        self.ctx.stats.filtered[reason] += 1
        logger.debug("%s: not fetched (%s)", request.url, reason)

    def revoke(self, lease: Lease, blamed: bool, how: str) -> bool:
        """End a lease its holder lost; requeue the request (True) or bury it (False)."""
        ctx = self.ctx
        ctx.frontier.end(lease.id)
        request = lease.request
        if not blamed:
            ctx.frontier.push(request)
            return True
        request.crashes += 1
        if request.crashes >= ctx.settings.limits.max_crash_deliveries:
            self.record_failure(
                request, f"worker crashed {request.crashes} times ({how})", 0, dead=True
            )
            return False
        ctx.journal.append(Requeued(request.id, request.attempts, request.crashes))
        ctx.frontier.push(request)
        return True

    def fail(self, request: RequestSpec, reason: str, kind: FailureKind, status: int) -> None:
        """A fetch failed for good: record it, or first send it to its errback.

        The errback runs in a parser, like a callback: the request is queued again with
        its failure, and a downloader hands it to a parser without fetching it.  The
        failure is recorded when the parser commits what the errback produced.
        """
        if request.errback:
            request.failure = FetchFailure(reason, kind, status)
            self.ctx.frontier.push(request)
            return
        self.record_failure(request, reason, status)

    def retry(self, request: RequestSpec, retry_after: float = 0.0) -> bool:
        """Queue the request again after a backoff, if it has retries left."""
        ctx = self.ctx
        if request.attempts >= max_retries(request, ctx.settings.downloader.retries):
            return False
        request.attempts += 1
        ctx.stats.retries += 1
        ctx.journal.append(Requeued(request.id, request.attempts, request.crashes))
        delay = self._retry_delay(request.attempts, retry_after)
        ctx.frontier.push_later(request, time.monotonic() + delay)
        return True

    def _retry_delay(self, attempt: int, retry_after: float) -> float:
        """Exponential backoff with jitter, or the server's Retry-After (capped) if longer."""
        settings = self.ctx.settings.downloader
        backoff = settings.retry_backoff * 2.0 ** (attempt - 1) * random.uniform(0.5, 1.5)
        return max(backoff, min(retry_after, settings.max_retry_after))

    def record_failure(
        self,
        request: RequestSpec,
        reason: str,
        status: int,
        dead: bool = False,
        errback: PageDone | None = None,
    ) -> None:
        """Journal a final failure (with what its errback committed, if it had one)."""
        ctx = self.ctx
        record = Failed(request.id, request.url, reason, request.attempts + 1, status, dead)
        if errback is not None:
            record.part, record.start, record.end = errback.part, errback.start, errback.end
            record.items, record.invalid = errback.items, errback.invalid
            record.requests = ctx.frontier.admit(errback.requests)
            ctx.stats.duplicates += len(errback.requests) - len(record.requests)
            if errback.filtered:
                ctx.stats.filtered.update(errback.filtered)
        ctx.journal.append(record)
        ctx.stats.count_failure(record)
        log = logger.error if dead else logger.warning
        log("%s %s: %s", "dead" if dead else "failed", request.url, reason)

    def _merge_cookies(
        self, request: RequestSpec, url: str, headers: list[str], done: Done
    ) -> None:
        """Merge a response's Set-Cookie headers; `done` journals them, for a resume."""
        cookies = self.ctx.cookies
        if cookies is not None:
            jar = request.meta.get("cookiejar") if request.meta else None
            if cookies.update(jar, url, headers):
                logger.debug("ignored a malformed Set-Cookie from %s", url)
            done.cookies, done.cookie_url, done.jar = headers, url, jar
