"""The HTTP cache for developing a spider: responses kept on disk, repeated requests answered
from there (Scrapy's HTTPCACHE_ENABLED).  Used by downloaders, with `[cache] enabled = true`.

One file per request, named by its fingerprint (method, canonical URL and body), under
`<cache.dir>/<spider>/`: the response's status, final URL, headers and body, as msgpack.
A file is written to a temporary name and renamed, so every downloader may share the folder
and a crash leaves no half-written entry; files are read and written in a thread, off the
event loop.  Responses with a status in `cache.ignore_status` (retryable ones by default)
are not kept, and an entry older than `cache.expiration` seconds (when set) is not used.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import msgspec
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from crawler.settings.schema import CacheSettings


class Entry(msgspec.Struct, array_like=True):
    """A response as kept on disk."""

    stored: float  # time.time() when it was kept
    status: int
    url: str
    headers: list[tuple[str, str]]
    body: bytes


class CachedResponse:
    """What the downloader reads of an aiohttp response, for an entry from the cache."""

    def __init__(self, entry: Entry) -> None:
        self.status = entry.status
        self.url = URL(entry.url)
        self.headers = CIMultiDictProxy(CIMultiDict(entry.headers))
        self.body = entry.body
        self.raw_headers = entry.headers


class HttpCache:
    """One spider's folder of kept responses."""

    def __init__(self, settings: CacheSettings, folder: Path) -> None:
        self.folder = folder
        self.expiration = settings.expiration
        self.ignore = frozenset(settings.ignore_status)
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(Entry)

    def path(self, key: int) -> Path:
        name = f"{key:016x}"
        return self.folder / name[:2] / name

    async def get(self, key: int) -> CachedResponse | None:
        """The kept response for `key`, unless there is none, it expired or it is damaged."""
        try:
            data = await asyncio.to_thread(self.path(key).read_bytes)
            entry = self._decoder.decode(data)
        except (OSError, msgspec.DecodeError):
            return None
        if self.expiration and time.time() - entry.stored > self.expiration:
            return None
        return CachedResponse(entry)

    def keeps(self, status: int) -> bool:
        return status not in self.ignore

    async def keep(
        self, key: int, response: Any, headers: list[tuple[str, str]], body: bytes
    ) -> None:
        """Keep an aiohttp response (with `headers`, its own if empty), unless its status is
        one the cache ignores."""
        if self.keeps(response.status):
            if not headers:
                headers = [(str(k), v) for k, v in response.headers.items()]
            await self.put(key, response.status, str(response.url), headers, body)

    async def put(
        self, key: int, status: int, url: str, headers: list[tuple[str, str]], body: bytes
    ) -> None:
        """Keep a response (a failure to write is not an error: it is only a cache)."""
        data = self._encoder.encode(Entry(time.time(), status, url, headers, body))
        await asyncio.to_thread(self._write, self.path(key), data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temp.write_bytes(data)
            os.replace(temp, path)
        except OSError:
            temp.unlink(missing_ok=True)
