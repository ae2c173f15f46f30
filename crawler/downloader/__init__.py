"""The downloader process: fetching, body decoding, the HTTP cache, the private-address
guard and robots.txt fetches.  The only importer of aiohttp's client.
"""
