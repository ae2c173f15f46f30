"""The scheduler (the main process): the crawl's life cycle, its pump, and its end.

It publishes fetches to downloaders over their Pipes, receives acknowledgements from
parsers over theirs, journals every acknowledgement before it counts, and ends the crawl
when start_requests() is exhausted, nothing is pending and nothing is leased.  The work is
shared by parts with one concern each (see `crawler.scheduler`):

- `StartRequests` takes the spider's start requests as the frontier runs low;
- `Outcomes` turns the workers' reports into journal records, retries and new requests;
- `WorkerPool` starts, watches and restarts the workers and routes their messages;
- `Dispatcher` leases pending requests to the workers with room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import time
from collections.abc import Callable

from crawler.errors import TERMINAL_SIGNALS, ExitCode
from crawler.failpoints import failpoint
from crawler.frontier.interface import Frontier
from crawler.frontier.local import LocalFrontier
from crawler.journal.records import Closed, JournalWriter
from crawler.scheduler.backoff import HostBackoff
from crawler.scheduler.context import CrawlContext, CrawlPlan, CrawlState
from crawler.scheduler.cookies import CookieJars
from crawler.scheduler.dispatch import Dispatcher
from crawler.scheduler.outcomes import Outcomes
from crawler.scheduler.pool import WorkerPool
from crawler.scheduler.processes import stop
from crawler.scheduler.robots import RobotsCache
from crawler.scheduler.robots_dispatch import RobotsDispatch
from crawler.scheduler.starts import StartRequests
from crawler.scheduler.throttle import AutoThrottle
from crawler.urls.scope import Scope
from crawler.wire.messages import Stop
from crawler.wire.transport import make_socket_dir

logger = logging.getLogger("crawler")


def make_frontier(plan: CrawlPlan) -> Frontier:
    """The embedded frontier, holding what earlier sessions of the run left to do."""
    settings = plan.settings
    delay = settings.downloader.delay
    if settings.throttle.enabled:
        delay = max(delay, settings.throttle.start_delay)
    frontier = LocalFrontier(
        settings.downloader.per_host,
        settings.frontier.order == "depth-first",
        delay,
        settings.frontier.memory_limit,
        plan.run.job / "spill",
    )
    frontier.seen, frontier.next_id = plan.seen, plan.next_id
    for request in plan.pending:
        frontier.push(request)
    return frontier


class Scheduler:
    """Runs a crawl: starts the workers, pumps work to them, decides when it is over."""

    def __init__(self, plan: CrawlPlan, journal: JournalWriter) -> None:
        settings = plan.settings
        spider = plan.spider.load()(**plan.spider_args)
        self.wake = asyncio.Event()
        self.ctx = ctx = CrawlContext(
            plan=plan,
            journal=journal,
            frontier=make_frontier(plan),
            spider=spider,
            scope=Scope(settings, spider),
            backoff=HostBackoff(
                settings.downloader.retry_backoff, settings.downloader.max_retry_after
            ),
            kick=self.wake.set,
        )
        if settings.downloader.cookies:
            ctx.cookies = CookieJars()
            for jar, url, headers in plan.cookies:  # the Set-Cookie headers of earlier sessions
                ctx.cookies.update(jar, url, headers)
        if settings.throttle.enabled:
            ctx.throttle = AutoThrottle(settings.throttle, settings.downloader.delay)
        self.outcomes = Outcomes(ctx)
        self.pool = WorkerPool(ctx, self.outcomes)
        if settings.downloader.obey_robots:
            # Downloaders fetch robots.txt files (through their own sessions, proxy and
            # private-address guard); the scheduler keeps the rules.
            ctx.robots_dispatch = RobotsDispatch(
                self.pool.downloaders, settings.limits.max_crash_deliveries
            )
            ctx.robots = RobotsCache(
                settings.downloader,
                on_ready=self._on_robots_ready,
                fetcher=ctx.robots_dispatch.fetch,
            )
        self.dispatcher = Dispatcher(ctx, self.pool, self.outcomes)
        self.starts = StartRequests(ctx)
        self.drain_deadline = 0.0

    def __repr__(self) -> str:
        frontier = self.ctx.frontier
        return (
            f"<Scheduler pending={frontier.pending_count()} "
            f"leased={frontier.in_flight()} done={self.ctx.stats.pages}>"
        )

    @property
    def fatal(self) -> str | None:
        """Why the crawl stopped on an error, if it did."""
        return self.ctx.fatal

    def _on_robots_ready(self, key: str) -> None:
        self.dispatcher.robots_ready(key)

    # ---- life cycle -------------------------------------------------------------------

    async def crawl(self) -> int:
        """Run the crawl to its end; return the exit code."""
        ctx = self.ctx
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
        make_socket_dir(self.pool.sockets)
        self.starts.open()
        try:
            await self.pool.start()
            self._every(1.0, self.pool.watch_health)
            self._every(ctx.settings.journal.fsync_interval, self._sync_journal)
            self._every(5.0, self._log_progress)
            pump = asyncio.create_task(self._pump())
            await ctx.done.wait()
            pump.cancel()
        finally:
            for task in ctx.background:
                task.cancel()
            ctx.state = CrawlState.STOPPING
            await stop(self.pool.workers, Stop(), timeout=5.0)
            self.pool.write_status()
            signal.pthread_sigmask(signal.SIG_BLOCK, TERMINAL_SIGNALS)
            for signum in TERMINAL_SIGNALS:
                loop.remove_signal_handler(signum)
            shutil.rmtree(self.pool.sockets, ignore_errors=True)
            ctx.frontier.close()
            if ctx.robots is not None:
                ctx.stats.robots = ctx.robots.stats()
                await ctx.robots.close()
        return ctx.exit_code

    def _every(self, interval: float, action: Callable[[], None]) -> None:
        ctx = self.ctx

        async def repeat() -> None:
            while True:
                await asyncio.sleep(interval)
                try:
                    action()
                except OSError as exc:
                    ctx.abort(f"cannot write the journal {ctx.journal.path}: {exc.strerror}")
                except Exception as exc:
                    logger.critical("scheduler error", exc_info=True)
                    ctx.abort(f"scheduler error: {type(exc).__name__}: {exc}")

        task = asyncio.create_task(repeat())
        ctx.background.add(task)

    def _on_signal(self, signum: int) -> None:
        ctx = self.ctx
        code = ExitCode.SIGINT if signum == signal.SIGINT else ExitCode.SIGTERM
        if ctx.state == CrawlState.RUNNING:
            ctx.state = CrawlState.DRAINING
            ctx.exit_code = code
            self.drain_deadline = time.monotonic() + ctx.settings.limits.shutdown_grace
            logger.warning(
                "%s: finishing %d pages in flight (up to %.0fs); press Ctrl-C again to stop now",
                signal.Signals(signum).name,
                ctx.frontier.in_flight(),
                ctx.settings.limits.shutdown_grace,
            )
            ctx.kick()
        else:
            logger.warning("%s again: stopping now", signal.Signals(signum).name)
            ctx.finish(code)

    # ---- the pump: journal, then dispatch, then check the end --------------------------

    async def _pump(self) -> None:
        ctx = self.ctx
        while not ctx.done.is_set():
            await self.wake.wait()
            self.wake.clear()
            try:
                await self._pump_once()
            except OSError as exc:
                ctx.abort(f"cannot write the journal {ctx.journal.path}: {exc.strerror or exc}")
            except Exception as exc:
                logger.critical("scheduler error", exc_info=True)
                ctx.abort(f"scheduler error: {type(exc).__name__}: {exc}")

    async def _pump_once(self) -> None:
        ctx = self.ctx
        if ctx.state == CrawlState.RUNNING:
            await self.starts.fill(lambda: ctx.state == CrawlState.RUNNING)
        self._commit_journal()
        if ctx.state == CrawlState.RUNNING:
            self.dispatcher.dispatch()
            self.dispatcher.wake_for_delayed()
        self._check_end()

    def _commit_journal(self) -> None:
        """Write the queued journal records: from here on they count."""
        failpoint("scheduler.before_journal")
        self.ctx.journal.flush()

    def _check_end(self) -> None:
        ctx = self.ctx
        if ctx.done.is_set():
            return
        leased = ctx.frontier.in_flight()
        if ctx.state == CrawlState.DRAINING:
            if not leased or time.monotonic() > self.drain_deadline:
                ctx.finish(ctx.exit_code)
            return
        if self.dispatcher.page_budget_spent() and not leased:
            self._close("max_pages")
        elif self.starts.exhausted and ctx.frontier.is_idle():
            self._close("finished")

    def _close(self, reason: str) -> None:
        ctx = self.ctx
        unfetched = ctx.frontier.clear_pending()
        ctx.stats.unfetched = unfetched
        if unfetched:
            ctx.stats.filtered[reason] += unfetched
        ctx.journal.append(Closed(reason, unfetched))
        ctx.journal.flush()
        ctx.finish(ExitCode.OK)

    # ---- timers ------------------------------------------------------------------------

    def _sync_journal(self) -> None:
        self.ctx.journal.flush()
        self.ctx.journal.sync()

    def _log_progress(self) -> None:
        ctx = self.ctx
        logger.info(
            "progress: %d pages, %d items, %d pending, %d in flight",
            ctx.stats.pages,
            ctx.stats.items,
            ctx.frontier.pending_count(),
            ctx.frontier.in_flight(),
        )
