"""URLs as the crawl counts them: canonical forms, fingerprints, scope, host keys, status sets.

Pure functions and small values, imported by every process role.
"""
