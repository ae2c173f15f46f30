"""The parser process: its page queue, the spider's callbacks, item collection, part files
and acknowledgements.
"""
