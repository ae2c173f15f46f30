"""The HTTP status sets that every role agrees on."""

from __future__ import annotations

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
"""Statuses whose Location the scheduler turns into a new request."""

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 522, 524})
"""Statuses retried up to `downloader.retries` times (with Retry-After honoured)."""

SLOW_DOWN_STATUSES = frozenset({429, 503})
"""Statuses that pause their host (see `crawler.scheduler.backoff`)."""
