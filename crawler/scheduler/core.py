"""The scheduler (the main process): owns the frontier, leases, journal and workers.

It publishes fetches to downloaders over their Pipes, receives acknowledgements from
parsers over theirs, journals every acknowledgement before it counts, and ends the crawl
when start_requests() is exhausted, nothing is pending and nothing is leased.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import random
import secrets
import shutil
import signal
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from crawler.api import hooks
from crawler.api.request import Request, max_retries, to_spec
from crawler.api.spider import Spider, SpiderRef
from crawler.errors import TERMINAL_SIGNALS, ExitCode, SpiderError
from crawler.failpoints import failpoint
from crawler.frontier.local import Lease, LocalFrontier
from crawler.frontier.seen import FingerprintSet
from crawler.journal.records import Closed, Done, Failed, JournalWriter, Requeued, Seeded, Skipped
from crawler.journal.runfolder import RunFolder
from crawler.journal.stats import CrawlStats
from crawler.scheduler.backoff import HostBackoff
from crawler.scheduler.cookies import CookieJars
from crawler.scheduler.pool import WorkerHandle, describe_exit, spawn, start_forkserver, stop
from crawler.scheduler.redirects import redirect_request
from crawler.scheduler.robots import RobotsCache
from crawler.scheduler.robots_dispatch import RobotsDispatch
from crawler.scheduler.throttle import AutoThrottle
from crawler.settings.schema import Settings
from crawler.urls.fingerprint import fingerprint
from crawler.urls.hosts import host_key
from crawler.urls.scope import Scope
from crawler.urls.statuses import SLOW_DOWN_STATUSES
from crawler.wire.counters import CURRENT, HEARTBEAT, allocate
from crawler.wire.counters import Counters as CounterRow
from crawler.wire.messages import (
    FailureKind,
    Fetch,
    FetchBatch,
    Fetched,
    FetchFailed,
    FetchFailure,
    FromDownloader,
    FromParser,
    LogLine,
    PageDone,
    PageFailed,
    ParserAddress,
    ParserReady,
    Redirected,
    RequestSpec,
    RobotsFetched,
    Stop,
)
from crawler.wire.startup import DownloaderArgs, ParserArgs, run_worker
from crawler.wire.transport import make_socket_dir, socket_dir

logger = logging.getLogger("crawler")

_RESTART_BACKOFF = (0.0, 0.1, 0.5, 1.0, 2.0)


@dataclass(frozen=True)
class CrawlPlan:
    """Everything a crawl needs, decided before any process starts."""

    spider: SpiderRef
    spider_args: dict[str, str]
    settings: Settings
    run: RunFolder
    start_consumed: int
    pending: Iterable[RequestSpec]  # the requests still to do (streamed from the journal)
    seen: FingerprintSet  # fingerprints of every request admitted in earlier sessions
    next_id: int
    stats: CrawlStats
    log_level: int
    cookies: Iterable[tuple[Any, str, list[str]]] = ()  # earlier sessions' Set-Cookie headers


class Scheduler:
    """Leases requests to downloaders and parsers; commits their results to the journal."""

    def __init__(self, plan: CrawlPlan, journal: JournalWriter) -> None:
        self.plan = plan
        self.settings = plan.settings
        self.run = plan.run
        self.journal = journal
        self.stats = plan.stats
        self.frontier = LocalFrontier(
            self.settings.downloader.per_host,
            self.settings.frontier.order == "depth-first",
            self.settings.downloader.delay,
            self.settings.frontier.memory_limit,
            self.run.job / "spill",
        )
        self.wake_timer: asyncio.TimerHandle | None = None
        self.cookies: CookieJars | None = None
        if self.settings.downloader.cookies:
            self.cookies = CookieJars()
            for jar, url, headers in plan.cookies:  # the Set-Cookie headers of earlier sessions
                self.cookies.update(jar, url, headers)
        self.spider: Spider = plan.spider.load()(**plan.spider_args)
        self.scope = Scope(self.settings, self.spider)
        self.has_request_hooks = bool(hooks.overrides(type(self.spider).hooks, "request"))
        self.counters_block = allocate(
            self.settings.downloader_count() + self.settings.parser_count()
        )
        self.downloaders = self._handles("downloader", self.settings.downloader_count(), 0)
        self.parsers = self._handles(
            "parser", self.settings.parser_count(), self.settings.downloader_count()
        )
        self.robots: RobotsCache | None = None
        self.robots_dispatch: RobotsDispatch | None = None
        if self.settings.downloader.obey_robots:
            # Downloaders fetch robots.txt files (through their own sessions, proxy and
            # private-address guard); the scheduler keeps the rules.
            self.robots_dispatch = RobotsDispatch(
                self.downloaders, self.settings.limits.max_crash_deliveries
            )
            self.robots = RobotsCache(
                self.settings.downloader,
                on_ready=self._on_robots_ready,
                fetcher=self.robots_dispatch.fetch,
            )
            self.frontier.gate = self._robots_gate
        downloader_settings = self.settings.downloader
        self.backoff = HostBackoff(
            downloader_settings.retry_backoff, downloader_settings.max_retry_after
        )
        self.throttle: AutoThrottle | None = None
        if self.settings.throttle.enabled:
            self.throttle = AutoThrottle(self.settings.throttle, self.settings.downloader.delay)
            self.frontier.delay = max(self.frontier.delay, self.settings.throttle.start_delay)
        self.frontier.seen, self.frontier.next_id = plan.seen, plan.next_id
        for request in plan.pending:
            self.frontier.push(request)
        self.starts: Iterator[Any] | AsyncIterator[Any] | None = None
        self.consumed = plan.start_consumed
        self.token = secrets.token_bytes(16)
        self.sockets = socket_dir(self.run.path)
        self.wake = asyncio.Event()
        self.done = asyncio.Event()
        self.state = "running"  # running | draining | stopping
        self.exit_code: int = ExitCode.OK
        self.drain_deadline = 0.0
        self.fatal: str | None = None
        self.background: set[asyncio.Task[Any]] = set()

    def __repr__(self) -> str:
        return (
            f"<Scheduler pending={self.frontier.pending_count()} "
            f"leased={len(self.frontier.leases)} done={self.stats.pages}>"
        )

    def _handles(self, role: str, count: int, first_slot: int) -> list[WorkerHandle]:
        return [
            WorkerHandle(role, i, first_slot + i, CounterRow(self.counters_block, first_slot + i))
            for i in range(count)
        ]

    # ---- life cycle -------------------------------------------------------------------

    async def crawl(self) -> int:
        """Run the crawl to its end; return the exit code."""
        loop = asyncio.get_running_loop()
        for signum in TERMINAL_SIGNALS:
            loop.add_signal_handler(signum, self._on_signal, signum)
        # Start the event loop's resolver threads (a spider's start_requests may resolve
        # names) while SIGINT and SIGTERM are still blocked: they inherit the mask, so a
        # signal always reaches this thread, never one of theirs.
        with contextlib.suppress(OSError):
            await loop.getaddrinfo("127.0.0.1", 0)
        # Signals were blocked since start-up (see crawl.py): a Ctrl-C that came early is
        # delivered now, to the handler, and starts an orderly stop.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, TERMINAL_SIGNALS)
        make_socket_dir(self.sockets)
        self.starts = self._start_iterator()
        try:
            for handle in self.parsers:
                await self._spawn(handle)
            for handle in self.downloaders:
                await self._spawn(handle)
            self._every(1.0, self._watch_health)
            self._every(self.settings.journal.fsync_interval, self._sync_journal)
            self._every(5.0, self._log_progress)
            pump = asyncio.create_task(self._pump())
            await self.done.wait()
            pump.cancel()
        finally:
            for task in self.background:
                task.cancel()
            self.state = "stopping"
            await stop(self.parsers + self.downloaders, Stop(), timeout=5.0)
            self._write_status()
            signal.pthread_sigmask(signal.SIG_BLOCK, TERMINAL_SIGNALS)
            for signum in TERMINAL_SIGNALS:
                loop.remove_signal_handler(signum)
            shutil.rmtree(self.sockets, ignore_errors=True)
            self.frontier.close()
            if self.robots is not None:
                self.stats.robots = self.robots.stats()
                await self.robots.close()
        return self.exit_code

    def _every(self, interval: float, action: Any) -> None:
        async def repeat() -> None:
            while True:
                await asyncio.sleep(interval)
                try:
                    action()
                except OSError as exc:
                    self._abort(f"cannot write the journal {self.journal.path}: {exc.strerror}")
                except Exception as exc:
                    logger.critical("scheduler error", exc_info=True)
                    self._abort(f"scheduler error: {type(exc).__name__}: {exc}")

        task = asyncio.create_task(repeat())
        self.background.add(task)

    def _on_signal(self, signum: int) -> None:
        code = ExitCode.SIGINT if signum == signal.SIGINT else ExitCode.SIGTERM
        if self.state == "running":
            self.state = "draining"
            self.exit_code = code
            self.drain_deadline = time.monotonic() + self.settings.limits.shutdown_grace
            logger.warning(
                "%s: finishing %d pages in flight (up to %.0fs); press Ctrl-C again to stop now",
                signal.Signals(signum).name,
                len(self.frontier.leases),
                self.settings.limits.shutdown_grace,
            )
            self._kick()
        else:
            logger.warning("%s again: stopping now", signal.Signals(signum).name)
            self._finish(code)

    def _finish(self, code: int) -> None:
        if not self.done.is_set():
            self.exit_code = code
            self.done.set()

    def _kick(self) -> None:
        self.wake.set()

    # ---- the pump: journal, then dispatch, then check the end --------------------------

    async def _pump(self) -> None:
        while not self.done.is_set():
            await self.wake.wait()
            self.wake.clear()
            try:
                await self._pump_once()
            except OSError as exc:
                self._abort(f"cannot write the journal {self.journal.path}: {exc.strerror or exc}")
            except Exception as exc:
                logger.critical("scheduler error", exc_info=True)
                self._abort(f"scheduler error: {type(exc).__name__}: {exc}")

    async def _pump_once(self) -> None:
        if self.state == "running":
            await self._fill_from_starts()
        self._commit_journal()
        if self.state == "running":
            self._dispatch()
            self._wake_for_delayed()
        self._check_end()

    def _commit_journal(self) -> None:
        """Write the queued journal records: from here on they count."""
        failpoint("scheduler.before_journal")
        self.journal.flush()

    def _abort(self, reason: str) -> None:
        """Stop on a fatal error; what was committed stays, the run can be resumed."""
        self.fatal = reason
        self.state = "stopping"
        self._finish(ExitCode.FATAL)

    def _check_end(self) -> None:
        if self.done.is_set():
            return
        if self.state == "draining":
            if not self.frontier.leases or time.monotonic() > self.drain_deadline:
                self._finish(self.exit_code)
            return
        if self._page_budget_spent() and not self.frontier.leases:
            self._close("max_pages")
        elif self.starts is None and self.frontier.is_idle():
            self._close("finished")

    def _close(self, reason: str) -> None:
        unfetched = self.frontier.clear_pending()
        self.stats.unfetched = unfetched
        if unfetched:
            self.stats.filtered[reason] += unfetched
        self.journal.append(Closed(reason, unfetched))
        self.journal.flush()
        self._finish(ExitCode.OK)

    def _page_budget_spent(self) -> bool:
        limit = self.settings.limits.max_pages
        used = self.stats.pages + self.stats.failed + self.stats.dead + len(self.frontier.leases)
        return bool(limit) and used >= limit

    def _dispatch(self) -> None:
        """Lease pending requests to downloaders with room and parsers with a free window."""
        batches: dict[int, list[Any]] = {}
        concurrency = self.settings.downloader.concurrency
        window = self.settings.parser.window
        downloaders = [h for h in self.downloaders if h.ready]
        parsers = [h for h in self.parsers if h.ready]
        while downloaders and parsers and not self._page_budget_spent():
            d = min(downloaders, key=lambda h: len(h.busy))
            p = min(parsers, key=lambda h: len(h.busy))
            if len(d.busy) >= concurrency or len(p.busy) >= window:
                break
            lease = self.frontier.lease(d.index, p.index)
            if lease is None:
                break
            if self.robots is not None and not self.robots.allowed(lease.request.url):
                self._skip(lease, "robots")
                continue
            d.busy.add(lease.id)
            p.busy.add(lease.id)
            request = lease.request
            cookie = ""
            if self.cookies is not None:
                jar = request.meta.get("cookiejar") if request.meta else None
                cookie = self.cookies.header(jar, request.url, request.cookies)
            batches.setdefault(d.index, []).append(Fetch(request, lease.id, p.index, cookie))
        for index, fetches in batches.items():
            sender = self.downloaders[index].sender
            assert sender is not None
            sender.send(FetchBatch(fetches))

    # ---- start requests ----------------------------------------------------------------

    def _start_iterator(self) -> Iterator[Any] | AsyncIterator[Any]:
        result = self.spider.start_requests()
        if inspect.isasyncgen(result) or isinstance(result, AsyncIterator):
            return result
        return iter(result)

    async def _fill_from_starts(self) -> None:
        """Take start requests lazily, while the frontier is short of work."""
        if self.starts is None:
            return
        low_water = 2 * (self.settings.downloader.concurrency * len(self.downloaders))
        admitted: list[RequestSpec] = []
        consumed_before = self.consumed
        while (
            self.starts is not None
            and self.state == "running"  # a Ctrl-C during a slow start_requests() stops it
            and self.frontier.pending_count() + len(admitted) < low_water
        ):
            request = await self._next_start()
            if request is None:
                continue
            spec = self._start_spec(request)
            if spec is not None:
                admitted.extend(self.frontier.admit([spec]))
        if self.consumed != consumed_before:
            self.journal.append(Seeded(self.consumed, admitted))

    async def _next_start(self) -> Request | None:
        assert self.starts is not None
        try:
            if isinstance(self.starts, AsyncIterator):
                item = await anext(self.starts)
            else:
                item = next(self.starts)
        except (StopIteration, StopAsyncIteration):
            self.starts = None
            return None
        except Exception as exc:
            logger.error(
                "start_requests() raised %s: %s; no more start requests",
                type(exc).__name__,
                exc,
                exc_info=True,
            )
            self.starts = None
            return None
        self.consumed += 1
        if self.consumed <= self.plan.start_consumed:
            return None  # consumed by an earlier session of this run
        if not isinstance(item, Request):
            self._fail_start(repr(item)[:200], f"start_requests() yielded {type(item).__name__}")
            return None
        return item

    def _start_spec(self, request: Request) -> RequestSpec | None:
        try:
            spec = to_spec(self.spider, request)
        except ValueError as exc:
            self._fail_start(request.url, str(exc))
            return None
        spec.private = self.scope.is_start_private(spec.url)
        if not spec.dont_filter:
            spec.fingerprint = self._fingerprint(spec.method, spec.url, spec.body)
        return spec

    def _fingerprint(self, method: str, url: str, body: bytes) -> int:
        return fingerprint(method, url, body, self.scope.strip)

    def _fail_start(self, url: str, reason: str) -> None:
        logger.error("bad start request %s: %s", url, reason)
        record = Failed(0, url, reason, 0, 0)
        self.journal.append(record)
        self.stats.count_failure(record)

    # ---- messages from workers ---------------------------------------------------------

    def _on_downloader(self, handle: WorkerHandle, message: Any) -> None:
        match message:
            case FetchFailed():
                handle.busy.discard(message.lease)
                self._on_fetch_failed(message)
            case Redirected():
                handle.busy.discard(message.lease)
                self._on_redirected(message)
            case Fetched():
                self._on_fetched(message)
            case RobotsFetched():
                if self.robots_dispatch is not None:
                    self.robots_dispatch.answered(handle, message)
            case LogLine():
                _relay(handle, message)
        self._kick()

    def _on_fetched(self, message: Fetched) -> None:
        """A response's latency: the auto-throttle adapts the host's delay (when enabled)."""
        if self.throttle is not None:
            delay = self.throttle.observe(message.host, message.latency, message.status)
            self.frontier.set_delay(message.host, delay)

    def _robots_gate(self, request: RequestSpec) -> bool:
        """Whether the robots.txt of the request's origin is known; if not, fetch it."""
        assert self.robots is not None
        key = self.robots.key(request.url)
        state = self.robots.state(key)
        if state == "unknown":
            # Through a proxy, the proxy resolves the host: no connect-time guard applies.
            private = request.private or bool(self.settings.downloader.proxy)
            self.robots.start(key, private=private)
        return state == "ready"

    def _on_robots_ready(self, key: str) -> None:
        """An origin's robots.txt arrived: apply its Crawl-delay, release its requests."""
        assert self.robots is not None
        host = host_key(key)
        delay = self.robots.crawl_delay(key)
        if delay:
            delay = min(delay, self.settings.downloader.max_crawl_delay)
            if self.throttle is not None:
                self.throttle.set_floor(host, delay)
            if delay > self.frontier.host_delay(host):
                self.frontier.set_delay(host, delay)
                logger.info("%s asks for a Crawl-delay of %gs", key, delay)
        self.frontier.release(host)
        self._kick()

    def _skip(self, lease: Lease, reason: str) -> None:
        """End a lease without fetching: the request is filtered for `reason`, for good."""
        self.frontier.end(lease.id)
        request = lease.request
        self.journal.append(Skipped(request.id, request.url, reason))
        self.stats.filtered[reason] += 1
        logger.debug("%s: not fetched (%s)", request.url, reason)

    def _merge_cookies(
        self, request: RequestSpec, url: str, headers: list[str], done: Done
    ) -> None:
        """Merge a response's Set-Cookie headers; `done` journals them, for a resume."""
        if self.cookies is not None:
            jar = request.meta.get("cookiejar") if request.meta else None
            if self.cookies.update(jar, url, headers):
                logger.debug("ignored a malformed Set-Cookie from %s", url)
            done.cookies, done.cookie_url, done.jar = headers, url, jar

    def _end_fetch(self, lease_id: int) -> Lease | None:
        """End a lease its downloader reported on (no page goes to the parser); None if stale."""
        lease = self.frontier.end(lease_id)
        if lease is not None:
            self.parsers[lease.parser].busy.discard(lease.id)
        return lease

    def _on_redirected(self, message: Redirected) -> None:
        """A redirect ends its request; the target is admitted (and deduplicated) as new."""
        lease = self._end_fetch(message.lease)
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
            self.settings.downloader.max_redirects,
            self._fingerprint,
        )
        if isinstance(target, str):
            self._fail(request, target, FailureKind.REDIRECT, message.status)
            return
        # The target keeps the depth its request was admitted at: max_depth never filters it.
        filtered = self.scope.check(target.url, target.depth, request.url, request.private)
        if filtered is not None:
            self.stats.filtered[filtered] += 1
            logger.debug("%s redirects to %s: filtered (%s)", request.url, target.url, filtered)
        done.requests = admitted = self.frontier.admit([target]) if filtered is None else []
        self.journal.append(done)
        self.stats.redirects += 1
        if not admitted and filtered is None:
            self.stats.duplicates += 1
            logger.debug("%s redirects to %s, already seen", request.url, message.location)

    def _on_fetch_failed(self, message: FetchFailed) -> None:
        lease = self._end_fetch(message.lease)
        if lease is None:
            return
        request = lease.request
        if self.throttle is not None and message.kind == FailureKind.NETWORK:
            # No response (an HTTP failure was observed with its status already): an error.
            self.frontier.set_delay(lease.host, self.throttle.observe(lease.host, 0.0, 0))
        if message.kind == FailureKind.PARSER:
            self.frontier.push(request)
            return
        if message.status in SLOW_DOWN_STATUSES:
            seconds = self.backoff.slowed(lease.host, message.retry_after)
            self.frontier.pause(lease.host, seconds)
            self.stats.host_pauses += 1
            logger.info(
                "%s answered %d: no new request to it for %.1fs",
                lease.host,
                message.status,
                seconds,
            )
        if message.retryable and self._retry(request, message.retry_after):
            return
        self._fail(request, message.reason, message.kind, message.status)

    def _fail(self, request: RequestSpec, reason: str, kind: FailureKind, status: int) -> None:
        """A fetch failed for good: record it, or first send it to its errback.

        The errback runs in a parser, like a callback: the request is queued again with
        its failure, and a downloader hands it to a parser without fetching it.  The
        failure is recorded when the parser commits what the errback produced.
        """
        if request.errback:
            request.failure = FetchFailure(reason, kind, status)
            self.frontier.push(request)
            return
        self._record_failure(request, reason, status)

    def _retry(self, request: RequestSpec, retry_after: float = 0.0) -> bool:
        """Queue the request again after a backoff, if it has retries left."""
        if request.attempts >= max_retries(request, self.settings.downloader.retries):
            return False
        request.attempts += 1
        self.stats.retries += 1
        self.journal.append(Requeued(request.id, request.attempts, request.crashes))
        delay = self._retry_delay(request.attempts, retry_after)
        self.frontier.push_later(request, time.monotonic() + delay)
        return True

    def _retry_delay(self, attempt: int, retry_after: float) -> float:
        """Exponential backoff with jitter, or the server's Retry-After (capped) if longer."""
        settings = self.settings.downloader
        backoff = settings.retry_backoff * 2.0 ** (attempt - 1) * random.uniform(0.5, 1.5)
        return max(backoff, min(retry_after, settings.max_retry_after))

    def _wake_for_delayed(self) -> None:
        """Run the pump again when the earliest delayed request becomes ready."""
        ready_at = self.frontier.next_ready_at()
        if ready_at is None:
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + max(0.0, ready_at - time.monotonic()) + 0.001
        if self.wake_timer is not None:
            if not self.wake_timer.cancelled() and self.wake_timer.when() <= when:
                return
            self.wake_timer.cancel()
        self.wake_timer = loop.call_at(when, self._on_wake_timer)

    def _on_wake_timer(self) -> None:
        self.wake_timer = None
        self._kick()

    def _record_failure(
        self,
        request: RequestSpec,
        reason: str,
        status: int,
        dead: bool = False,
        errback: PageDone | None = None,
    ) -> None:
        record = Failed(request.id, request.url, reason, request.attempts + 1, status, dead)
        if errback is not None:
            record.part, record.start, record.end = errback.part, errback.start, errback.end
            record.items, record.invalid = errback.items, errback.invalid
            record.requests = self.frontier.admit(errback.requests)
            self.stats.duplicates += len(errback.requests) - len(record.requests)
            if errback.filtered:
                self.stats.filtered.update(errback.filtered)
        self.journal.append(record)
        self.stats.count_failure(record)
        log = logger.error if dead else logger.warning
        log("%s %s: %s", "dead" if dead else "failed", request.url, reason)

    def _on_parser(self, handle: WorkerHandle, message: Any) -> None:
        match message:
            case PageDone():
                handle.busy.discard(message.lease)
                self._on_page_done(handle, message)
            case PageFailed(lease=lease_id, reason=reason, retry=retry):
                handle.busy.discard(lease_id)
                lease = self._current_lease(handle, lease_id)
                if lease is None:
                    pass
                elif (failure := lease.request.failure) is not None:
                    why = f"{failure.reason}; {reason}"  # "...; errback error: ..."
                    self._record_failure(lease.request, why, failure.status)
                elif not (retry and self._retry(lease.request)):
                    self._record_failure(lease.request, reason, 0)
            case ParserReady(path=path, port=port):
                handle.ready, handle.path, handle.port = True, path, port
                for d in self.downloaders:
                    if d.sender is not None:
                        d.sender.send(self._address(handle))
            case LogLine():
                _relay(handle, message)
        self._kick()

    def _current_lease(self, handle: WorkerHandle, lease_id: int) -> Lease | None:
        """End and return the lease if it is still `handle`'s; refuse a revoked one (fencing)."""
        lease = self.frontier.leases.get(lease_id)
        if lease is None or lease.parser != handle.index:
            self.stats.stale_acks += 1
            logger.debug(
                "refused a stale acknowledgement (lease %d) from %s", lease_id, handle.name
            )
            return None
        self.frontier.end(lease_id)
        self.downloaders[lease.downloader].busy.discard(lease_id)
        return lease

    def _on_page_done(self, handle: WorkerHandle, message: PageDone) -> None:
        lease = self._current_lease(handle, message.lease)
        if lease is None:
            return
        failure = lease.request.failure
        if failure is not None:  # its errback ran
            self._record_failure(lease.request, failure.reason, failure.status, errback=message)
            return
        status = message.status
        if self.backoff.strikes and status not in SLOW_DOWN_STATUSES:
            self.backoff.recovered(lease.host)  # (a 429 the callback asked for is no page)
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
        done.requests = admitted = self.frontier.admit(message.requests)
        self.journal.append(done)
        self.stats.pages += 1
        self.stats.session_pages += 1
        self.stats.items += message.items
        self.stats.invalid_items += message.invalid
        self.stats.statuses[status] += 1
        self.stats.duplicates += len(message.requests) - len(admitted)
        if message.filtered:
            self.stats.filtered.update(message.filtered)
        if message.warnings:
            self.stats.warnings.update(message.warnings)

    def _address(self, handle: WorkerHandle) -> ParserAddress:
        return ParserAddress(handle.index, handle.path, handle.port, self.token)

    # ---- worker processes --------------------------------------------------------------

    async def _spawn(self, handle: WorkerHandle) -> None:
        if handle.role == "downloader":
            await spawn(
                handle,
                run_worker,
                self._downloader_args(handle),
                FromDownloader,
                self._on_downloader,
                self._on_exit,
            )
            assert handle.sender is not None
            for p in self.parsers:
                if p.ready:
                    handle.sender.send(self._address(p))
            handle.ready = True
            if self.robots_dispatch is not None:
                self.robots_dispatch.downloader_ready()
        else:
            await spawn(
                handle,
                run_worker,
                self._parser_args(handle),
                FromParser,
                self._on_parser,
                self._on_exit,
            )
        self._write_status()
        self._kick()

    def _downloader_args(self, handle: WorkerHandle) -> Any:
        def make(conn: Any) -> DownloaderArgs:
            return DownloaderArgs(
                handle.index,
                handle.slot,
                self.settings,
                conn,
                self.counters_block,
                start_forkserver(),  # the parent of the new worker
                self.plan.log_level,
                self.plan.spider if self.has_request_hooks else None,
            )

        return make

    def _parser_args(self, handle: WorkerHandle) -> Any:
        def make(conn: Any) -> ParserArgs:
            return ParserArgs(
                handle.index,
                handle.slot,
                self.settings,
                conn,
                self.counters_block,
                start_forkserver(),  # the parent of the new worker
                self.plan.log_level,
                self.plan.spider,
                self.plan.spider_args,
                self.settings.transport(),
                str(self.sockets / f"p{handle.index}.sock"),
                self.token,
                str(self.run.parts),
            )

        return make

    def _on_exit(self, handle: WorkerHandle) -> None:
        """A worker died: revoke its leases, requeue or bury them, restart it."""
        if self.state == "stopping" or handle.process is None:
            return
        process = handle.process
        how = describe_exit(process)
        current = int(handle.counters.get(CURRENT)) if handle.role == "parser" else 0
        handle.ready = False
        self.stats.worker_deaths += 1
        if handle.role == "parser":
            revoked = self.frontier.held_by(parser=handle.index)
            for d in self.downloaders:
                d.busy.difference_update(lease.id for lease in revoked)
        else:
            revoked = self.frontier.held_by(downloader=handle.index)
            for p in self.parsers:
                p.busy.difference_update(lease.id for lease in revoked)
            if self.robots_dispatch is not None:
                self.robots_dispatch.downloader_lost(handle)
        handle.busy.clear()
        dead = sum(
            not self._revoke(
                lease, blamed=handle.role == "downloader" or lease.id == current, how=how
            )
            for lease in revoked
        )
        logger.warning(
            "%s died (%s); requeued %d requests%s",
            handle.name,
            how,
            len(revoked) - dead,
            f", {dead} dead" if dead else "",
        )
        self._write_status()
        if process.exitcode == ExitCode.FATAL:
            self.fatal = f"{handle.name} stopped on a fatal error (see the log above)"
            self._finish(ExitCode.FATAL)
            return
        if (
            sum(h.starts for h in self.downloaders + self.parsers)
            - len(self.downloaders + self.parsers)
            >= self.settings.limits.max_restarts
        ):
            self.fatal = f"workers died {self.stats.worker_deaths} times; restart cap reached"
            self._finish(ExitCode.FATAL)
            return
        task = asyncio.create_task(self._restart(handle))
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        self._kick()

    def _revoke(self, lease: Lease, blamed: bool, how: str) -> bool:
        """End a lease its holder lost; requeue the request (True) or bury it (False)."""
        self.frontier.end(lease.id)
        request = lease.request
        if not blamed:
            self.frontier.push(request)
            return True
        request.crashes += 1
        if request.crashes >= self.settings.limits.max_crash_deliveries:
            self._record_failure(
                request, f"worker crashed {request.crashes} times ({how})", 0, dead=True
            )
            return False
        self.journal.append(Requeued(request.id, request.attempts, request.crashes))
        self.frontier.push(request)
        return True

    async def _restart(self, handle: WorkerHandle) -> None:
        await asyncio.sleep(_RESTART_BACKOFF[min(handle.starts, len(_RESTART_BACKOFF) - 1)])
        if self.state != "stopping" and not self.done.is_set():
            await self._spawn(handle)

    def _reclaim_expired(self, now: float) -> None:
        """Revoke leases that made no progress for too long; fencing refuses late acks."""
        limits = self.settings.limits
        for lease in self.frontier.expired(
            now, limits.lease_timeout + self.settings.downloader.timeout
        ):
            logger.warning(
                "lease of %s at %s expired; requeued",
                lease.request.url,
                f"downloader-{lease.downloader} / parser-{lease.parser}",
            )
            self.downloaders[lease.downloader].busy.discard(lease.id)
            self.parsers[lease.parser].busy.discard(lease.id)
            self._revoke(lease, blamed=True, how="lease expired")

    def _watch_health(self) -> None:
        """Kill workers whose event loop stopped turning (no heartbeat); reclaim lost leases."""
        now = time.monotonic()
        self._reclaim_expired(now)
        limit = self.settings.limits.hang_timeout
        for handle in self.downloaders + self.parsers:
            beat = handle.counters.get(HEARTBEAT)
            if handle.is_alive() and beat and now - beat > limit:
                assert handle.process is not None
                logger.warning(
                    "%s is hung (no heartbeat for %.0fs); killing it", handle.name, now - beat
                )
                handle.process.kill()
        self._kick()

    def _sync_journal(self) -> None:
        self.journal.flush()
        self.journal.sync()

    def _log_progress(self) -> None:
        logger.info(
            "progress: %d pages, %d items, %d pending, %d in flight",
            self.stats.pages,
            self.stats.items,
            self.frontier.pending_count(),
            len(self.frontier.leases),
        )

    def _write_status(self) -> None:
        workers = [
            {
                "role": h.role,
                "index": h.index,
                "pid": h.process.pid if h.process else None,
                "state": "alive" if h.is_alive() else "dead",
                "starts": h.starts,
            }
            for h in self.downloaders + self.parsers
        ]
        self.run.write_json(
            "status.json", {"scheduler": os.getpid(), "workers": workers}, in_job=True
        )


def _relay(handle: WorkerHandle, line: LogLine) -> None:
    logging.getLogger(line.logger).log(line.level, "[%s] %s", handle.name, line.text)


def check_start_urls(spider: Spider) -> None:
    """Raise SpiderError listing every bad entry of `start_urls` (before any process starts)."""
    urls = spider.start_urls
    if isinstance(urls, str):
        raise SpiderError(f"{type(spider).__name__}.start_urls must be a list of URLs, not a str")
    problems = []
    for index, url in enumerate(urls or []):
        try:
            Request(url)
        except (TypeError, ValueError) as exc:
            problems.append(f"  start_urls[{index}] = {url!r}: {exc}")
    if problems:
        raise SpiderError(f"{type(spider).__name__} has bad start URLs:\n" + "\n".join(problems))
