"""The benchmark site: a static catalogue (25 KB product pages) and a chain of pages, on disk."""

from __future__ import annotations

import json
from pathlib import Path

from crawler.cli.demo.site import Catalogue

PADDING = 40  # reviews per product page: about 25 KB and 500 elements, like a real shop page
MANIFEST = "manifest.jsonl"


def build(folder: Path, products: int, chain: int = 1000) -> Catalogue:
    """Write the catalogue and the chain under `folder` (skipped if already there)."""
    catalogue = Catalogue(products, padding=PADDING, related=False)
    stamp = folder / ".complete"
    if stamp.exists() and stamp.read_text() == f"{products} {chain} v3":
        return catalogue
    folder.mkdir(parents=True, exist_ok=True)
    paths = ["/", *(f"/catalogue/page-{n}.html" for n in range(1, catalogue.listing_pages + 1))]
    paths += [f"/product/{n}.html" for n in range(1, products + 1)]
    for path in paths:
        body = catalogue.render(path)
        assert body is not None
        _write(folder, "/index.html" if path == "/" else path, body)
    _write_chain(folder, "chain", chain)
    _write_chain(folder, "chain-short", max(1, chain // 10))
    lines = (json.dumps(_bench_item(item)) + "\n" for item in catalogue.expected_items("/"))
    (folder / MANIFEST).write_text("".join(lines))
    stamp.write_text(f"{products} {chain} v3")
    return catalogue


def _bench_item(item: dict[str, str | bool]) -> dict[str, str | bool]:
    return {
        "url": str(item["url"]).lstrip("/"),
        "title": item["title"],
        "price": item["price"],
        "availability": "In stock" if item["available"] else "Out of stock",
    }


def _write_chain(folder: Path, name: str, length: int) -> None:
    """`/<name>/` → page-1 → page-2 → ... → page-`length`: each reachable only from the last."""
    _write(folder, f"/{name}/index.html", _page('<a class="start" href="page-1.html">start</a>'))
    for n in range(1, length + 1):
        nav = f'<li class="next"><a href="page-{n + 1}.html">next</a></li>' if n < length else ""
        _write(folder, f"/{name}/page-{n}.html", _page(f'<ul class="pager">{nav}</ul>'))


def _page(body: str) -> bytes:
    return (
        f"<!DOCTYPE html><html><head><title>chain</title></head><body>{body}</body></html>".encode()
    )


def _write(folder: Path, path: str, body: bytes) -> None:
    target = folder / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(body)


def expected(folder: Path, base_url: str) -> set[str]:
    """The manifest's items for `base_url`, as canonical JSON strings."""
    items = set()
    for line in (folder / MANIFEST).read_text().splitlines():
        item = json.loads(line)
        item["url"] = base_url + item["url"]
        items.add(json.dumps(item, sort_keys=True))
    return items
