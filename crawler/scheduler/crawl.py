"""One crawl from start to exit code: preflight, run folder, replay, scheduler, exports.

Runs in the main process (which becomes the scheduler).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from crawler import settings as settings_module
from crawler.api import hooks
from crawler.api.spider import Spider, SpiderRef, find
from crawler.errors import (
    TERMINAL_SIGNALS,
    CrawlerError,
    ExitCode,
    FatalCrawlError,
    SpiderError,
    UsageError,
)
from crawler.journal import export, runfolder
from crawler.journal import records as journal
from crawler.journal.records import (
    Header,
    JournalWriter,
)
from crawler.journal.replay import Replayed, replay
from crawler.journal.stats import CrawlStats
from crawler.scheduler.context import CrawlPlan
from crawler.scheduler.lifecycle import Scheduler
from crawler.scheduler.starts import check_start_urls
from crawler.settings.schema import Settings
from crawler.urls.scope import Scope
from crawler.wire.runtime import run_loop
from crawler.wire.transport import socket_dir

logger = logging.getLogger("crawler")


@dataclass
class CrawlRequest:
    """What the command line asked for."""

    root: Path
    spider: str
    spider_args: dict[str, str] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)
    settings_path: Path | None = None
    fresh: bool = False
    output: Path | None = None
    log_level: int = logging.INFO


def load_spider(
    root: Path,
    name: str,
    settings_path: Path | None,
    overrides: list[str],
    spider_args: dict[str, str],
) -> tuple[SpiderRef, Spider, Settings]:
    """Find the spider, load the settings with its custom_settings, and create it."""
    ref = find(root, name)
    cls = ref.load()
    path = settings_path or root / "settings.toml"
    settings = settings_module.load(
        path if path.exists() else None, overrides, dict(cls.custom_settings)
    )
    try:
        spider = cls(**spider_args)
    except Exception as exc:
        raise SpiderError(
            f"cannot create spider {ref.name!r}: {type(exc).__name__}: {exc}"
        ) from exc
    return ref, spider, settings


def prepare(request: CrawlRequest) -> tuple[SpiderRef, Settings]:
    """Find the spider and load its settings; check what can be checked before any work."""
    ref, spider, settings = load_spider(
        request.root,
        request.spider,
        request.settings_path,
        request.overrides,
        request.spider_args,
    )
    cls = type(spider)
    check_start_urls(spider)
    Scope(settings, spider)  # a bad allow/deny/allowed_domains fails here, before any work
    settings = _with_spider_attributes(settings, cls)
    if settings.cache.enabled:  # one folder per spider, found by every downloader
        folder = (request.root / settings.cache.dir / ref.name).resolve()
        cache = dataclasses.replace(settings.cache, dir=str(folder))
        settings = dataclasses.replace(settings, cache=cache)
    if request.output is not None:
        export.format_of(request.output)
    return ref, settings


def _with_spider_attributes(settings: Settings, cls: type[Spider]) -> Settings:
    """Check the spider's `hooks` and merge its `handle_status` into the settings."""
    try:
        hooks.overrides(cls.hooks, "request")
    except TypeError as exc:
        raise SpiderError(f"{cls.__name__}.hooks: {exc}") from exc
    schema = cls.item_schema
    if schema is not None and not (
        isinstance(schema, type)
        and (issubclass(schema, msgspec.Struct) or dataclasses.is_dataclass(schema))
    ):
        raise SpiderError(
            f"{cls.__name__}.item_schema must be a msgspec.Struct or dataclass class, "
            f"got {schema!r}"
        )
    statuses = cls.handle_status
    if not isinstance(statuses, list | tuple) or not all(
        isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599 for s in statuses
    ):
        raise SpiderError(
            f"{cls.__name__}.handle_status must be a list of HTTP statuses, got {statuses!r}"
        )
    if not statuses:
        return settings
    merged = sorted({*settings.downloader.handle_status, *statuses})
    downloader = dataclasses.replace(settings.downloader, handle_status=merged)
    return dataclasses.replace(settings, downloader=downloader)


def config_digest(ref: SpiderRef, settings: Settings, args: dict[str, str]) -> str:
    """What a resumed run must share with its start: what decides what is crawled.

    The spider arguments and the settings declared `resumable=False` in the schema
    (crawler/settings/schema.py); process counts, timeouts, windows, output formats and
    the like may change on resume.
    """
    fixed = settings_module.fixed_on_resume(settings)
    # Digests hold scope's keys (strip_params) beside the sections, as they always have:
    # a run started before the rule moved into the schema still resumes.
    scope = fixed.pop("scope", {})
    return json.dumps(
        {"spider": ref.name, "args": args, "settings": {**fixed, **scope}}, sort_keys=True
    )


def open_journal(
    run: runfolder.RunFolder, digest: str, fresh_header: Header, stats: CrawlStats
) -> tuple[Replayed, JournalWriter]:
    """Replay the run's journal (refusing another configuration); open it for appending."""
    if not run.resumed:
        return Replayed(), _start_journal(run, fresh_header)
    reader = journal.Reader(run.journal)
    records = iter(reader)
    header = next(records, None)
    if header is None:
        # The header never reached the disk (its write failed, or the crawl died in it):
        # nothing was committed, so the run starts afresh in its folder.
        return Replayed(), _start_journal(run, fresh_header)
    assert isinstance(header, Header)
    if header.config != digest:
        raise UsageError(
            f"the unfinished run {run.path} was started with other settings or spider "
            f"arguments ({_difference(header.config, digest)}); resume it with the same ones, "
            "or start a new run with --fresh"
        )
    # The pending requests are read in a second pass, up to where this one ended.
    state = replay(records, stats, lambda: journal.Reader(run.journal, limit=reader.valid))
    torn = run.journal.stat().st_size - reader.valid
    if torn:
        logger.warning("journal: cut a torn record of %d bytes at its end", torn)
    return state, JournalWriter(run.journal, reader.valid)


