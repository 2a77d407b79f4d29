"""Drift onset: the first window whose drift rises above a baseline."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from otel_mlbucket import _dimensions as dims
from otel_mlbucket.query._errors import InvalidQueryError
from otel_mlbucket.query._scope import Scope
from otel_mlbucket.query._summary import window_starts
from otel_mlbucket.query._time import Window, parse_window

if TYPE_CHECKING:
    from otel_mlbucket.query._client import StoreClient


@dataclass(frozen=True)
class DriftOnset:
    """The first window whose drift rose above the baseline, with the numbers.

    Attributes:
        window_start: Start of the first window past the threshold, or None.
        drifted_share: That window's share of measured rows in a drifted bucket.
        drift_rel_mean: That window's mean relative drift.
        baseline_drifted_share: The pooled share over the baseline windows.
        baseline_drift_rel_mean: The pooled mean relative drift over them.
        threshold: The increase of the drifted share that counts as onset.
        rel_threshold: The increase of mean relative drift that counts, or None.
        windows: One row per window: window_start, count, measured, drifted,
            drifted_share, drift_rel_mean.
    """

    window_start: dt.datetime | None
    drifted_share: float | None
    drift_rel_mean: float | None
    baseline_drifted_share: float | None
    baseline_drift_rel_mean: float | None
    threshold: float
    rel_threshold: float | None
    windows: pa.Table = field(repr=False)

    @property
    def detected(self) -> bool:
        """True when some window crossed a threshold."""
        return self.window_start is not None


def drift_onset(
    client: StoreClient,
    scope: Scope,
    window: str,
    *,
    threshold: float,
    rel_threshold: float | None,
    baseline_windows: int,
    drifted_buckets: tuple[str, ...],
) -> DriftOnset:
    """Find the first window whose drift rises above the baseline windows'."""
    parsed = parse_window(window)
    drift = _drift_dimension(client)
    _check_number("threshold", threshold)
    if rel_threshold is not None:
        _check_number("rel_threshold", rel_threshold)
    valid_count = isinstance(baseline_windows, int) and not isinstance(
        baseline_windows, bool
    )
    if not valid_count or baseline_windows < 1:
        raise InvalidQueryError(
            "baseline_windows", baseline_windows, "it must be an integer of at least 1."
        )

    table = client.scan(scope, ["time", drift.name, "drift_rel"])
    timezone = client._inputs.timezone
    windows = _drift_windows(table, drift, parsed, timezone, drifted_buckets)
    measured = windows.filter(pc.greater(windows["measured"], 0))
    base_share, base_rel = _pooled(measured.slice(0, baseline_windows))

    for row in measured.slice(baseline_windows).to_pylist():
        if _crosses(row, base_share, base_rel, threshold, rel_threshold):
            return DriftOnset(
                row["window_start"],
                row["drifted_share"],
                row["drift_rel_mean"],
                base_share,
                base_rel,
                threshold,
                rel_threshold,
                windows.drop_columns(["_drift_rel_sum", "_drift_rel_count"]),
            )

    return DriftOnset(
        None,
        None,
        None,
        base_share,
        base_rel,
        threshold,
        rel_threshold,
        windows.drop_columns(["_drift_rel_sum", "_drift_rel_count"]),
    )


def _crosses(
    row: dict[str, Any],
    base_share: float | None,
    base_rel: float | None,
    threshold: float,
    rel_threshold: float | None,
) -> bool:
    if base_share is not None and row["drifted_share"] - base_share >= threshold:
        return True
    if rel_threshold is None or base_rel is None or row["drift_rel_mean"] is None:
        return False

    return row["drift_rel_mean"] - base_rel >= rel_threshold


def _check_number(parameter: str, value: Any) -> None:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not math.isfinite(value):
        raise InvalidQueryError(parameter, value, "it must be a finite number.")


def _drift_dimension(client: StoreClient) -> dims.DriftDimension:
    for dimension in client.spec.dimensions:
        if isinstance(dimension, dims.DriftDimension):
            return dimension

    raise InvalidQueryError(
        "spec", "drift", "the spec has no drift dimension, so drift cannot be found."
    )


def _drift_windows(
    table: pa.Table,
    drift: dims.DriftDimension,
    window: Window,
    timezone: str,
    drifted_buckets: tuple[str, ...],
) -> pa.Table:
    bucket = table[drift.name]
    unmeasured = pa.array([drift.missing_bucket, drift.invalid_bucket], pa.string())
    measured = pc.invert(pc.fill_null(pc.is_in(bucket, value_set=unmeasured), True))
    drifted = pc.fill_null(
        pc.is_in(bucket, value_set=pa.array(drifted_buckets, pa.string())), False
    )
    work = pa.table(
        {
            "window_start": microseconds(
                window_starts(table["time"], window, timezone)
            ),
            "measured": measured.cast(pa.int64()),
            "drifted": drifted.cast(pa.int64()),
            "drift_rel": table["drift_rel"],
        }
    )
    grouped = work.group_by(["window_start"]).aggregate(
        [
            ([], "count_all"),
            ("measured", "sum"),
            ("drifted", "sum"),
            ("drift_rel", "sum"),
            ("drift_rel", "count"),
        ]
    )
    grouped = grouped.sort_by("window_start")
    share = pc.divide(
        grouped["drifted_sum"].cast(pa.float64()), grouped["measured_sum"]
    )
    return pa.table(
        {
            "window_start": grouped["window_start"],
            "count": grouped["count_all"],
            "measured": grouped["measured_sum"],
            "drifted": grouped["drifted_sum"],
            "drifted_share": _nan_to_null(share),
            "drift_rel_mean": _nan_to_null(
                pc.divide(
                    grouped["drift_rel_sum"],
                    grouped["drift_rel_count"].cast(pa.float64()),
                )
            ),
            "_drift_rel_sum": grouped["drift_rel_sum"],
            "_drift_rel_count": grouped["drift_rel_count"],
        }
    )


def _pooled(baseline: pa.Table) -> tuple[float | None, float | None]:
    if baseline.num_rows == 0:
        return None, None

    measured = pc.sum(baseline["measured"]).as_py()
    drifted = pc.sum(baseline["drifted"]).as_py()
    rel_count = pc.sum(baseline["_drift_rel_count"]).as_py()
    rel_sum = pc.sum(baseline["_drift_rel_sum"]).as_py()
    share = drifted / measured if measured else None
    rel = rel_sum / rel_count if rel_count else None
    return share, rel


def microseconds(times: pa.Array) -> pa.Array:
    """Cast window starts to microseconds, which whole-minute windows keep exactly,
    so that `to_pylist` returns datetimes without pandas."""
    unit = pa.timestamp("us", tz=times.type.tz)
    return times.cast(unit)


def _nan_to_null(values: pa.Array) -> pa.Array:
    nan = pc.fill_null(pc.is_nan(values), False)
    return pc.if_else(nan, pa.scalar(None, pa.float64()), values)
