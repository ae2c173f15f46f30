"""Smoke tests of `crawler bench` on a tiny site (the benchmark itself is `make bench`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from crawler.cli.bench import site
from crawler.cli.bench.measure import run_measured
from crawler.cli.bench.runner import parse_processes


def test_bench_crawls_a_tiny_site_correctly(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "crawler",
        "bench",
        "--products",
        "40",
        "--repeat",
        "1",
        "--processes",
        "1x1,1x2",
        "--json",
        str(tmp_path / "runs.json"),
    ]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ours         1x2" in result.stdout and "WRONG" not in result.stdout
    assert "ours-fetch   1x1" in result.stdout
    assert "chain round trip, ours" in result.stdout
    assert (tmp_path / "runs.json").exists()


def test_site_manifest_matches_the_pages(tmp_path: Path) -> None:
    catalogue = site.build(tmp_path, 25, chain=30)
    assert len(site.expected(tmp_path, "http://x/")) == 25
    assert (tmp_path / "product" / "25.html").stat().st_size > 20_000
    assert b"page-3.html" in (tmp_path / "chain" / "page-2.html").read_bytes()
    assert b"next" not in (tmp_path / "chain" / "page-30.html").read_bytes()
    assert b"next" not in (tmp_path / "chain-short" / "page-3.html").read_bytes()
    assert catalogue.listing_pages == 2


def test_frontier_bench_runs(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "crawler", "bench", "--frontier", "2e4"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "bytes/URL" in result.stdout


def test_process_pairs_are_parsed() -> None:
    assert parse_processes("1x1,2x3") == ((1, 1), (2, 3))


FORKING = """
import os, time
shared = bytearray(os.urandom(1 << 20)) * 100  # 100 MiB, resident
for _ in range(3):
    if os.fork() == 0:
        time.sleep(1.5)
        os._exit(0)
for _ in range(3):
    os.wait()
"""


def test_peak_memory_counts_pages_shared_after_fork_once(tmp_path: Path) -> None:
    # Forked workers share their fork server's pages: summed resident sets would count
    # the 100 MiB four times (400 MiB), proportional set sizes count them once.
    _wall, _cpu, peak, code = run_measured(
        [sys.executable, "-c", FORKING], tmp_path, tmp_path / "log"
    )
    assert code == 0
    assert 100 * 2**20 <= peak < 200 * 2**20
