"""The settings: one schema (each key once, with its type, default and bounds) and its loading."""
