"""The hook API: change requests before they are sent and responses before they are parsed.

List hook instances in `Spider.hooks`; they run in that order, request hooks in the
downloader just before each attempt, response hooks in the parser just before the callback.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING

from crawler.errors import Retry as Retry  # raised by hooks; defined with the others

if TYPE_CHECKING:
    from crawler.api.request import Request
    from crawler.api.response import Response


class Hook:
    """Subclass this and override `request`, `response` or both (plain or `async def`).

    `request` gets the `Request` about to be sent and returns it (changed or replaced);
    the change applies to this attempt only and is not saved in the journal, so a fresh
    token is added on every retry and secrets stay out of the run folder.
    `response` gets the `Response` before the callback and returns it (or another one),
    or raises `Retry` to fetch the page again.
    """

    def request(self, request: Request) -> Request | Awaitable[Request]:
        """Change a request before it is sent (runs in a downloader)."""
        return request

    def response(self, response: Response) -> Response | Awaitable[Response]:
        """Change a response before the callback sees it (runs in a parser)."""
        return response


def overrides(hooks: object, method: str) -> list[Hook]:
    """The hooks of `hooks` (a Spider.hooks value) whose `method` is their own."""
    if not isinstance(hooks, list | tuple):
        raise TypeError(f"Spider.hooks must be a list of Hook instances, got {hooks!r}")
    for hook in hooks:
        if not isinstance(hook, Hook):
            raise TypeError(f"Spider.hooks holds {hook!r}, which is not a Hook instance")
    return [hook for hook in hooks if getattr(type(hook), method) is not getattr(Hook, method)]
