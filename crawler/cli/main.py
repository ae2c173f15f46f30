"""The command line: `crawler crawl NAME`, `crawler list`, `crawler demo`; the main process."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from crawler import settings as settings_module
from crawler.api.spider import discover, parse_spider_args
from crawler.errors import TERMINAL_SIGNALS, CrawlerError, UsageError
from crawler.version import __version__

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crawler", description=__doc__)
    parser.add_argument("--version", action="version", version=f"crawler {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    crawl = commands.add_parser("crawl", help="run a spider (resumes its unfinished run)")
    crawl.add_argument("spider", help="the spider's name (see `crawler list`)")
    _crawl_options(crawl)

    listing = commands.add_parser("list", help="list the spiders in spiders/")
    listing.add_argument("--settings", type=Path, help="settings.toml (default: ./settings.toml)")

    demo = commands.add_parser("demo", help="serve the bundled demo site and crawl it")
    _crawl_options(demo)

    bench = commands.add_parser("bench", help="benchmark on a generated site (make bench)")
    bench.add_argument("--products", type=int, default=20000, help="product pages (default 20000)")
    bench.add_argument("--processes", default="", help="DxP list, e.g. 1x1,2x2 (default: by cores)")
    bench.add_argument("--repeat", type=int, default=3, help="runs of each crawler (medians)")
    bench.add_argument("--compare", action="store_true", help="also Scrapy, Crawlee, hand-written")
    bench.add_argument("--python", default=sys.executable, help="interpreter for --compare")
    bench.add_argument("--no-fast", action="store_true", help="skip the selectolax runs")
    bench.add_argument("--no-chain", action="store_true", help="skip the latency chain")
    bench.add_argument(
        "--no-overhead",
        action="store_true",
        help="skip the fetch-only runs that measure the framework's own CPU cost",
    )
    bench.add_argument("--json", type=Path, help="write every run to this JSON file")
    bench.add_argument(
        "--journal-cost",
        action="store_true",
        help="instead: the last --processes pair with and without journal writes",
    )
    bench.add_argument(
        "--frontier",
        default="",
        metavar="SIZES",
        help="instead: dedup/frontier alone at these sizes, e.g. 1e6,1e7",
    )

    parse = commands.add_parser(
        "parse", help="fetch one URL, run one callback, print its items (stdout) and requests"
    )
    parse.add_argument("spider", help="the spider's name (see `crawler list`)")
    parse.add_argument("url", help="the page to fetch")
    parse.add_argument("-c", "--callback", default="parse", help="the spider method (parse)")
    parse.add_argument("--meta", type=_json_object, default={}, help="the request's meta, JSON")
    parse.add_argument(
        "--cb-kwargs", type=_json_object, default={}, help="the callback's keyword arguments, JSON"
    )
    _spider_options(parse)

    shell = commands.add_parser("shell", help="fetch a page and explore it in a Python prompt")
    shell.add_argument("url", help="the page to fetch")
    shell.add_argument("--spider", help="use this spider's settings (and create it as `spider`)")
    _spider_options(shell)

    serve = commands.add_parser("serve-demo", help="only serve the demo site")
    serve.add_argument("--port", type=int, help="default: demo.port of the settings")
    serve.add_argument("--pages", type=int, help="product pages; default: demo.pages")
    serve.add_argument("--settings", type=Path, help="settings.toml (default: ./settings.toml)")
    return parser


def _crawl_options(command: argparse.ArgumentParser) -> None:
    _spider_options(command)
    command.add_argument(
        "--fresh", action="store_true", help="start a new run, even if the latest one is unfinished"
    )
    command.add_argument("-o", "--output", type=Path, help="also write the items to FILE")
    command.add_argument("-L", "--log-level", choices=LEVELS, default="INFO")


def _spider_options(command: argparse.ArgumentParser) -> None:
    """-a, -s and --settings: what makes a spider and its settings."""
    command.add_argument(
        "-a",
        dest="spider_args",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="spider argument (an attribute)",
    )
    command.add_argument(
        "-s",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a setting",
    )
    command.add_argument("--settings", type=Path, help="settings.toml (default: ./settings.toml)")


def _json_object(text: str) -> dict[str, Any]:
    """An argparse type: a JSON object."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"not a JSON object: {text}")
    return value


