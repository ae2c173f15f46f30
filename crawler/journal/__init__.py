"""The record of a run: the journal, its replay on resume, statistics, the run folder, export."""
