"""The frontier: pending requests, the seen set and the leases, behind one interface.

`LocalFrontier` is the embedded backend (in the scheduler's memory, spilling to disk).
"""
