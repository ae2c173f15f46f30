"""Shared fixtures: the test run is a child subreaper, so orphans of a crawl stay visible."""

from __future__ import annotations

import ctypes
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.hostile import HostileServer, serve_hostile
from tests.support import Project, assert_no_leftovers

_PR_SET_CHILD_SUBREAPER = 36


def pytest_configure(config: pytest.Config) -> None:
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    """A project root in a temporary folder; checks that no process outlives the test."""
    yield Project(tmp_path / "project")
    assert_no_leftovers()


@pytest.fixture(scope="module")
def server() -> Iterator[HostileServer]:
    """The misbehaving server of tests/hostile.py, one per test module."""
    with serve_hostile() as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session made as a downloader makes it."""
    from crawler.downloader.session import make_session
    from crawler.settings.schema import DownloaderSettings

    async with make_session(DownloaderSettings()) as client:
        yield client
