"""What every worker process does first: parent-death signal, signals, event loop, logging."""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from crawler.errors import TERMINAL_SIGNALS
from crawler.wire.channel import Channel
from crawler.wire.counters import Counters
from crawler.wire.messages import LogLine

_PR_SET_PDEATHSIG = 1
HEARTBEAT_INTERVAL = 0.5
# Young objects allowed (allocations net of frees) before a cyclic collection.  Python's 700
# made a downloader collect every ~20 pages: aiohttp's in-flight requests alone hold more
# than 700 objects, so each collection traversed live requests and freed next to nothing
# (about 15 us of CPU per page, 8% of a downloader).  Cyclic garbage is still collected.
GC_THRESHOLD = 10_000


def detach_from_terminal_signals(parent_pid: int) -> None:
    """Die with the parent (SIGKILL on its death), and leave SIGINT/SIGTERM to the scheduler.

    A worker's parent is the fork server, which exits when the scheduler dies.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, TERMINAL_SIGNALS)
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def run_loop(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run `main` on uvloop where available, else asyncio's own loop."""
    tune_gc()
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:  # pragma: no cover - platforms without uvloop
        asyncio.run(main())


def tune_gc() -> None:
    """Leave what is loaded so far out of cyclic collections, and collect less often.

    Frozen objects (modules, classes: what the fork server imported) are never traversed
    again, so collections are cheaper and do not write to pages shared with the fork server.
    """
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD, older, oldest)


class ChannelLogHandler(logging.Handler):
    """Sends a worker's log records to the scheduler over the worker's own Pipe."""

    def __init__(self, sender: Channel, process_name: str) -> None:
        super().__init__()
        self._sender = sender
        self._process_name = process_name

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + logging.Formatter().formatException(record.exc_info)
            if not self._sender.is_closing():
                self._sender.send(LogLine(record.levelno, record.name, text))
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def setup_logging(sender: Channel, process_name: str, level: int) -> None:
    """Route this process's logging to the scheduler."""
    root = logging.getLogger()
    root.handlers[:] = [ChannelLogHandler(sender, process_name)]
    root.setLevel(level)


async def heartbeat(counters: Counters) -> None:
    """Tell the scheduler, through shared memory, that this loop still turns."""
    while True:
        counters.beat()
        await asyncio.sleep(HEARTBEAT_INTERVAL)
