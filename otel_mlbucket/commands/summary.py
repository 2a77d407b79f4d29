"""`otel-mlbucket summary`: bucketed summaries of the embedded store."""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

FORMATS = ("table", "json", "csv", "parquet")
_NONE = "none"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the summary subcommand."""
    parser = subparsers.add_parser(
        "summary",
        help="print counts, error rates, latency and drift per bucket and window",
        description=(
            "Summarize the embedded Parquet store per bucket and time window: count, "
            "error count and rate, latency p50/p95/p99 (t-digest estimates), drift "
            "and validation failures."
        ),
    )
    parser.add_argument(
        "--store", required=True, metavar="DIR", help="store directory to read"
    )
    parser.add_argument(
        "--spec",
        metavar="FILE",
        help="bucket spec YAML the store was written with (default: the shipped spec)",
    )

    _add_query_arguments(parser)
    _add_output_arguments(parser)
    return parser


def _add_query_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--by",
        default="model_name,model_version",
        metavar="DIMS",
        help="comma-separated bucket columns to group by (default: %(default)s)",
    )
    parser.add_argument(
        "--window",
        default="1h",
        help="window length such as 15m, 1h, 1d or 1w, or 'none' for one row per "
        "bucket (default: %(default)s)",
    )
    parser.add_argument(
        "--since",
        default="24h",
        help="start of the range: a duration before now (30m, 24h, 7d), an ISO 8601 "
        "time, or 'none' for no start (default: %(default)s)",
    )
    parser.add_argument(
        "--until", help="end of the range (exclusive), in the forms of --since"
    )
    parser.add_argument(
        "--now",
        help="ISO 8601 time that relative --since and --until count back from "
        "(default: the current time)",
    )
    parser.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="DIM=VALUE",
        help="keep rows whose DIM is VALUE; repeat for more values or dimensions",
    )


def _add_output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="output format (default: %(default)s)",
    )
    parser.add_argument(
        "--output",
        metavar="FILE",
        help="write to FILE instead of standard output (required for parquet on a "
        "terminal)",
    )


def run(args: argparse.Namespace) -> int:
    """Print the summary of the store in the requested format."""
    from otel_mlbucket.cli import UsageError
    from otel_mlbucket.query import InvalidQueryError, StoreClient, StoreNotFoundError

    by = _dimensions(args.by)
    filters = _filters(args.filter)
    window = None if args.window.lower() == _NONE else args.window
    since = None if args.since is None or args.since.lower() == _NONE else args.since
    now = _now(args.now)
    _check_destination(args)

    try:
        client = StoreClient(args.store, spec=_spec(args.spec))
        _warn_unknown_buckets(client.spec, filters)
        table = client.summary(
            by=by,
            window=window,
            since=since,
            until=args.until,
            filters=filters,
            now=now,
        )
    except InvalidQueryError as exc:
        raise UsageError(_with_option(exc)) from exc
    except StoreNotFoundError as exc:
        raise UsageError(str(exc)) from exc

    _write(table, args.format, args.output)
    return 0


def _dimensions(text: str) -> list[str]:
    from otel_mlbucket.cli import UsageError

    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise UsageError(
            f"Invalid --by {text!r}: name at least one dimension, such as "
            "--by model_name,model_version."
        )

    return names


def _filters(items: Sequence[str]) -> dict[str, list[str]]:
    from otel_mlbucket.cli import UsageError

    filters: dict[str, list[str]] = {}
    for item in items:
        name, separator, value = item.partition("=")
        if not separator or not name.strip():
            raise UsageError(
                f"Invalid --filter {item!r}: use DIM=VALUE, such as "
                "--filter model_version=v2."
            )
        filters.setdefault(name.strip(), []).append(value)

    return filters


def _warn_unknown_buckets(spec: Any, filters: dict[str, list[str]]) -> None:
    """Print a note for filter values that a closed bucket set cannot contain."""
    closed = spec.bucket_values()
    for name, values in filters.items():
        known = closed.get(name)
        unknown = [
            value for value in values if known is not None and value not in known
        ]
        if unknown:
            print(
                f"Note: {', '.join(map(repr, unknown))} is not a bucket of {name}, so no "
                f"row can match it. Buckets of {name}: {', '.join(known)}.",
                file=sys.stderr,
            )


def _now(text: str | None) -> dt.datetime | None:
    from otel_mlbucket.cli import UsageError

    if text is None:
        return None

    normalized = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        moment = dt.datetime.fromisoformat(normalized)
    except ValueError:
        raise UsageError(
            f"Invalid --now {text!r}: use an ISO 8601 time such as "
            "2024-05-01T12:00:00Z."
        ) from None

    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _spec(path: str | None) -> Any:
    from otel_mlbucket._spec import BucketSpec, SpecError
    from otel_mlbucket.cli import UsageError

    if path is None:
        return None
    try:
        return BucketSpec.from_file(path)
    except (SpecError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from exc


def _check_destination(args: argparse.Namespace) -> None:
    from otel_mlbucket.cli import UsageError

    if args.format == "parquet" and args.output is None and sys.stdout.isatty():
        raise UsageError(
            "Invalid --format parquet without --output: Parquet is binary; pass "
            "--output FILE or redirect standard output to a file."
        )


def _write(table: Any, output_format: str, output: str | None) -> None:
    if output_format == "parquet":
        _write_parquet(table, output)
        return

    if output_format == "json":
        text = json.dumps(_json_rows(table), ensure_ascii=False, indent=2) + "\n"
    elif output_format == "csv":
        text = _csv(table)
    else:
        text = format_table(table)

    if output is None:
        sys.stdout.write(text)
        return
    with open(output, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def _write_parquet(table: Any, output: str | None) -> None:
    import pyarrow.parquet as pq

    if output is not None:
        pq.write_table(table, output)
        return

    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    sys.stdout.flush()
    sys.stdout.buffer.write(buffer.getvalue())
    sys.stdout.buffer.flush()


def _python_rows(table: Any) -> list[dict[str, Any]]:
    import pyarrow as pa

    # Window starts are whole minutes, so microseconds hold them exactly and
    # to_pylist returns datetimes without pandas.
    for index, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            unit = pa.timestamp("us", tz=field.type.tz)
            table = table.set_column(index, field.name, table[field.name].cast(unit))

    return table.to_pylist()


def _json_rows(table: Any) -> list[dict[str, Any]]:
    return [
        {name: _json_value(value) for name, value in row.items()}
        for row in _python_rows(table)
    ]


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None

    return value


def _csv(table: Any) -> str:
    import csv

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.schema.names)
    for row in _python_rows(table):
        writer.writerow([_csv_text(value) for value in row.values()])

    return buffer.getvalue()


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat()

    return str(value)


def format_table(table: Any) -> str:
    """Return the table as aligned text columns: text left, numbers right."""
    names = table.schema.names
    rows = [[_text(value) for value in row.values()] for row in _python_rows(table)]
    numeric = [_is_numeric(field.type) for field in table.schema]
    widths = [
        max([len(name)] + [len(row[index]) for row in rows])
        for index, name in enumerate(names)
    ]

    lines = [
        _line(names, widths, numeric),
        _line(["-" * w for w in widths], widths, numeric),
    ]
    lines.extend(_line(row, widths, numeric) for row in rows)
    if not rows:
        lines.append("(no rows)")
    return "\n".join(lines) + "\n"


def _line(cells: Sequence[str], widths: Sequence[int], numeric: Sequence[bool]) -> str:
    padded = [
        cell.rjust(width) if right else cell.ljust(width)
        for cell, width, right in zip(cells, widths, numeric, strict=True)
    ]
    return "  ".join(padded).rstrip()


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.6g}"

    return str(value)


def _is_numeric(data_type: Any) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(data_type) or pa.types.is_floating(data_type)


_OPTION_OF = {"filters": "--filter"}


def _with_option(exc: Exception) -> str:
    """Return the error's message with the query parameter named as its CLI option."""
    message = str(exc)
    parameter = getattr(exc, "parameter", None)
    prefix = f"Invalid {parameter} "
    if parameter and message.startswith(prefix):
        name = str(parameter).split(".")[0].split("[")[0]
        option = _OPTION_OF.get(name, "--" + name.replace("_", "-"))
        return f"Invalid {option} value {message[len(prefix) :]}"

    return message
