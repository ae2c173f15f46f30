"""The `crawler` command: its subcommands, the demo, the benchmark, the shell and `parse`."""
