"""The downloader role; the only importer of aiohttp's client.

- `process`: the process's main: its task group, the scheduler's messages
- `pages`: a crawl's page fetch (errback delivery, the cache path, the live fetch)
- `prepare`: what is sent (request hooks, Cookie header, proxy)
- `outcome`: redirect / retry / handled status / failure, told to the scheduler
- `handoff`: pages to parsers' sockets, a loop turn's pages in one write
- `fetch`: one HTTP exchange, shared by pages, robots.txt and `crawler parse`
- `failures`: the one mapping from the client's exceptions to our failures
- `robots_fetch`: robots.txt files (and `LocalRobotsFetcher`, outside a crawl)
- `standalone`: one page outside a crawl, redirects followed (`crawler parse`, `shell`)
- `session`, `netguard`, `body`, `cache`: sessions, the private-address guard, bodies
  within limits, the HTTP cache
"""
