"""The `otel-mlbucket` command line.

Each subcommand lives in `otel_mlbucket.commands.<module>` with two functions:
`add_parser(subparsers)`, which registers it, and `run(args) -> int`. User mistakes
print one `Error:` line and exit 2; runtime failures print one line and exit 1.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMAND_MODULES = ("summary", "demo", "collector_config", "ingest")


class UsageError(Exception):
    """A user mistake in the command's arguments; printed as `Error:` with exit 2."""


def build_parser() -> argparse.ArgumentParser:
    """Return the parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="otel-mlbucket",
        description="Bucketed ML logs: the demo, bucketed summaries, collector configs.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"otel_mlbucket.commands.{name}")
        command = module.add_parser(subparsers)
        command.set_defaults(run=module.run)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except UsageError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except (OSError, RuntimeError, ValueError, LookupError) as exc:
        print(f"Failed: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        if not _is_query_error(exc):
            raise
        print(f"Failed: {exc}", file=sys.stderr)
        return 1


def _is_query_error(exc: Exception) -> bool:
    query = sys.modules.get("otel_mlbucket.query")
    return query is not None and isinstance(exc, query.QueryError)


if __name__ == "__main__":
    sys.exit(main())
