"""`crawler bench`: crawl the benchmark site with this framework (and others), print medians."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from crawler.cli.bench import server, site
from crawler.cli.bench.measure import Run, run_measured
from crawler.errors import UsageError

COMPETITORS = {
    "scrapy": "scrapy_bench.py",
    "crawlee": "crawlee_bench.py",
    "handwritten": "handwritten_bench.py",
}
_SPIDERS = Path(__file__).with_name("bench_spiders.py")
_OUR_NAMES = {"bench": "ours", "bench_fast": "ours-fast", "bench_fetch": "ours-fetch"}
_THEIR_SUFFIXES = {"parsel": "", "selectolax": "-fast", "none": "-fetch"}


@dataclass
class BenchOptions:
    root: Path
    products: int = 20000
    processes: tuple[tuple[int, int], ...] = ((1, 1), (1, 2), (2, 1), (2, 2))
    repeat: int = 3
    compare: bool = False
    python: str = sys.executable
    fast: bool = True
    chain: bool = True
    json_path: Path | None = None
    journal_cost: bool = False
    overhead: bool = True  # also crawl without parsing product pages (ours-fetch)


def parse_processes(text: str) -> tuple[tuple[int, int], ...]:
    """'1x1,2x2' -> ((1, 1), (2, 2))."""
    try:
        pairs = tuple(tuple(int(n) for n in item.split("x")) for item in text.split(","))
    except ValueError:
        pairs = ()
    if not pairs or any(len(p) != 2 or min(p) < 1 for p in pairs):
        raise UsageError(f"--processes {text!r}: expected DxP pairs like 1x1,2x2")
    return pairs  # type: ignore[return-value]


def bench(options: BenchOptions) -> int:
    """Build and serve the site, run every crawler `repeat` times, alternating; print medians."""
    _require_psutil()
    folder = options.root / ".cache" / "bench-site"
    print(f"building the site in {folder} ({options.products} products) ...", flush=True)
    catalogue = site.build(folder, options.products)
    pages = 1 + catalogue.listing_pages + catalogue.products
    with server.serve(folder) as (base_url, server_name), tempfile.TemporaryDirectory() as work:
        print(f"serving it with {server_name} at {base_url}", flush=True)
        workdir = Path(work)
        project = _project(workdir / "project")
        expected = site.expected(folder, base_url)
        jobs = _jobs(options, project, workdir, base_url, pages, expected)
        runs: list[Run] = []
        for round_number in range(options.repeat):
            for job in jobs:
                run = job()
                runs.append(run)
                print(
                    f"  round {round_number + 1}: {run.crawler:<12} {run.config:<6} "
                    f"{run.pages_per_second:8.0f} pages/s  {run.cpu_ms_per_page:5.2f} ms CPU/page"
                    f"  {'ok' if run.items_correct else 'WRONG ITEMS'}",
                    flush=True,
                )
        chain = _chain_latency(options, project, workdir, base_url) if options.chain else {}
    _report(runs, chain)
    if options.json_path:
        data = {"runs": [asdict(r) for r in runs], "chain": chain, "server": server_name}
        options.json_path.write_text(json.dumps(data, indent=2))
    return 0 if all(r.items_correct and r.returncode == 0 for r in runs) else 1


def _require_psutil() -> None:
    try:
        import psutil  # noqa: F401
    except ImportError as exc:
        raise UsageError("crawler bench needs psutil: pip install 'crawler[bench]'") from exc


def _project(path: Path) -> Path:
    (path / "spiders").mkdir(parents=True)
    (path / "spiders" / "__init__.py").write_text("")
    shutil.copyfile(_SPIDERS, path / "spiders" / "bench.py")
    (path / "settings.toml").write_text("[downloader]\nper_host = 64\n")
    return path


def _jobs(
    options: BenchOptions,
    project: Path,
    workdir: Path,
    base_url: str,
    pages: int,
    expected: set[str],
) -> list[Callable[[], Run]]:
    jobs: list[Callable[[], Run]] = []
    if options.journal_cost:
        downloaders, parsers = options.processes[-1]
        for stub in (False, True):
            jobs.append(
                _ours(project, "bench", downloaders, parsers, base_url, pages, expected, stub)
            )
        return jobs
    spiders = ["bench"] + (["bench_fast"] if options.fast and _has_selectolax() else [])
    for spider in spiders:
        for downloaders, parsers in options.processes:
            jobs.append(_ours(project, spider, downloaders, parsers, base_url, pages, expected))
    if options.overhead:
        jobs.append(_ours(project, "bench_fetch", 1, 1, base_url, pages, expected))
    if options.compare:
        folder = options.root / "benchmarks"
        for name, script in COMPETITORS.items():
            if not (folder / script).exists():
                raise UsageError(f"--compare needs {folder / script}")
            kinds = ["parsel"]
            if name == "handwritten":
                kinds += ["selectolax"] if options.fast else []
                kinds += ["none"] if options.overhead else []
            for parser in kinds:
                jobs.append(
                    _theirs(
                        options.python,
                        folder / script,
                        name,
                        parser,
                        workdir,
                        base_url,
                        pages,
                        expected,
                    )
                )
    return jobs


def _has_selectolax() -> bool:
    try:
        import selectolax  # noqa: F401
    except ImportError:
        return False
    return True


def _ours(
    project: Path,
    spider: str,
    downloaders: int,
    parsers: int,
    base_url: str,
    pages: int,
    expected: set[str],
    journal_stub: bool = False,
) -> Callable[[], Run]:
    def job() -> Run:
        command = [
            "env",
            f"CRAWLER_JOURNAL_STUB={int(journal_stub)}",
            sys.executable,
            "-m",
            "crawler",
            "crawl",
            spider,
            "-a",
            f"base_url={base_url}",
            "--fresh",
            "-L",
            "WARNING",
            "-s",
            f"processes.downloaders={downloaders}",
            "-s",
            f"processes.parsers={parsers}",
        ]
        wall, cpu, memory, code = run_measured(command, project, project / "bench.log")
        items = project / "output" / spider / "latest" / "items.jsonl"
        correct = code == 0 and (journal_stub or _items_match(items, expected))
        name = _OUR_NAMES[spider] + ("-nojournal" if journal_stub else "")
        return Run(name, f"{downloaders}x{parsers}", wall, cpu, memory, pages, correct, code)

    return job


def _theirs(
    python: str,
    script: Path,
    name: str,
    parser: str,
    workdir: Path,
    base_url: str,
    pages: int,
    expected: set[str],
) -> Callable[[], Run]:
    def job() -> Run:
        output = workdir / f"{name}-{parser}.jsonl"
        output.unlink(missing_ok=True)
        command = [
            python,
            str(script),
            "--base-url",
            base_url,
            "--output",
            str(output),
            "--parser",
            parser,
        ]
        wall, cpu, memory, code = run_measured(command, workdir, workdir / f"{name}.log")
        correct = code == 0 and _items_match(output, expected)
        label = name + _THEIR_SUFFIXES[parser]
        return Run(label, "1", wall, cpu, memory, pages, correct, code)

    return job


def _items_match(path: Path, expected: set[str]) -> bool:
    """Whether the items are exactly the site's; items with only a URL (fetching only) are
    checked against the expected URLs."""
    if not path.exists():
        return False
    lines = path.read_text().splitlines()
    items = [json.loads(line) for line in lines]
    if items and all(set(item) == {"url"} for item in items):
        urls = {json.loads(record)["url"] for record in expected}
        return len(items) == len(urls) and {item["url"] for item in items} == urls
    found = {json.dumps(item, sort_keys=True) for item in items}
    return len(lines) == len(expected) and found == expected


def _chain_latency(
    options: BenchOptions, project: Path, workdir: Path, base_url: str
) -> dict[str, float]:
    """Milliseconds per hop along a chain of pages: (t(1000 hops) - t(100 hops)) / 900."""
    result: dict[str, float] = {}
    crawlers = {"ours": _chain_ours(project)}
    script = options.root / "benchmarks" / COMPETITORS["handwritten"]
    if options.compare and script.exists():
        crawlers["handwritten"] = _chain_theirs(options.python, script, workdir)
    for name, crawl in crawlers.items():
        # A difference of two short wall times is noisy: at least 5 runs of each, alternated.
        long_runs: list[float] = []
        short_runs: list[float] = []
        for _ in range(options.repeat if options.repeat == 1 else max(options.repeat, 5)):
            long_runs.append(crawl(base_url + "chain/"))
            short_runs.append(crawl(base_url + "chain-short/"))
        result[name] = 1000 * (statistics.median(long_runs) - statistics.median(short_runs)) / 900
    return result


def _chain_ours(project: Path) -> Callable[[str], float]:
    def crawl(url: str) -> float:
        command = [
            sys.executable,
            "-m",
            "crawler",
            "crawl",
            "bench",
            "-a",
            f"base_url={url}",
            "--fresh",
            "-L",
            "WARNING",
        ]
        return run_measured(command, project, project / "chain.log")[0]

    return crawl


def _chain_theirs(python: str, script: Path, workdir: Path) -> Callable[[str], float]:
    def crawl(url: str) -> float:
        command = [python, str(script), "--base-url", url, "--output", str(workdir / "chain.jsonl")]
        return run_measured(command, workdir, workdir / "chain.log")[0]

    return crawl


def _report(runs: list[Run], chain: dict[str, float]) -> None:
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.crawler, run.config), []).append(run)
    print("\ncrawler      procs  pages/s  CPU ms/page  peak MB  items")
    medians: dict[str, float] = {}
    for (crawler, config), group in groups.items():
        rate = statistics.median(r.pages_per_second for r in group)
        cpu = statistics.median(r.cpu_ms_per_page for r in group)
        memory = statistics.median(r.peak_memory for r in group) / 2**20
        ok = "ok" if all(r.items_correct for r in group) else "WRONG"
        print(f"{crawler:<12} {config:<6} {rate:7.0f}  {cpu:11.2f}  {memory:7.0f}  {ok}")
        medians[crawler] = max(medians.get(crawler, 0.0), rate)
    if "ours" in medians and "ours-nojournal" in medians:
        cost = 1 - medians["ours"] / medians["ours-nojournal"]
        print(f"journal cost: {100 * cost:.1f}% of pages/s (ours vs ours-nojournal)")
    for ours in ("ours", "ours-fast"):
        for other in ("scrapy", "crawlee", "handwritten", "handwritten-fast"):
            if ours in medians and other in medians and medians[other]:
                print(f"{ours} (best) / {other}: {medians[ours] / medians[other]:.2f}x")
    cpu_ms = {
        crawler: statistics.median(r.cpu_ms_per_page for r in group)
        for (crawler, _), group in groups.items()
    }
    if "ours-fetch" in cpu_ms and "handwritten-fetch" in cpu_ms:
        fetch_ours, fetch_theirs = cpu_ms["ours-fetch"], cpu_ms["handwritten-fetch"]
        print(
            f"framework overhead, fetching only: {fetch_ours - fetch_theirs:.3f} ms CPU/page "
            f"(ours-fetch 1x1 {fetch_ours:.3f}, handwritten-fetch {fetch_theirs:.3f})"
        )
    for name, ms in chain.items():
        print(f"chain round trip, {name}: {ms:.2f} ms per hop")
    if "ours" in chain and "handwritten" in chain:
        print(f"framework share of a hop: {chain['ours'] - chain['handwritten']:.2f} ms")


def default_processes() -> tuple[tuple[int, int], ...]:
    """1x1, 1x2, 2x1 and 2x2, and on bigger machines a few splits of all the cores."""
    cores = os.cpu_count() or 2
    pairs = {(1, 1), (1, 2), (2, 1), (2, 2)}
    if cores > 2:
        quarter = max(1, cores // 4)
        pairs |= {(1, cores - 1), (quarter, cores - quarter), (2, cores)}
    return tuple(sorted(pairs))