def _start_journal(run: runfolder.RunFolder, header: Header) -> JournalWriter:
    """A new journal holding only `header`; FatalCrawlError if it cannot be written."""
    writer = JournalWriter(run.journal, 0)
    writer.append(header)
    try:
        writer.flush()
    except OSError as exc:
        with contextlib.suppress(OSError):
            writer.close()  # tries the header once more, then closes the file
        raise FatalCrawlError(f"cannot write the journal {run.journal}: {exc}") from exc
    return writer


def _difference(old: str, new: str) -> str:
    before, after = _flatten(json.loads(old)), _flatten(json.loads(new))
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return "changed: " + ", ".join(
        f"{k} {before.get(k)!r} -> {after.get(k)!r}" for k in changed[:5]
    )


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(data, dict):
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else key))
    return flat


def run_crawl(request: CrawlRequest) -> int:
    """The whole crawl; returns the process exit code.

    Before anything is written (spider import, settings), Ctrl-C interrupts at once; from
    the run folder on, SIGINT and SIGTERM stay blocked except while the scheduler runs
    with its handlers, so a Ctrl-C at any moment either starts an orderly stop or waits
    for one.
    """
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, TERMINAL_SIGNALS)
        ref, settings = prepare(request)
    except KeyboardInterrupt:
        print("interrupted before the crawl started; nothing was written", file=sys.stderr)
        return ExitCode.SIGINT
    finally:
        signal.pthread_sigmask(signal.SIG_BLOCK, TERMINAL_SIGNALS)
    output_root = (request.root / settings.output.root).resolve()
    run = runfolder.choose(output_root, ref.name, request.fresh)
    run.lock()
    runfolder.sweep_sockets(output_root / ref.name, socket_dir)
    file_handler = _log_to_file(run.path / "crawl.log")
    try:
        return _run_locked(request, ref, settings, run)
    finally:
        logging.getLogger().removeHandler(file_handler)
        file_handler.close()
        run.unlock()


def _run_locked(
    request: CrawlRequest, ref: SpiderRef, settings: Settings, run: runfolder.RunFolder
) -> int:
    digest = config_digest(ref, settings, request.spider_args)
    stats = CrawlStats()
    state, writer = open_journal(run, digest, Header(journal.VERSION, ref.name, digest), stats)
    if run.resumed:
        logger.info(
            "resuming %s: %d pages done, %d pending", run.path, stats.pages, state.pending_count
        )
    else:
        logger.info("crawling %s into %s", ref.name, run.path)
    started = time.monotonic()
    plan = CrawlPlan(
        ref,
        request.spider_args,
        settings,
        run,
        state.consumed,
        state.pending,
        state.seen,
        state.next_id,
        stats,
        request.log_level,
        state.cookies,
    )
    code: int = ExitCode.OK
    fatal: str | None = None
    if not state.closed:
        scheduler_box: list[Scheduler] = []

        async def main() -> None:
            scheduler = Scheduler(plan, writer)
            scheduler_box.append(scheduler)
            nonlocal code
            code = await scheduler.crawl()

        try:
            run_loop(main)
        finally:
            lost = _close_journal(writer)
        fatal = scheduler_box[0].fatal if scheduler_box else None
        if lost is not None:
            code, fatal = ExitCode.FATAL, fatal or lost
    else:
        _close_journal(writer)
    return _report(request, settings, run, stats, code, fatal, time.monotonic() - started)


def _close_journal(writer: JournalWriter) -> str | None:
    """Close the journal.  If its last write fails too (a disk still full), say what that
    means instead of raising: the records not written are pages to fetch again on resume."""
    try:
        writer.close()
    except OSError as exc:
        logger.error("cannot write the journal's last records: %s", exc)
        return (
            f"the journal's last records were not written ({exc}); "
            "resuming fetches those pages again"
        )
    return None


def _report(
    request: CrawlRequest,
    settings: Settings,
    run: runfolder.RunFolder,
    stats: CrawlStats,
    code: int,
    fatal: str | None,
    duration: float,
) -> int:
    with export.ErrorLog(run.path / "errors.jsonl") as errors:  # the same pass of the journal
        export.write_items(
            errors.passing(journal.Reader(run.journal)),
            run.parts,
            run.path / "items.jsonl",
            run.path / "invalid_items.jsonl",
        )
    state = (
        "finished"
        if code == ExitCode.OK
        else ("failed" if code == ExitCode.FATAL else "interrupted")
    )
    run.write_json("stats.json", stats.as_dict(state, duration))
    escape = settings.output.csv_escape_formulas
    if settings.output.format != "jsonl":
        fmt = settings.output.format
        export.convert(run.path / "items.jsonl", run.path / f"items.{fmt}", fmt, escape)
    if request.output is not None:
        export.convert(
            run.path / "items.jsonl", request.output, export.format_of(request.output), escape
        )
    print(stats.summary(state, duration), file=sys.stderr)
    print(f"results: {run.path / 'items.jsonl'}", file=sys.stderr)
    if fatal:
        logger.error("%s", fatal)
    if code != ExitCode.OK:
        again = " ".join(arg for arg in ["crawler", *sys.argv[1:]] if arg != "--fresh")
        print(f"state saved; to resume {run.path}, run: {again}", file=sys.stderr)
    return code


def _log_to_file(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    return handler


def main_guarded(request: CrawlRequest) -> int:
    """run_crawl with framework errors turned into one-paragraph messages and exit codes."""
    try:
        return run_crawl(request)
    except CrawlerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
