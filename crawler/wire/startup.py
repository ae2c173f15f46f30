"""What each worker process receives at spawn, and its process entry point.

Kept apart from `crawler.downloader` and `crawler.parser`, so that the scheduler, which
builds these arguments, never imports the workers' modules and their libraries (aiohttp,
parsel, lxml): those load once, in the fork server, and every worker inherits them.
"""

from __future__ import annotations

import enum
import importlib
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, ClassVar

from crawler.api.spider import SpiderRef
from crawler.settings.schema import Settings


class Role(enum.StrEnum):
    """The two kinds of worker process (the scheduler is the main process)."""

    DOWNLOADER = "downloader"
    PARSER = "parser"


@dataclass(frozen=True)
class WorkerArgs:
    """What every worker receives at spawn."""

    ENTRY: ClassVar[str] = ""  # "module:function" that runs the role in the new process
    index: int  # among the workers of its role
    slot: int  # its row in the shared counters
    settings: Settings
    conn: Connection  # its end of the Pipe to the scheduler
    counters: Any
    parent_pid: int  # the fork server's: the worker dies with it
    log_level: int


@dataclass(frozen=True)
class DownloaderArgs(WorkerArgs):
    """What a downloader receives at spawn."""

    ENTRY: ClassVar[str] = "crawler.downloader.process:run"
    spider: SpiderRef | None  # given only when the spider has request hooks to run here


@dataclass(frozen=True)
class ParserArgs(WorkerArgs):
    """What a parser receives at spawn."""

    ENTRY: ClassVar[str] = "crawler.parser.process:run"
    spider: SpiderRef
    spider_args: dict[str, str]
    transport: str
    socket_path: str
    token: bytes
    parts_dir: str


def run_worker(args: WorkerArgs) -> None:
    """Process target of every worker: runs its role's `ENTRY` ("module:function").

    The role is named by a string, so the scheduler, which starts workers, never imports
    the role packages; the fork server has already imported them (see
    `crawler.scheduler.processes`), so this import is a lookup.
    """
    module, _, function = args.ENTRY.partition(":")
    getattr(importlib.import_module(module), function)(args)
