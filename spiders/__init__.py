"""Your spiders: every `Spider` subclass with a `name` in this folder is found by `crawler list`."""
