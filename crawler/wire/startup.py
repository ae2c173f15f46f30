"""What each worker process receives at spawn, and its process entry point.

Kept apart from `crawler.downloader` and `crawler.parser`, so that the scheduler, which
builds these arguments, never imports the workers' modules and their libraries (aiohttp,
parsel, lxml): those load once, in the fork server, and every worker inherits them.
"""

from __future__ import annotations

from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from crawler.api.spider import SpiderRef
from crawler.settings.schema import Settings


@dataclass(frozen=True)
class WorkerArgs:
    """What every worker receives at spawn."""

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

    spider: SpiderRef | None  # given only when the spider has request hooks to run here


@dataclass(frozen=True)
class ParserArgs(WorkerArgs):
    """What a parser receives at spawn."""

    spider: SpiderRef
    spider_args: dict[str, str]
    transport: str
    socket_path: str
    token: bytes
    parts_dir: str


def run_downloader(args: DownloaderArgs) -> None:
    """Process target of a downloader."""
    from crawler.downloader import process as downloader

    downloader.run(args)


def run_parser(args: ParserArgs) -> None:
    """Process target of a parser."""
    from crawler.parser import process as parser

    parser.run(args)
