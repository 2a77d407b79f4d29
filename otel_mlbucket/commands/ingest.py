"""`otel-mlbucket ingest`: collector file exporter output into the Parquet store."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ingest subcommand."""
    parser = subparsers.add_parser(
        "ingest",
        help="read the collector's file exporter output into the embedded store",
        description=(
            "Read OTLP files written by the collector's file exporter (JSON lines, "
            "or length-prefixed JSON or protobuf, plain or zstd) into the embedded "
            "Parquet store, computing every bucket from the spec."
        ),
    )
    parser.add_argument(
        "inputs", nargs="+", metavar="PATH", help="files or directories to read"
    )
    parser.add_argument(
        "--store",
        required=True,
        metavar="DIR",
        help="store directory (created if missing)",
    )
    parser.add_argument(
        "--spec", metavar="FILE", help="bucket spec YAML (default: the shipped spec)"
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when any chunk was skipped (default: report skips, exit 0)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Ingest the inputs and print what was read and skipped."""
    from otel_mlbucket._spec import BucketSpec, SpecError
    from otel_mlbucket.cli import UsageError
    from otel_mlbucket.ingest import ingest
    from otel_mlbucket.store import ParquetLogExporter

    try:
        spec = BucketSpec.from_file(args.spec) if args.spec else BucketSpec.default()
    except (SpecError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from exc

    store = ParquetLogExporter(args.store, spec=spec)
    try:
        report = ingest(args.inputs, store)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from exc
    finally:
        store.shutdown()

    print(
        f"Ingested {report.records} records from {report.requests} requests in "
        f"{report.files} files into {args.store}"
    )
    for chunk in report.skipped:
        print(f"Skipped {chunk}", file=sys.stderr)
    if report.skipped:
        print(f"{len(report.skipped)} chunks skipped.", file=sys.stderr)

    return 1 if report.skipped and args.strict else 0
