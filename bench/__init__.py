"""Benchmarks of otel-mlbucket. Run all with `python -m bench` (or `make bench`)."""
