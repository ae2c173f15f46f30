"""`python -m crawler ...` runs the command line."""

from crawler.launcher import main

raise SystemExit(main())
