"""Every message that crosses a process boundary, as msgspec Structs; used by all processes.

Each channel has one union type.  Frames are msgpack, never pickles.

    scheduler  -> downloader   ToDownloader: FetchBatch | ParserAddress | FetchRobots | Stop
    downloader -> scheduler    FromDownloader: FetchFailed | Redirected | Fetched
                                               | RobotsFetched | LogLine
    downloader -> parser       ToParser: Hello | Page            (Unix or TCP socket)
    scheduler  -> parser       ToParserControl: Stop
    parser     -> scheduler    FromParser: ParserReady | PageDone | PageFailed | LogLine
"""

from __future__ import annotations

import enum
from typing import Any

import msgspec


class FailureKind(enum.StrEnum):
    """Why a fetch failed: `Failure.kind` for errbacks, and the `kind` of `FetchFailed`."""

    HTTP = "http"  # an error status (`status` says which)
    NETWORK = "network"  # no response: refused, reset, timed out
    LIMIT = "limit"  # a body over a size limit, or undecodable
    REFUSED = "refused"  # a private address the crawl may not reach
    REDIRECT = "redirect"  # a loop, too many redirects, a bad Location, an unfetchable target
    HOOK = "hook"  # a request hook raised
    PARSER = "parser"  # the page could not reach its parser: requeued, never a Failure


class RobotsVerdict(enum.StrEnum):
    """What a robots.txt fetch found out about its origin."""

    FETCHED = "fetched"  # rules came with the body
    MISSING = "missing"  # no rules: everything is allowed
    UNREACHABLE = "unreachable"  # everything on the origin is disallowed for this crawl


class FetchFailure(msgspec.Struct, array_like=True):
    """Why a request finally failed, carried to the parser that runs its errback."""

    reason: str  # e.g. "HTTP 404", "connect timeout"
    kind: FailureKind
    status: int = 0  # the HTTP status; 0 when there was no response


class RequestSpec(msgspec.Struct, array_like=True, omit_defaults=True):
    """A request as it travels between processes and sits in the journal."""

    url: str
    id: int = 0
    method: str = "GET"
    headers: dict[str, str] = {}
    body: bytes = b""
    callback: str = "parse"
    meta: dict[str, Any] = {}
    priority: int = 0
    dont_filter: bool = False
    depth: int = 0
    fingerprint: int = 0
    attempts: int = 0
    crashes: int = 0
    cookies: dict[str, str] = {}
    private: bool = False  # may connect to private addresses (the crawl started on one)
    errback: str = ""  # the spider method called when the request finally fails
    failure: FetchFailure | None = None  # set: not fetched again, its errback runs instead
    cb_kwargs: dict[str, Any] = {}  # keyword arguments of the callback


class Fetch(msgspec.Struct, array_like=True):
    """Fetch `request` under `lease` and hand the page to parser `parser`."""

    request: RequestSpec
    lease: int
    parser: int
    cookie: str = ""  # the Cookie header from the crawl's jar, if any


class FetchBatch(msgspec.Struct, tag=True, array_like=True):
    fetches: list[Fetch]


class ParserAddress(msgspec.Struct, tag=True, array_like=True):
    """Where parser `slot` listens: a Unix socket path, or a TCP port on 127.0.0.1."""

    slot: int
    path: str
    port: int
    token: bytes


class FetchRobots(msgspec.Struct, tag=True, array_like=True):
    """Fetch the robots.txt of origin `key`; `public`: through the private-address guard."""

    key: str
    public: bool


class RobotsFetched(msgspec.Struct, tag=True, array_like=True):
    """The verdict on origin `key`'s robots.txt: "fetched" (with its body), "missing"
    (everything allowed) or "unreachable" (everything disallowed)."""

    key: str
    verdict: RobotsVerdict
    body: bytes = b""
    retries: int = 0  # attempts repeated after a 429, 5xx or network error
    redirects: int = 0  # redirects followed


class Stop(msgspec.Struct, tag=True, array_like=True):
    """No more work: finish and exit."""


class FetchFailed(msgspec.Struct, tag=True, array_like=True):
    """The fetch of `lease` failed; the scheduler decides about a retry.

    Retried up to downloader.retries when `retryable`; a `FailureKind.PARSER` failure is
    requeued and not counted.
    """

    lease: int
    reason: str
    kind: FailureKind
    retryable: bool
    status: int = 0
    retry_after: float = 0.0  # seconds the server asked us to wait (Retry-After), or 0


class Redirected(msgspec.Struct, tag=True, array_like=True):
    """The fetch of `lease` answered with a redirect to `location` (absolute)."""

    lease: int
    status: int
    location: str
    url: str  # the URL that redirected
    cookies: list[str] = []  # its Set-Cookie headers


class Fetched(msgspec.Struct, tag=True, array_like=True):
    """A response's latency, for the auto-throttle (sent only when it is enabled)."""

    host: str
    latency: float
    status: int


class LogLine(msgspec.Struct, tag=True, array_like=True):
    """A log record of a child, written to the crawl's log by the scheduler."""

    level: int
    logger: str
    text: str


class Hello(msgspec.Struct, tag=True, array_like=True):
    """First frame on a parser connection: the crawl's secret token."""

    token: bytes


class Page(msgspec.Struct, tag=True, array_like=True):
    """A fetched page on its way from a downloader to a parser."""

    lease: int
    request: RequestSpec
    url: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class ParserReady(msgspec.Struct, tag=True, array_like=True):
    path: str
    port: int


class PageDone(msgspec.Struct, tag=True, array_like=True):
    """A page parsed: its items sit at [start, end) of `part`; `requests` were found on it."""

    lease: int
    status: int
    part: str
    start: int
    end: int
    items: int
    requests: list[RequestSpec]
    filtered: dict[str, int] = {}
    cookies: list[str] = []  # the page's Set-Cookie headers, merged before `requests` go out
    warnings: list[str] = []  # kinds of trouble worth counting ("charset": decoding guessed)
    invalid: int = 0  # items that failed the spider's item_schema (kept apart in the chunk)


class PageFailed(msgspec.Struct, tag=True, array_like=True):
    """A page's callback failed; nothing it yielded is kept."""

    lease: int
    reason: str
    retry: bool = False  # a hook or callback raised Retry: fetch the page again


ToDownloader = FetchBatch | ParserAddress | FetchRobots | Stop
FromDownloader = FetchFailed | Redirected | Fetched | RobotsFetched | LogLine
ToParser = Hello | Page
ToParserControl = Stop
FromParser = ParserReady | PageDone | PageFailed | LogLine
