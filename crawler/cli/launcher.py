"""The `crawler` command's entry point: blocks Ctrl-C, then loads the command line.

SIGINT and SIGTERM stay blocked until the scheduler installs its handlers, so a Ctrl-C at
any moment of start-up (even while Python imports lxml) leads to an orderly exit 130.
"""

from __future__ import annotations

import signal

from crawler.errors import TERMINAL_SIGNALS


def main() -> int:
    """Block terminal signals, then run the command line."""
    signal.pthread_sigmask(signal.SIG_BLOCK, TERMINAL_SIGNALS)
    from crawler.cli.main import main as cli_main

    return cli_main()
