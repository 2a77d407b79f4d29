"""Version comparison, validation failures, alerts and root-cause hints, computed
from the store alone. `StoreClient` documents and validates the arguments."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from otel_mlbucket import _dimensions as dims
from otel_mlbucket._spec import BucketSpec
from otel_mlbucket.query._drift import microseconds
from otel_mlbucket.query._errors import InvalidQueryError
from otel_mlbucket.query._scope import Scope
from otel_mlbucket.query._summary import METRIC_COLUMNS, SummaryInputs

if TYPE_CHECKING:
    from otel_mlbucket.query._client import StoreClient

VERSION_COLUMNS = (
    "model_version",
    "count",
    "error_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "drift_abs_mean",
    "drift_rel_mean",
    "drift_rel_p95",
)
ALERT_METRICS = tuple(name for name in METRIC_COLUMNS if name != "count")
HINT_COLUMNS = (
    ("dimension", pa.string()),
    ("value", pa.string()),
    ("error_count", pa.int64()),
    ("count", pa.int64()),
    ("error_rate", pa.float64()),
    ("error_share", pa.float64()),
    ("baseline_share", pa.float64()),
    ("lift", pa.float64()),
)


@dataclass(frozen=True)
class AlertRule:
    """Alert when a bucket's metric exceeds a threshold.

    Attributes:
        metric: A summary column such as "error_rate" or "latency_p95_ms".
        threshold: The value that the metric must exceed.
        by: The bucket columns, such as ("model_name", "model_version").
        window: Window length such as "1h"; None for the whole range.
        min_count: Buckets with fewer rows never alert.
    """

    metric: str
    threshold: float
    by: tuple[str, ...] = ("model_name", "model_version")
    window: str | None = None
    min_count: int = 1


@dataclass(frozen=True)
class Alert:
    """One bucket (and window) whose metric exceeded a rule's threshold."""

    rule: AlertRule
    bucket: dict[str, Any]
    window_start: dt.datetime | None
    value: float
    count: int


def validation_failures(
    client: StoreClient, scope: Scope, by: tuple[str, ...]
) -> pa.Table:
    """Count failed validations per `by` bucket, most frequent first."""
    validation = next(
        (d for d in client.spec.dimensions if isinstance(d, dims.ValidationDimension)),
        None,
    )
    if validation is None:
        raise InvalidQueryError(
            "spec", "validation", "the spec has no validation dimension."
        )

    failed = scope.narrowed({validation.name: ("failed",)})
    table = client.scan(failed, list(by) or [validation.name], dimensions=by)
    if by:
        grouped = table.group_by(list(by)).aggregate([([], "count_all")])
    else:
        grouped = pa.table({"count_all": [table.num_rows]})

    share = pc.divide(grouped["count_all"].cast(pa.float64()), table.num_rows or 1)
    result = pa.table(
        {
            **{name: grouped[name] for name in by},
            "count": grouped["count_all"],
            "share": share,
        }
    )
    order = [("count", "descending"), *[(name, "ascending") for name in by]]
    return result.sort_by(order)


def check_rule(rule: AlertRule) -> None:
    """Raise InvalidQueryError unless the rule names a metric and a finite threshold."""
    if rule.metric not in ALERT_METRICS:
        raise InvalidQueryError(
            "metric", rule.metric, "alerts compare a summary metric.", ALERT_METRICS
        )

    threshold = rule.threshold
    number = isinstance(threshold, (int, float)) and not isinstance(threshold, bool)
    if not number or not math.isfinite(threshold):
        raise InvalidQueryError("threshold", threshold, "it must be a finite number.")


def alerts_of(rule: AlertRule, summary: pa.Table) -> list[Alert]:
    """Return the rows of a summary whose metric exceeds the rule's threshold."""
    exceeds = pc.fill_null(pc.greater(summary[rule.metric], rule.threshold), False)
    enough = pc.greater_equal(summary["count"], rule.min_count)
    rows = summary.filter(pc.and_(exceeds, enough))
    rows = rows.sort_by([(rule.metric, "descending")])
    if "window_start" in rows.schema.names:
        index = rows.schema.get_field_index("window_start")
        starts = microseconds(rows["window_start"])
        rows = rows.set_column(index, "window_start", starts)

    return [
        Alert(
            rule,
            {name: row[name] for name in rule.by},
            row.get("window_start"),
            row[rule.metric],
            row["count"],
        )
        for row in rows.to_pylist()
    ]


def hint_dimensions(
    spec: BucketSpec, inputs: SummaryInputs, bucket: Mapping[str, Any]
) -> tuple[str, ...]:
    """Return the default dimensions of root-cause hints.

    Left out: time and severity outputs (errors are logged at error severity),
    error_category and every output derived from it, and the bucket's own columns.
    """
    derived = {inputs.error_output}
    for dimension in spec.dimensions:
        if derived.intersection(dimension.depends_on):
            derived.update(dimension.outputs)

    skipped = derived | set(bucket)
    for dimension in spec.dimensions:
        if isinstance(dimension, (dims.TimeDimension, dims.SeverityDimension)):
            skipped.update(dimension.outputs)

    return tuple(output for output in spec.outputs() if output not in skipped)


def root_cause_hints(
    client: StoreClient,
    scope: Scope,
    names: Sequence[str],
    *,
    min_errors: int,
    top: int,
) -> pa.Table:
    """Return the lift table of dimension values among the scope's error rows."""
    inputs = client._inputs
    if inputs.error_output is None:
        raise InvalidQueryError(
            "spec", "error_category", "the spec has no error_category dimension."
        )

    columns = list(dict.fromkeys([*names, inputs.error_output]))
    table = client.scan(scope, columns, dimensions=names)
    category = table[inputs.error_output]
    is_error = pc.fill_null(pc.not_equal(category, inputs.no_error_bucket), False)
    is_error = is_error.cast(pa.int64())
    total_errors = pc.sum(is_error).as_py() or 0
    if total_errors == 0:
        return _hints_table([])

    rows = []
    for name in names:
        rows.extend(_lifts(name, table[name], is_error, total_errors, min_errors))

    rows.sort(key=lambda row: (-row[7], -row[2], row[0], str(row[1])))
    return _hints_table(rows[:top])


def _lifts(
    name: str,
    values: pa.ChunkedArray,
    is_error: pa.ChunkedArray,
    total_errors: int,
    min_errors: int,
) -> list[tuple[Any, ...]]:
    work = pa.table({"value": values, "_error": is_error})
    grouped = work.group_by(["value"]).aggregate([([], "count_all"), ("_error", "sum")])
    total_rows = len(values)

    rows = []
    for value, count, errors in zip(
        grouped["value"].to_pylist(),
        grouped["count_all"].to_pylist(),
        grouped["_error_sum"].to_pylist(),
        strict=True,
    ):
        if errors < min_errors:
            continue
        error_share = errors / total_errors
        baseline_share = count / total_rows
        lift = error_share / baseline_share
        rows.append(
            (
                name,
                value,
                errors,
                count,
                errors / count,
                error_share,
                baseline_share,
                lift,
            )
        )

    return rows


def _hints_table(rows: list[tuple[Any, ...]]) -> pa.Table:
    arrays = [
        pa.array([row[index] for row in rows], data_type)
        for index, (_, data_type) in enumerate(HINT_COLUMNS)
    ]
    return pa.table(arrays, names=[name for name, _ in HINT_COLUMNS])
