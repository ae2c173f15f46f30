"""Process start-up: a light scheduler, and workers that leave their inheritance to the GC."""

from __future__ import annotations

import subprocess
import sys

from aiohttp import web

from crawler.wire.runtime import GC_THRESHOLD
from tests.support import REPO, Project, catch_all, serve_app

HEAVY = ("aiohttp", "parsel", "lxml", "crawler.downloader.process", "crawler.parser.process")


def test_the_scheduler_imports_no_http_client_and_no_html_parser() -> None:
    # What the scheduler process imports: the command line, the crawl, and a spider module
    # that uses the public names (Response included, as type hints usually need).
    code = (
        "import sys, crawler.cli.main, crawler.scheduler.crawl, crawler.scheduler.lifecycle\n"
        "from crawler import Request, Response, Spider\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout


GC_PROBE = """
    import gc
    import sys

    from crawler import Spider

    class Probe(Spider):
        name = "probe"
        start_urls = ["BASE"]

        def parse(self, response):
            yield {
                "threshold": gc.get_threshold()[0],
                "frozen": gc.get_freeze_count(),
                "parsel": "parsel" in sys.modules,  # inherited, though unused so far
            }
"""


def test_workers_inherit_the_libraries_freeze_them_and_collect_cycles_less_often(
    project: Project,
) -> None:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<html>ok</html>", content_type="text/html")

    with serve_app(catch_all(page)) as url:
        project.add_spider("probe", GC_PROBE.replace("BASE", url))
        result = project.run("crawl", "probe")
    assert result.returncode == 0, result.stderr
    (item,) = project.items("probe")
    assert item["threshold"] == GC_THRESHOLD and item["frozen"] > 10_000
    assert item["parsel"]  # imported once by the fork server, not by each parser
