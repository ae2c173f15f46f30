"""What a downloader sends for a request: the spider's request hooks, the Cookie header
from the scheduler's jar, the proxy; and the errback delivery of a request that failed."""

from __future__ import annotations

import inspect
import logging
from typing import NamedTuple

from crawler.api.hooks import Hook
from crawler.api.request import check_url, from_spec
from crawler.downloader.failures import Failed
from crawler.settings.schema import DownloaderSettings
from crawler.wire.messages import FailureKind, Fetch, Page

logger = logging.getLogger(__name__)


class Outgoing(NamedTuple):
    """The request as it is sent."""

    url: str
    method: str
    headers: dict[str, str]
    data: bytes
    proxy: str | None
    private: bool  # through the session that may connect to private addresses


def errback_page(fetch: Fetch) -> Page:
    """The empty page that takes a request that failed for good to its errback (in the
    parser); nothing is fetched."""
    request = fetch.request
    assert request.failure is not None
    return Page(fetch.lease, request, request.url, request.failure.status, [], b"")


class Preparer:
    """Turns the scheduler's requests into what is sent."""

    def __init__(self, settings: DownloaderSettings, hooks: list[Hook]) -> None:
        self.proxy = settings.proxy
        self.hooks = hooks

    def plain(self, fetch: Fetch) -> Outgoing:
        """The request as the scheduler sent it (when the spider has no request hooks)."""
        request = fetch.request
        return self._outgoing(fetch, request.url, request.method, request.headers, request.body)

    async def hooked(self, fetch: Fetch) -> Outgoing | Failed:
        """The request after the spider's request hooks; a hook that raises fails it."""
        try:
            url, method, headers, data = await self._run_hooks(fetch)
        except Exception as exc:
            logger.error("request hook failed for %s", fetch.request.url, exc_info=True)
            return Failed(f"hook error: {type(exc).__name__}: {exc}", FailureKind.HOOK, False, exc)
        return self._outgoing(fetch, url, method, headers, data)

    def _outgoing(
        self, fetch: Fetch, url: str, method: str, headers: dict[str, str], data: bytes
    ) -> Outgoing:
        if fetch.cookie and not any(k.lower() == "cookie" for k in headers):
            headers = {**headers, "Cookie": fetch.cookie}
        request = fetch.request
        proxy = (request.meta.get("proxy") if request.meta else None) or self.proxy or None
        # Through a proxy we connect to the proxy (often on a private address) and it
        # resolves the target: the connect-time guard cannot apply, the link-time one does.
        return Outgoing(url, method, headers, data, proxy, request.private or bool(proxy))

    async def _run_hooks(self, fetch: Fetch) -> tuple[str, str, dict[str, str], bytes]:
        """Run the request hooks on a copy of the request; return what to send."""
        request = from_spec(fetch.request)
        for hook in self.hooks:
            result = hook.request(request)
            if inspect.isawaitable(result):
                result = await result
            if not isinstance(result, type(request)):
                raise TypeError(
                    f"{type(hook).__name__}.request() returned {type(result).__name__}, "
                    "not a Request"
                )
            request = result
        check_url(request.url)
        body = request.body.encode() if isinstance(request.body, str) else request.body
        return request.url, request.method, dict(request.headers), body or b""