def project_root(settings: Path | None) -> Path:
    """The folder holding settings.toml: the given file's, else the current one."""
    if settings is not None:
        if not settings.is_file():
            raise UsageError(f"settings file not found: {settings.resolve()}")
        return settings.resolve().parent
    return Path.cwd()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except CrawlerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


def _dispatch(args: argparse.Namespace) -> int:
    if args.command not in ("crawl", "demo"):
        # Only a crawl keeps Ctrl-C blocked until its scheduler handles it (launcher.py).
        signal.pthread_sigmask(signal.SIG_UNBLOCK, TERMINAL_SIGNALS)
    root = project_root(getattr(args, "settings", None))
    if args.command == "serve-demo":
        from crawler.cli.demo.server import serve_forever

        path = args.settings or root / "settings.toml"
        demo = settings_module.load(path if path.exists() else None).demo
        serve_forever(args.port or demo.port, args.pages or demo.pages)
        return 0
    if args.command == "bench":
        return _bench(args, root)
    if args.command == "parse":
        from crawler.cli.parse import ParseRequest, run

        return run(
            ParseRequest(
                root=root,
                spider=args.spider,
                url=args.url,
                callback=args.callback,
                meta=args.meta,
                cb_kwargs=args.cb_kwargs,
                spider_args=parse_spider_args(args.spider_args),
                overrides=args.overrides,
                settings_path=args.settings,
            )
        )
    if args.command == "shell":
        from crawler.cli.shell import ShellRequest
        from crawler.cli.shell import run as run_shell

        return run_shell(
            ShellRequest(
                root=root,
                url=args.url,
                spider=args.spider,
                overrides=args.overrides,
                spider_args=parse_spider_args(args.spider_args),
                settings_path=args.settings,
            )
        )
    if args.command == "list":
        for name, ref in sorted(discover(root).items()):
            print(f"{name}\t{ref.module}.{ref.qualname}")
        return 0
    # Start the fork server of the workers now: it imports the framework while this
    # process imports it too and sets up the crawl (crawler/scheduler/processes.py).
    from crawler.scheduler.processes import start_forkserver, stop_forkserver

    start_forkserver()
    try:
        return _crawl(args, root)
    finally:
        stop_forkserver()


def _crawl(args: argparse.Namespace, root: Path) -> int:
    from crawler.scheduler.crawl import CrawlRequest, main_guarded

    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
    )
    request = CrawlRequest(
        root=root,
        spider="demo" if args.command == "demo" else args.spider,
        spider_args=parse_spider_args(args.spider_args),
        overrides=args.overrides,
        settings_path=args.settings,
        fresh=args.fresh,
        output=args.output,
        log_level=getattr(logging, args.log_level),
    )
    if args.command == "demo":
        from crawler.cli.demo.server import run_demo

        return run_demo(request)
    return main_guarded(request)


def _bench(args: argparse.Namespace, root: Path) -> int:
    if args.frontier:
        from crawler.cli.bench.frontier_bench import main as frontier_main

        return frontier_main([int(float(size)) for size in args.frontier.split(",")])
    from crawler.cli.bench.runner import BenchOptions, bench, default_processes, parse_processes

    options = BenchOptions(
        root=root,
        products=args.products,
        processes=parse_processes(args.processes) if args.processes else default_processes(),
        repeat=args.repeat,
        compare=args.compare,
        python=args.python,
        fast=not args.no_fast,
        chain=not args.no_chain,
        overhead=not args.no_overhead,
        json_path=args.json,
        journal_cost=args.journal_cost,
    )
    return bench(options)
