"""Subcommands of the `otel-mlbucket` command line, one module each."""
