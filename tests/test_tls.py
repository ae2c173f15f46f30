"""HTTPS with a self-signed certificate: refused by default, fetched with verify_tls = false."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager

import trustme
from aiohttp import web

from tests.support import Project, serve_on

SPIDER = """
    from crawler import Spider

    class Secure(Spider):
        name = "secure"
        start_urls = ["URL"]

        def parse(self, response):
            yield {"url": response.url, "text": response.text}
"""


@contextmanager
def serve_https() -> Iterator[str]:
    """An HTTPS server on 127.0.0.1 with a certificate from a throw-away CA."""
    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)

    async def page(request: web.Request) -> web.Response:
        if request.path == "/robots.txt":
            raise web.HTTPNotFound()
        return web.Response(text="<html>secret</html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    with serve_on(app, ssl_context=context) as port:
        yield f"https://127.0.0.1:{port}/"


def test_an_untrusted_certificate_is_refused_unless_verification_is_off(
    project: Project,
) -> None:
    with serve_https() as url:
        project.add_spider("secure", SPIDER.replace("URL", url))
        project.write_settings("[downloader]\nretries = 0\nobey_robots = false\n")
        refused = project.run("crawl", "secure")
        project.write_settings(
            "[downloader]\nretries = 0\nobey_robots = false\nverify_tls = false\n"
        )
        accepted = project.run("crawl", "secure", "--fresh")
    assert refused.returncode == 0, refused.stderr
    assert accepted.returncode == 0, accepted.stderr
    assert project.items("secure") == [{"url": url, "text": "<html>secret</html>"}]
    run_dirs = sorted((project.root / "output" / "secure").glob("2*"))
    errors = (run_dirs[0] / "errors.jsonl").read_text()
    assert "ClientConnectorCertificateError" in errors and "certificate verify failed" in errors
