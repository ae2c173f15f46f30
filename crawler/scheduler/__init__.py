"""The main process: the crawl's life cycle and its end, the outcomes of leases, the worker pool,
cookies, robots.txt rules and politeness.

It never imports an HTTP client or an HTML parser: those live in the worker roles.
"""
