"""The scheduler process starts light: the workers' libraries load in the fork server only."""

from __future__ import annotations

import subprocess
import sys

from tests.support import REPO

HEAVY = ("aiohttp", "parsel", "lxml", "crawler.downloader", "crawler.parser")


def test_the_scheduler_imports_no_http_client_and_no_html_parser() -> None:
    # What the scheduler process imports: the command line, the crawl, and a spider module
    # that uses the public names (Response included, as type hints usually need).
    code = (
        "import sys, crawler.cli, crawler.crawl, crawler.scheduler\n"
        "from crawler import Request, Response, Spider\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout
