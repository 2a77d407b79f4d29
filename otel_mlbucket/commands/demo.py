"""`otel-mlbucket demo`: a simulated week of model traffic into a fresh store."""

from __future__ import annotations

import argparse
import sys
from typing import Any

# Duplicates of otel_mlbucket.demo's defaults, so that building the parser does not
# import scikit-learn; tests/test_demo.py checks that they agree.
DEFAULT_STORE = "mlbucket-demo-store"
DEFAULT_RECORDS = 300_000
DEFAULT_DRIFT_DAY = 4
DEFAULT_SLOW_VERSION = "v2"
DEFAULT_SEED = 7
VERSIONS = ("v1", "v2")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the demo subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="simulate a week of ML model traffic into a store and show the findings",
        description=(
            "Train two versions of a scikit-learn model on the diabetes dataset, "
            "serve a simulated week of requests (v2 rolled out mid-week, input drift, "
            "invalid requests, a latency regression), log every outcome through "
            "OpenTelemetry with bucketing into a fresh embedded store, then query the "
            "store for the drift onset, the worst and slowest versions and the "
            "validation failures. Exports over OTLP too when "
            "OTEL_EXPORTER_OTLP_ENDPOINT is set."
        ),
    )
    parser.add_argument(
        "--store",
        default=DEFAULT_STORE,
        metavar="DIR",
        help="store directory, replaced if a previous demo created it "
        f"(default: ./{DEFAULT_STORE})",
    )
    parser.add_argument(
        "--records",
        type=int,
        default=DEFAULT_RECORDS,
        metavar="N",
        help=f"requests to simulate, one log record each (default: {DEFAULT_RECORDS:,})",
    )
    parser.add_argument(
        "--drift-day",
        type=int,
        default=DEFAULT_DRIFT_DAY,
        metavar="D",
        help=f"day number, 2 to 7, on which input drift begins (default: {DEFAULT_DRIFT_DAY})",
    )
    parser.add_argument(
        "--slow-version",
        choices=VERSIONS,
        default=DEFAULT_SLOW_VERSION,
        help=f"version with the latency regression (default: {DEFAULT_SLOW_VERSION})",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        metavar="S",
        help=f"seed of every random draw (default: {DEFAULT_SEED})",
    )
    parser.add_argument(
        "--otlp",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also export over OTLP (default: when OTEL_EXPORTER_OTLP_ENDPOINT or "
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT is set)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the demo and return 1 when the store lost records, otherwise 0."""
    from otel_mlbucket.cli import UsageError

    demo = _import_demo()
    try:
        config = demo.SimulationConfig(
            records=args.records,
            drift_day=args.drift_day,
            slow_version=args.slow_version,
            seed=args.seed,
        )
    except ValueError as exc:
        raise UsageError(_option_message(str(exc))) from exc

    try:
        result = demo.run_demo(config, args.store, otlp=args.otlp)
    except demo.StoreDirectoryError as exc:
        raise UsageError(str(exc)) from exc

    if not result.complete:
        print(
            f"Failed: {result.emitted.total:,} records emitted but {result.stored:,} "
            f"stored ({result.stats['queue_dropped']:,} dropped by a queue).",
            file=sys.stderr,
        )
        return 1

    return 0


def _import_demo() -> Any:
    try:
        import otel_mlbucket.demo as demo
    except ImportError as exc:
        raise RuntimeError(
            f"the demo needs scikit-learn and numpy ({exc}); "
            "install them with: pip install 'otel-mlbucket[demo]'"
        ) from exc

    return demo


def _option_message(message: str) -> str:
    # SimulationConfig names its fields; the command line user knows the options.
    for field, option in (
        ("records", "--records"),
        ("drift_day", "--drift-day"),
        ("slow_version", "--slow-version"),
    ):
        if message.startswith(f"{field} "):
            return option + message[len(field) :]

    return message
