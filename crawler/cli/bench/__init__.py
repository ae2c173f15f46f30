"""`crawler bench`: a generated site on loopback, crawled by this framework and by others."""
