"""Spawning, watching and stopping worker processes; used by the scheduler.

Workers are forked from a fork server (`multiprocessing`'s "forkserver" start method), a
clean single-threaded process that imports the downloader and parser modules once.  A new
worker then starts in milliseconds instead of importing aiohttp, lxml and the framework
for 0.25 s of CPU, which on 2x2 halves the fixed cost of a crawl (see benchmarks/README.md).
Nothing of the scheduler's state reaches a worker but its pickled start-up arguments, as
with "spawn".  The server exits when the scheduler does; workers die with the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

from crawler.errors import TERMINAL_SIGNALS
from crawler.wire.channel import Channel, open_pipe
from crawler.wire.counters import Counters
from crawler.wire.startup import Role

logger = logging.getLogger(__name__)

CONTEXT = multiprocessing.get_context("forkserver")
# What every worker needs, imported once by the fork server.  The selector libraries are
# imported on first use by `Response` (the scheduler never needs them), so they are named
# here; a missing optional one (selectolax) is skipped by the server.
CONTEXT.set_forkserver_preload(
    ["crawler.downloader.process", "crawler.parser.process", "parsel", "selectolax.lexbor"]
)


@dataclass
class WorkerHandle:
    """One worker slot: its current process, channel and bookkeeping."""

    role: Role
    index: int
    slot: int
    counters: Counters
    process: BaseProcess | None = None
    sender: Channel | None = None
    ready: bool = False
    starts: int = 0
    path: str = ""
    port: int = 0
    stopping: bool = False

    @property
    def name(self) -> str:
        return f"{self.role}-{self.index}"

    def __repr__(self) -> str:
        pid = self.process.pid if self.process else None
        return f"<{self.name} pid={pid} ready={self.ready}>"

    def is_alive(self) -> bool:
        return self.process is not None and self.process.is_alive()


def start_deaf(process: BaseProcess) -> None:
    """Start `process` with SIGINT and SIGTERM ignored from its first instruction.

    The child must not see a terminal's Ctrl-C while Python starts up, before it sets its
    own dispositions: "ignore" survives exec and fork, a blocked mask does not (spawn
    resets it).  The fork server is started deaf too, so its children begin deaf.
    Meanwhile this process blocks and ignores them too; its handlers come back after.
    """
    _deaf(process.start)


def start_forkserver() -> int:
    """Start the fork server if it is not running (deaf, as workers are); return its pid.

    Called early by the command line, so that the server imports the framework while
    this process sets up the crawl.  Its pid is the workers' parent pid.
    """
    from multiprocessing import forkserver

    _deaf(forkserver.ensure_running)
    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)  # no public accessor
    return pid if isinstance(pid, int) else os.getpid()


def stop_forkserver() -> None:
    """Stop the fork server and reap it; call once every worker has been joined.

    The server reaps the workers, so their CPU time is counted in the server's children,
    and reaches this process's (`time`, `getrusage`, the benchmark) only when the server is
    reaped here.  A worker still running when this is called dies with the server.
    """
    from multiprocessing import forkserver

    stop = getattr(forkserver._forkserver, "_stop", None)  # private: CPython's tests use it
    if stop is not None:
        with contextlib.suppress(OSError):
            stop()


def _deaf(start: Callable[[], object]) -> None:
    """Run `start` (which starts a process) with SIGINT and SIGTERM ignored, then restore."""
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, TERMINAL_SIGNALS)
    old_handlers = {signum: signal.getsignal(signum) for signum in TERMINAL_SIGNALS}
    try:
        for signum in TERMINAL_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        start()
    finally:
        for signum, handler in old_handlers.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


async def spawn(
    handle: WorkerHandle,
    target: Callable[[Any], None],
    make_args: Callable[[Any], Any],
    receiver_kind: Any,
    on_message: Callable[[WorkerHandle, Any], None],
    on_exit: Callable[[WorkerHandle], None],
) -> None:
    """Start a process for `handle`, wire its Pipe, and watch for its death."""
    parent_end, child_end = CONTEXT.Pipe(duplex=True)
    handle.counters.reset()
    process = CONTEXT.Process(target=target, args=(make_args(child_end),), name=handle.name)
    start_deaf(process)
    child_end.close()
    handle.process, handle.ready = process, False
    handle.starts += 1

    def deliver(message: Any) -> None:
        if handle.process is process:  # not from a replaced process
            on_message(handle, message)

    def closed(error: BaseException | None) -> None:
        if handle.process is process and process.is_alive() and not handle.stopping:
            # The channel broke while the process lives on: treat it as dead.
            logger.warning("%s broke its channel (%s); killing it", handle.name, error)
            process.kill()

    handle.sender = await open_pipe(parent_end, receiver_kind, deliver, closed)
    loop = asyncio.get_running_loop()
    loop.add_reader(process.sentinel, _exited, loop, handle, process, on_exit)


def _exited(
    loop: asyncio.AbstractEventLoop,
    handle: WorkerHandle,
    process: BaseProcess,
    on_exit: Callable[[WorkerHandle], None],
) -> None:
    loop.remove_reader(process.sentinel)
    process.join(1.0)  # reap (the sentinel closes a moment before the exit status exists)
    if handle.process is process:
        on_exit(handle)


def describe_exit(process: BaseProcess) -> str:
    """'exit code N' or the signal's name."""
    code = process.exitcode
    if code is not None and code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


async def stop(handles: list[WorkerHandle], stop_message: Any, timeout: float) -> None:
    """Ask every worker to stop, wait up to `timeout`, then kill the stragglers."""
    for handle in handles:
        handle.stopping = True
        if handle.sender is not None and not handle.sender.is_closing():
            handle.sender.send(stop_message)
    deadline = asyncio.get_running_loop().time() + timeout
    for handle in handles:
        process = handle.process
        while process is not None and process.is_alive():
            if asyncio.get_running_loop().time() > deadline:
                logger.warning("%s did not stop in %.0fs; killing it", handle.name, timeout)
                process.kill()
                break
            await asyncio.sleep(0.02)
    for handle in handles:
        if handle.process is not None:
            handle.process.join(1.0)
        if handle.sender is not None:
            handle.sender.close()
