"""What spider authors import: Spider, Request, Response, hooks, forms, sitemaps, Failure.

Nothing here knows about processes or the wire: a spider is plain Python, tested as such.
"""
