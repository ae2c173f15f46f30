"""item_schema: items that fail it are dropped, kept in invalid_items.jsonl and counted;
the rest of the page commits, exactly once, across a kill and a resume."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from tests.support import Project, catch_all, read_jsonl, serve_app


def shop_app() -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        if request.path == "/robots.txt":
            raise web.HTTPNotFound()
        links = "".join(f'<a href="/p/{n}">p</a>' for n in range(6)) if request.path == "/" else ""
        return web.Response(text=f"<h1>{request.path}</h1>{links}", content_type="text/html")

    return catch_all(handle)


SPIDER = """
    import msgspec
    from crawler import Spider

    class Product(msgspec.Struct):
        url: str
        price: float
        stock: int = 0

    class Shop(Spider):
        name = "shop"
        start_urls = ["BASE"]
        item_schema = Product

        def parse(self, response):
            yield from response.follow_all(css="a", callback=self.parse_product)

        def parse_product(self, response):
            n = int(response.url.rsplit("/", 1)[1])
            yield {"url": response.url, "price": n * 1.5}  # valid, stock filled in
            yield {"url": response.url, "price": "free"}  # invalid: price is not a number
"""


def test_items_that_fail_the_schema_are_kept_apart(project: Project) -> None:
    with serve_app(shop_app()) as url:
        project.add_spider("shop", SPIDER.replace("BASE", url))
        result = project.run("crawl", "shop")
    assert result.returncode == 0, result.stderr
    items = sorted(project.items("shop"), key=lambda item: item["url"])
    assert items == [{"url": f"{url}p/{n}", "price": n * 1.5, "stock": 0} for n in range(6)]
    invalid = read_jsonl(project.run_dir("shop") / "invalid_items.jsonl")
    assert len(invalid) == 6
    assert invalid[0]["callback"] == "parse_product"
    assert invalid[0]["error"] == "Expected `float`, got `str` - at `$.price`"
    assert invalid[0]["item"]["price"] == "free"
    stats = project.stats("shop")
    assert stats["items"] == 6 and stats["invalid_items"] == 6 and stats["failed"] == 0
    assert "items failed the item_schema" in result.stderr


def test_a_schema_that_is_not_a_class_is_a_usage_error(project: Project) -> None:
    source = SPIDER.replace("item_schema = Product", "item_schema = 'x'")
    project.add_spider("shop", source.replace("BASE", "http://127.0.0.1:1/"))
    result = project.run("crawl", "shop")
    assert result.returncode == 2
    assert "Shop.item_schema must be a msgspec.Struct or dataclass class, got 'x'" in result.stderr


def test_invalid_items_survive_a_killed_parser_exactly_once(
    project: Project, tmp_path: Path
) -> None:
    marker = tmp_path / "fired"
    marker.mkdir()
    env = {
        "CRAWLER_FAILPOINTS": "parser.after_item=kill@/p/3",
        "CRAWLER_FAILPOINTS_ONCE": str(marker),
    }
    with serve_app(shop_app()) as url:
        project.add_spider("shop", SPIDER.replace("BASE", url))
        result = project.run("crawl", "shop", env=env)
    assert result.returncode == 0, result.stderr
    assert "died (SIGKILL)" in result.stderr
    assert len(project.items("shop")) == 6
    invalid = read_jsonl(project.run_dir("shop") / "invalid_items.jsonl")
    assert sorted(entry["url"] for entry in invalid) == sorted(f"{url}p/{n}" for n in range(6))
