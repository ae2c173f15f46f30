"""The worker pool: starts the downloaders and parsers, routes their messages, and
restarts a worker that dies, revoking the leases it held."""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import secrets
import time
from typing import Any

from crawler.api import hooks
from crawler.errors import ExitCode
from crawler.scheduler.context import CrawlContext, CrawlState
from crawler.scheduler.outcomes import Outcomes
from crawler.scheduler.processes import WorkerHandle, describe_exit, spawn, start_forkserver
from crawler.wire.counters import CURRENT, HEARTBEAT, allocate
from crawler.wire.counters import Counters as CounterRow
from crawler.wire.messages import (
    Fetched,
    FetchFailed,
    FromDownloader,
    FromParser,
    LogLine,
    PageDone,
    PageFailed,
    ParserAddress,
    ParserReady,
    Redirected,
    RobotsFetched,
)
from crawler.wire.startup import DownloaderArgs, ParserArgs, Role, run_worker
from crawler.wire.transport import socket_dir

logger = logging.getLogger("crawler")

_RESTART_BACKOFF = (0.0, 0.1, 0.5, 1.0, 2.0)


class WorkerState(enum.StrEnum):
    """A worker as status.json shows it."""

    ALIVE = "alive"
    DEAD = "dead"


class WorkerPool:
    """The crawl's worker processes and their channels."""

    def __init__(self, ctx: CrawlContext, outcomes: Outcomes) -> None:
        self.ctx = ctx
        self.outcomes = outcomes
        settings = ctx.settings
        downloaders, parsers = settings.downloader_count(), settings.parser_count()
        self.counters_block = allocate(downloaders + parsers)
        self.downloaders = self._handles(Role.DOWNLOADER, downloaders, 0)
        self.parsers = self._handles(Role.PARSER, parsers, downloaders)
        self.has_request_hooks = bool(hooks.overrides(type(ctx.spider).hooks, "request"))
        self.token = secrets.token_bytes(16)
        self.sockets = socket_dir(ctx.run.path)

    def _handles(self, role: Role, count: int, first_slot: int) -> list[WorkerHandle]:
        return [
            WorkerHandle(role, i, first_slot + i, CounterRow(self.counters_block, first_slot + i))
            for i in range(count)
        ]

    @property
    def workers(self) -> list[WorkerHandle]:
        return self.parsers + self.downloaders

    async def start(self) -> None:
        """Start every parser, then every downloader (which needs the parsers' addresses)."""
        for handle in self.workers:
            await self.spawn(handle)

    # ---- messages ----------------------------------------------------------------------

    def on_downloader(self, handle: WorkerHandle, message: Any) -> None:
        match message:
            case FetchFailed():
                self.outcomes.fetch_failed(message)
            case Redirected():
                self.outcomes.redirected(message)
            case Fetched():
                self.outcomes.fetched(message)
            case RobotsFetched():
                if self.ctx.robots_dispatch is not None:
                    self.ctx.robots_dispatch.answered(handle, message)
            case LogLine():
                _relay(handle, message)
        self.ctx.kick()

    def on_parser(self, handle: WorkerHandle, message: Any) -> None:
        match message:
            case PageDone():
                self.outcomes.page_done(handle.index, handle.name, message)
            case PageFailed():
                self.outcomes.page_failed(handle.index, handle.name, message)
            case ParserReady(path=path, port=port):
                handle.ready, handle.path, handle.port = True, path, port
                for d in self.downloaders:
                    if d.sender is not None:
                        d.sender.send(self._address(handle))
            case LogLine():
                _relay(handle, message)
        self.ctx.kick()

    def _address(self, handle: WorkerHandle) -> ParserAddress:
        return ParserAddress(handle.index, handle.path, handle.port, self.token)

    # ---- processes ---------------------------------------------------------------------

    async def spawn(self, handle: WorkerHandle) -> None:
        """Start `handle`'s process and wire its channel."""
        if handle.role == Role.DOWNLOADER:
            await spawn(
                handle,
                run_worker,
                self._downloader_args(handle),
                FromDownloader,
                self.on_downloader,
                self._on_exit,
            )
            assert handle.sender is not None
            for p in self.parsers:
                if p.ready:
                    handle.sender.send(self._address(p))
            handle.ready = True
            if self.ctx.robots_dispatch is not None:
                self.ctx.robots_dispatch.downloader_ready()
        else:
            await spawn(
                handle,
                run_worker,
                self._parser_args(handle),
                FromParser,
                self.on_parser,
                self._on_exit,
            )
        self.write_status()
        self.ctx.kick()

    def _downloader_args(self, handle: WorkerHandle) -> Any:
        plan = self.ctx.plan

        def make(conn: Any) -> DownloaderArgs:
            return DownloaderArgs(
                handle.index,
                handle.slot,
                plan.settings,
                conn,
                self.counters_block,
                start_forkserver(),  # the parent of the new worker
                plan.log_level,
                plan.spider if self.has_request_hooks else None,
            )

        return make

    def _parser_args(self, handle: WorkerHandle) -> Any:
        plan = self.ctx.plan

        def make(conn: Any) -> ParserArgs:
            return ParserArgs(
                handle.index,
                handle.slot,
                plan.settings,
                conn,
                self.counters_block,
                start_forkserver(),  # the parent of the new worker
                plan.log_level,
                plan.spider,
                plan.spider_args,
                plan.settings.transport(),
                str(self.sockets / f"p{handle.index}.sock"),
                self.token,
                str(plan.run.parts),
            )

        return make

    def _on_exit(self, handle: WorkerHandle) -> None:
        """A worker died: revoke its leases, requeue or bury them, restart it."""
        ctx = self.ctx
        if ctx.state == CrawlState.STOPPING or handle.process is None:
            return
        process = handle.process
        how = describe_exit(process)
        current = int(handle.counters.get(CURRENT)) if handle.role == Role.PARSER else 0
        handle.ready = False
        ctx.stats.worker_deaths += 1
        if handle.role == Role.PARSER:
            revoked = ctx.frontier.held_by(parser=handle.index)
        else:
            revoked = ctx.frontier.held_by(downloader=handle.index)
            if ctx.robots_dispatch is not None:
                ctx.robots_dispatch.downloader_lost(handle)
        dead = sum(
            not self.outcomes.revoke(
                lease, blamed=handle.role == Role.DOWNLOADER or lease.id == current, how=how
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
        self.write_status()
        if process.exitcode == ExitCode.FATAL:
            ctx.fail(f"{handle.name} stopped on a fatal error (see the log above)")
            return
        restarts = sum(h.starts for h in self.workers) - len(self.workers)
        if restarts >= ctx.settings.limits.max_restarts:
            ctx.fail(f"workers died {ctx.stats.worker_deaths} times; restart cap reached")
            return
        task = asyncio.create_task(self._restart(handle))
        ctx.background.add(task)
        task.add_done_callback(ctx.background.discard)
        ctx.kick()

    async def _restart(self, handle: WorkerHandle) -> None:
        await asyncio.sleep(_RESTART_BACKOFF[min(handle.starts, len(_RESTART_BACKOFF) - 1)])
        if self.ctx.state != CrawlState.STOPPING and not self.ctx.done.is_set():
            await self.spawn(handle)

    # ---- health ------------------------------------------------------------------------

    def watch_health(self) -> None:
        """Kill workers whose event loop stopped turning (no heartbeat); reclaim lost leases."""
        now = time.monotonic()
        self._reclaim_expired(now)
        limit = self.ctx.settings.limits.hang_timeout
        for handle in self.workers:
            beat = handle.counters.get(HEARTBEAT)
            if handle.is_alive() and beat and now - beat > limit:
                assert handle.process is not None
                logger.warning(
                    "%s is hung (no heartbeat for %.0fs); killing it", handle.name, now - beat
                )
                handle.process.kill()
        self.ctx.kick()

    def _reclaim_expired(self, now: float) -> None:
        """Revoke leases that made no progress for too long; fencing refuses late acks."""
        settings = self.ctx.settings
        limit = settings.limits.lease_timeout + settings.downloader.timeout
        for lease in self.ctx.frontier.expired(now, limit):
            logger.warning(
                "lease of %s at %s expired; requeued",
                lease.request.url,
                f"downloader-{lease.downloader} / parser-{lease.parser}",
            )
            self.outcomes.revoke(lease, blamed=True, how="lease expired")

    def write_status(self) -> None:
        """status.json: the scheduler's pid and each worker's pid, state and starts."""
        workers = [
            {
                "role": str(h.role),
                "index": h.index,
                "pid": h.process.pid if h.process else None,
                "state": WorkerState.ALIVE if h.is_alive() else WorkerState.DEAD,
                "starts": h.starts,
            }
            for h in self.downloaders + self.parsers
        ]
        self.ctx.run.write_json(
            "status.json", {"scheduler": os.getpid(), "workers": workers}, in_job=True
        )


def _relay(handle: WorkerHandle, line: LogLine) -> None:
    logging.getLogger(line.logger).log(line.level, "[%s] %s", handle.name, line.text)
