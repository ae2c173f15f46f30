"""The crawl's counts, kept by the scheduler, rebuilt from the journal on resume."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from crawler.journal.records import Closed, Done, Failed, Record, Skipped


@dataclass
class CrawlStats:
    """Counts for the summary and stats.json."""

    pages: int = 0
    items: int = 0
    failed: int = 0
    dead: int = 0
    retries: int = 0
    host_pauses: int = 0  # 429/503 answers that paused their host
    invalid_items: int = 0  # items that failed the spider's item_schema
    redirects: int = 0
    duplicates: int = 0
    stale_acks: int = 0
    worker_deaths: int = 0
    unfetched: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    filtered: Counter[str] = field(default_factory=Counter)
    robots: dict[str, int] = field(default_factory=dict)
    warnings: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.time)
    session_pages: int = 0

    def replay(self, record: Record) -> None:
        """Count a journal record of an earlier session of this run."""
        if isinstance(record, Done):
            if not record.part and 300 <= record.status < 400:
                self.redirects += 1
                return
            self.pages += 1
            self.items += record.items
            self.invalid_items += record.invalid
            self.statuses[record.status] += 1
        elif isinstance(record, Failed):
            self.count_failure(record)
        elif isinstance(record, Skipped):
            self.filtered[record.reason] += 1
        elif isinstance(record, Closed):
            self.unfetched = record.unfetched

    def count_failure(self, record: Failed) -> None:
        self.items += record.items  # committed by its errback
        self.invalid_items += record.invalid
        if record.dead:
            self.dead += 1
        else:
            self.failed += 1
        if record.status:
            self.statuses[record.status] += 1
        self.failures[_reason_class(record.reason)] += 1

    def as_dict(self, state: str, duration: float) -> dict[str, Any]:
        return {
            "state": state,
            "pages": self.pages,
            "items": self.items,
            "invalid_items": self.invalid_items,
            "failed": self.failed,
            "dead": self.dead,
            "retries": self.retries,
            "host_pauses": self.host_pauses,
            "redirects": self.redirects,
            "duplicates": self.duplicates,
            "filtered": dict(self.filtered),
            "robots": self.robots,
            "warnings": dict(self.warnings),
            "unfetched": self.unfetched,
            "failures": dict(self.failures),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "worker_deaths": self.worker_deaths,
            "stale_acks": self.stale_acks,
            "duration": round(duration, 3),
            "pages_per_second": round(self.session_pages / duration, 1) if duration else 0.0,
        }

    def summary(self, state: str, duration: float) -> str:
        """The lines printed at the end of a crawl."""
        rate = self.session_pages / duration if duration else 0.0
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items())) or "none"
        filtered = ", ".join(f"{k}: {v}" for k, v in sorted(self.filtered.items())) or "none"
        failures = ", ".join(f"{k}: {v}" for k, v in self.failures.most_common()) or "none"
        lines = [
            f"crawl {state}: {self.pages} pages, {self.items} items, {self.failed} failed, "
            f"{self.dead} dead in {duration:.1f}s ({rate:.0f} pages/s this session)",
            f"  status codes: {statuses}",
            f"  failures: {failures}",
            f"  retries: {self.retries}, host pauses: {self.host_pauses}, "
            f"redirects: {self.redirects}, "
            f"duplicates skipped: {self.duplicates}, worker deaths: {self.worker_deaths}",
            f"  filtered: {filtered}",
        ]
        if self.warnings:
            warnings = ", ".join(f"{k}: {v}" for k, v in sorted(self.warnings.items()))
            lines.append(f"  warnings: {warnings} (see crawl.log)")
        if self.robots:
            robots = self.robots
            lines.append(
                f"  robots.txt: {robots.get('fetched', 0)} fetched, "
                f"{robots.get('missing', 0)} missing, {robots.get('unreachable', 0)} unreachable; "
                f"{self.filtered.get('robots', 0)} URLs disallowed"
            )
        return "\n".join(lines)


def _reason_class(reason: str) -> str:
    """A short class for a failure reason ("HTTP 404", "timeout", "callback error", ...)."""
    head = reason.split(":", 1)[0]
    return head if len(head) <= 40 else head[:40]
