"""The one mapping from the HTTP client's exceptions to our failures (downloader.failures)."""

from __future__ import annotations

import aiohttp
import pytest

from crawler.downloader.failures import FETCH_ERRORS, failed
from crawler.errors import BodyError, PrivateAddressError
from crawler.wire.messages import FailureKind


def wrapped_private_error() -> aiohttp.ClientConnectorError:
    """A refused private address as aiohttp reports it: wrapped in its connector error."""
    key = aiohttp.client_reqrep.ConnectionKey("10.0.0.1", 80, False, True, None, None, None)
    return aiohttp.ClientConnectorError(key, PrivateAddressError("10.0.0.1"))


@pytest.mark.parametrize(
    ("error", "reason", "kind", "retryable"),
    [
        (aiohttp.ConnectionTimeoutError(), "connect timeout", FailureKind.NETWORK, True),
        (aiohttp.SocketTimeoutError(), "read timeout", FailureKind.NETWORK, True),
        (TimeoutError(), "timeout", FailureKind.NETWORK, True),
        (BodyError("body exceeds max_body_size 1024"), "body exceeds max_body_size 1024",
         FailureKind.LIMIT, False),
        (wrapped_private_error(), "private address refused: 10.0.0.1 (scope.private_networks)",
         FailureKind.REFUSED, False),
        (aiohttp.ServerDisconnectedError(), "ServerDisconnectedError: Server disconnected",
         FailureKind.NETWORK, True),
        (ConnectionResetError(104, "reset"), "ConnectionResetError: [Errno 104] reset",
         FailureKind.NETWORK, True),
    ],
)  # fmt: skip
def test_each_client_error_has_one_reason_kind_and_retry(
    error: BaseException, reason: str, kind: FailureKind, retryable: bool
) -> None:
    assert isinstance(error, FETCH_ERRORS)
    failure = failed(error)
    assert (failure.reason, failure.kind, failure.retryable) == (reason, kind, retryable)
    assert failure.error is error
    assert failure.detail == f"{type(error).__name__}: {error}"
