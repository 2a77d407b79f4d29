"""The question methods of `StoreClient`, answered from the store alone.

Each function becomes a `StoreClient` method and reads through the client's
`summary` and `scan`, so `last_query` describes the last scan it made.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from otel_mlbucket.query import _arguments, _drift, _insights
from otel_mlbucket.query._drift import DriftOnset
from otel_mlbucket.query._insights import Alert, AlertRule

if TYPE_CHECKING:
    from otel_mlbucket.query._client import StoreClient


def drift_onset(
    client: StoreClient,
    window: str = "1d",
    *,
    threshold: float = 0.1,
    rel_threshold: float | None = None,
    baseline_windows: int = 2,
    drifted_buckets: Sequence[str] = ("moderate", "severe"),
    since: str | dt.datetime | None = None,
    until: str | dt.datetime | None = None,
    filters: Mapping[str, str | Sequence[str]] | None = None,
    now: dt.datetime | None = None,
) -> DriftOnset:
    """Find the first window whose drift rises above a baseline.

    The baseline pools the first `baseline_windows` windows that have measured
    rows (rows whose drift bucket is neither the missing nor the invalid
    bucket). A later window is the onset when its drifted share (rows in
    `drifted_buckets` over measured rows) exceeds the baseline share by at least
    `threshold`, or its mean relative drift exceeds the baseline mean by at
    least `rel_threshold`.

    Args:
        window: Window length such as "1d".
        threshold: Increase of the drifted share, from 0 to 1.
        rel_threshold: Increase of the mean relative drift; ignored when None.
        baseline_windows: Windows that form the baseline.
        drifted_buckets: Drift buckets that count as drifted.
        since: Start of the range (inclusive); see `read`.
        until: End of the range (exclusive); see `read`.
        filters: Column name to one value or a sequence of accepted values.
        now: The time that relative bounds count back from.

    Raises:
        InvalidQueryError: An argument is invalid, or the spec has no drift
            dimension.
    """
    return _drift.drift_onset(
        client,
        client.scope(since=since, until=until, filters=filters, now=now),
        window,
        threshold=threshold,
        rel_threshold=rel_threshold,
        baseline_windows=baseline_windows,
        drifted_buckets=tuple(drifted_buckets),
    )


def compare_versions(
    client: StoreClient,
    *,
    since: str | dt.datetime | None = None,
    until: str | dt.datetime | None = None,
    filters: Mapping[str, str | Sequence[str]] | None = None,
    now: dt.datetime | None = None,
) -> pa.Table:
    """Return count, error rate, latency quantiles and drift per model_version.

    Columns: model_version, count, error_rate, latency_p50_ms, latency_p95_ms,
    latency_p99_ms, drift_abs_mean, drift_rel_mean and drift_rel_p95.
    """
    table = client.summary(
        by=("model_version",),
        window=None,
        since=since,
        until=until,
        filters=filters,
        now=now,
    )
    return table.select(list(_insights.VERSION_COLUMNS))


def validation_failures(
    client: StoreClient,
    by: Sequence[str] = ("validation_reason",),
    *,
    since: str | dt.datetime | None = None,
    until: str | dt.datetime | None = None,
    filters: Mapping[str, str | Sequence[str]] | None = None,
    now: dt.datetime | None = None,
) -> pa.Table:
    """Count failed validations per bucket, most frequent first.

    Returns:
        The `by` columns, `count` and `share` (of all failed validations in the
        range).

    Raises:
        InvalidQueryError: The spec has no validation dimension, or `by` is
            invalid.
    """
    scope = client.scope(since=since, until=until, filters=filters, now=now)
    return _insights.validation_failures(client, scope, _arguments.names("by", by))


def alerts(
    client: StoreClient,
    rules: Sequence[AlertRule],
    *,
    since: str | dt.datetime | None = None,
    until: str | dt.datetime | None = None,
    filters: Mapping[str, str | Sequence[str]] | None = None,
    now: dt.datetime | None = None,
) -> list[Alert]:
    """Return every bucket and window whose metric exceeds its rule's threshold.

    Alerts are ordered by rule, then by value, highest first.

    Raises:
        InvalidQueryError: A rule names an unknown metric or has a non-finite
            threshold.
    """
    found: list[Alert] = []
    for rule in rules:
        _insights.check_rule(rule)
        table = client.summary(
            by=rule.by,
            window=rule.window,
            since=since,
            until=until,
            filters=filters,
            now=now,
        )
        found.extend(_insights.alerts_of(rule, table))

    return found


def root_cause_hints(
    client: StoreClient,
    bucket: Mapping[str, str | Sequence[str]] | None = None,
    *,
    dimensions: Sequence[str] | None = None,
    min_errors: int = 1,
    top: int = 10,
    since: str | dt.datetime | None = None,
    until: str | dt.datetime | None = None,
    filters: Mapping[str, str | Sequence[str]] | None = None,
    now: dt.datetime | None = None,
) -> pa.Table:
    """Rank the dimension values that are over-represented among a bucket's errors.

    Within the rows of `bucket` (for example {"model_version": "v2"}), for each
    value of each dimension: lift = (its share of the error rows) / (its share
    of all rows), which equals its error rate over the bucket's error rate. A
    lift above 1 means errors concentrate on that value.

    Args:
        bucket: Column to accepted values that select the bucket; all rows when
            None.
        dimensions: Columns to rank. By default, every bucket output except the
            time and severity outputs, error_category, the outputs derived from
            it (such as team) and the columns of `bucket`.
        min_errors: Values with fewer error rows are left out.
        top: Maximum rows returned.
        since: Start of the range (inclusive); see `read`.
        until: End of the range (exclusive); see `read`.
        filters: Column name to one value or a sequence of accepted values.
        now: The time that relative bounds count back from.

    Returns:
        Columns dimension, value, error_count, count, error_rate, error_share,
        baseline_share and lift, highest lift first.

    Raises:
        InvalidQueryError: A dimension is invalid, or the spec has no
            error_category dimension.
    """
    selected = _arguments.filters(bucket)
    scope = client.scope(since=since, until=until, filters=filters, now=now)
    names = (
        _arguments.names("dimensions", dimensions)
        if dimensions is not None
        else _insights.hint_dimensions(client.spec, client._inputs, selected)
    )
    return _insights.root_cause_hints(
        client, scope.narrowed(selected), names, min_errors=min_errors, top=top
    )
