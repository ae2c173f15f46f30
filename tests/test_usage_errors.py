"""Bad input from the user: a clear one-paragraph message, the right exit code, no work done."""

from __future__ import annotations

import hashlib
import signal

from crawler.journal.records import Header, JournalWriter
from tests.support import Project, interrupt, wait_for

SPIDER = """
    from crawler import Spider

    class Ok(Spider):
        name = "ok"
        start_urls = ["http://127.0.0.1:9/"]

        def parse(self, response):
            yield {"url": response.url}
"""


def assert_usage_error(result: object, *fragments: str, code: int = 2) -> None:
    stderr = result.stderr  # type: ignore[attr-defined]
    assert result.returncode == code, stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in stderr, stderr


def test_settings_syntax_error_names_line_and_column(project: Project) -> None:
    project.add_spider("ok", SPIDER)
    project.write_settings("[downloader]\nconcurrency 8\n")
    result = project.run("crawl", "ok")
    assert_usage_error(result, "settings.toml", "invalid TOML", "line 2")


def test_unknown_key_suggests_the_nearest(project: Project) -> None:
    project.add_spider("ok", SPIDER)
    project.write_settings("[downloader]\nconcurency = 8\n")
    assert_usage_error(project.run("crawl", "ok"), "unknown setting", "downloader.concurrency")


def test_wrong_type_is_refused(project: Project) -> None:
    project.add_spider("ok", SPIDER)
    project.write_settings("[downloader]\nconcurrency = true\n")
    assert_usage_error(project.run("crawl", "ok"), "downloader.concurrency", "integer", "boolean")


def test_bad_override_is_refused(project: Project) -> None:
    project.add_spider("ok", SPIDER)
    assert_usage_error(project.run("crawl", "ok", "-s", "processes.parsers=0"), "processes.parsers")


def test_spider_import_error_is_reported_once_before_any_process(project: Project) -> None:
    project.add_spider("broken", "from crawler import Spider\nimport not_a_module_anywhere\n")
    result = project.run("crawl", "broken")
    assert_usage_error(result, "broken.py", "ModuleNotFoundError", "not_a_module_anywhere")
    assert result.stderr.count("not_a_module_anywhere") == 1
    assert not (project.root / "output").exists()


def test_spider_syntax_error_shows_file_and_line(project: Project) -> None:
    project.add_spider("broken", "from crawler import Spider\n\ndef oops(:\n    pass\n")
    assert_usage_error(project.run("crawl", "broken"), "broken.py:3", "SyntaxError")


def test_every_bad_start_url_is_listed(project: Project) -> None:
    project.add_spider(
        "urls",
        """
        from crawler import Spider

        class Urls(Spider):
            name = "urls"
            start_urls = ["http://127.0.0.1:9/", "example.com/x", "ftp://host/", " http://a/ "]
    """,
    )
    result = project.run("crawl", "urls")
    assert_usage_error(
        result, "start_urls[1]", "missing scheme", "start_urls[2]", "ftp", "start_urls[3]"
    )
    assert "start_urls[0]" not in result.stderr


def test_start_urls_as_a_string_is_refused(project: Project) -> None:
    project.add_spider(
        "urls",
        """
        from crawler import Spider

        class Urls(Spider):
            name = "urls"
            start_urls = "http://127.0.0.1:9/"
    """,
    )
    assert_usage_error(project.run("crawl", "urls"), "must be a list")


def test_two_spiders_with_one_name(project: Project) -> None:
    project.add_spider("a", SPIDER)
    project.add_spider("b", SPIDER)
    assert_usage_error(project.run("crawl", "ok"), "two spiders are named 'ok'")


def test_bad_spider_argument(project: Project) -> None:
    project.add_spider("ok", SPIDER)
    assert_usage_error(project.run("crawl", "ok", "-a", "novalue"), "NAME=VALUE")


def _start_slow_crawl(project: Project) -> object:
    """A crawl whose start requests never end (each page is slow)."""
    project.add_spider(
        "slow",
        """
        import asyncio
        from crawler import Request, Spider

        class Slow(Spider):
            name = "slow"

            async def start_requests(self):
                while True:
                    await asyncio.sleep(0.05)
                    yield Request("http://127.0.0.1:9/", dont_filter=True)
    """,
    )
    project.write_settings("[downloader]\nretries = 0\n")
    return project.start("crawl", "slow")


def test_a_locked_run_folder_is_refused(project: Project) -> None:
    first = _start_slow_crawl(project)
    wait_for(lambda: (project.root / "output/slow/latest/job/status.json").exists())
    second = project.run("crawl", "slow")
    assert_usage_error(second, "in use by PID")
    interrupt(first, signal.SIGINT)  # type: ignore[arg-type]
    assert first.wait(30) == 130  # type: ignore[attr-defined]
    first.communicate()  # type: ignore[attr-defined]


def test_resume_with_other_settings_is_refused_unless_fresh(project: Project) -> None:
    first = _start_slow_crawl(project)
    wait_for(lambda: (project.root / "output/slow/latest/job/status.json").exists())
    interrupt(first, signal.SIGTERM)  # type: ignore[arg-type]
    assert first.wait(30) == 143  # type: ignore[attr-defined]
    first.communicate()  # type: ignore[attr-defined]
    result = project.run("crawl", "slow", "-s", "downloader.retries=1")
    assert_usage_error(result, "other settings", "downloader.retries", "--fresh")
    fresh = project.start("crawl", "slow", "-s", "downloader.retries=1", "--fresh")
    wait_for(lambda: len(list((project.root / "output/slow").iterdir())) == 3)
    interrupt(fresh, signal.SIGINT)  # type: ignore[arg-type]
    assert fresh.wait(30) == 130  # type: ignore[attr-defined]
    fresh.communicate()  # type: ignore[attr-defined]


def test_corrupt_journal_fails_closed(project: Project) -> None:
    project.add_spider("ok", SPIDER)
    run = project.root / "output" / "ok" / "20260101-000000"
    (run / "job" / "parts").mkdir(parents=True)
    (project.root / "output" / "ok" / "latest").symlink_to(run.name)
    writer = JournalWriter(run / "job" / "journal.bin")
    writer.append(Header(1, "ok", "{}"))
    writer.append(Header(1, "ok", "{}"))
    writer.close()
    data = bytearray((run / "job" / "journal.bin").read_bytes())
    data[12] ^= 0xFF  # inside the first record's payload
    (run / "job" / "journal.bin").write_bytes(bytes(data))
    before = hashlib.sha256(data).hexdigest()
    result = project.run("crawl", "ok")
    assert_usage_error(result, "corrupt", code=3)
    assert hashlib.sha256((run / "job" / "journal.bin").read_bytes()).hexdigest() == before


def test_unknown_output_format_is_refused_before_any_work(project: Project) -> None:
    project.add_spider("ok", SPIDER)
    assert_usage_error(
        project.run("crawl", "ok", "-o", "out.xlsx"), "unknown output format", ".csv"
    )
    assert not (project.root / "output").exists()
