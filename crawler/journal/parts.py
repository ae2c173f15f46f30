"""The part files' line format, shared by the parsers that write them and the export.

A part file holds one JSON item per line.  An item that failed the spider's item_schema is
kept on a line that starts with `INVALID_MARK`, so the export sends it to
invalid_items.jsonl instead of the items.
"""

from __future__ import annotations

INVALID_MARK = b"\x00"
