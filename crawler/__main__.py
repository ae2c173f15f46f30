"""`python -m crawler ...` runs the command line."""

from crawler.cli.launcher import main

raise SystemExit(main())
