"""A query's time range and filters, as partition predicates and a row filter."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.dataset as ds

from otel_mlbucket import _dimensions as dims
from otel_mlbucket.query._time import to_nanos
from otel_mlbucket.store import escape_partition_value, unescape_partition_value
from otel_mlbucket.store._layout import PartitionPredicate
from otel_mlbucket.store._schema import TIMESTAMP


@dataclass(frozen=True)
class Scope:
    """Rows with since <= time < until that match every filter.

    Attributes:
        since: Inclusive start (aware UTC), or None for unbounded.
        until: Exclusive end (aware UTC), or None for unbounded.
        filters: Column name to the accepted values.
    """

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def narrowed(self, extra: Mapping[str, tuple[str, ...]]) -> Scope:
        """Return this scope with more filters; a repeated column keeps the
        values that both accept."""
        merged = dict(self.filters)
        for name, values in extra.items():
            if name in merged:
                values = tuple(v for v in merged[name] if v in values)
            merged[name] = values

        return Scope(self.since, self.until, merged)


def scope_filter(
    scope: Scope, implied: frozenset[str] = frozenset()
) -> ds.Expression | None:
    """Return the row filter of a scope, or None when it accepts every row.

    Filters on the columns in `implied` are left out. The caller passes the
    partition keys whose directories were pruned by the same filter, because the
    writer puts each row in the directory of its own value.
    """
    conditions = []
    if scope.since is not None:
        since = pa.scalar(to_nanos(scope.since), pa.int64()).cast(TIMESTAMP)
        conditions.append(ds.field("time") >= since)
    if scope.until is not None:
        until = pa.scalar(to_nanos(scope.until), pa.int64()).cast(TIMESTAMP)
        conditions.append(ds.field("time") < until)
    for name, values in scope.filters.items():
        if name not in implied:
            conditions.append(ds.field(name).isin(pa.array(values, pa.string())))

    if not conditions:
        return None

    combined = conditions[0]
    for condition in conditions[1:]:
        combined = combined & condition
    return combined


def partition_predicates(
    scope: Scope, time: dims.TimeDimension | None
) -> dict[str, PartitionPredicate]:
    """Return the directory predicates that prune partitions outside the scope.

    Filters prune directories of their column by the escaped value. The time range
    prunes hour, day and week directories by their label, because labels of the
    spec's time dimension sort like the times they contain.
    """
    predicates: dict[str, PartitionPredicate] = {}
    for name, values in scope.filters.items():
        accepted = frozenset(escape_partition_value(value) for value in values)
        predicates[name] = accepted.__contains__

    if time is None or (scope.since is None and scope.until is None):
        return predicates

    lowest = _labels(time, scope.since, 0)
    highest = _labels(time, scope.until, -1)
    for index, grain in enumerate(time.granularities):
        low = lowest[index] if lowest else None
        high = highest[index] if highest else None
        in_range = _label_range(low, high)
        existing = predicates.get(grain)
        predicates[grain] = in_range if existing is None else _both(existing, in_range)

    return predicates


def _labels(
    time: dims.TimeDimension, moment: dt.datetime | None, offset_nanos: int
) -> tuple[str, ...] | None:
    if moment is None:
        return None

    labels = time.labels_for(to_nanos(moment) + offset_nanos)
    return None if time.invalid_bucket in labels else labels


def _label_range(low: str | None, high: str | None) -> PartitionPredicate:
    def in_range(escaped: str) -> bool:
        try:
            label = unescape_partition_value(escaped)
        except ValueError:
            return True
        if label is None:
            return False

        return (low is None or label >= low) and (high is None or label <= high)

    return in_range


def _both(first: PartitionPredicate, second: PartitionPredicate) -> PartitionPredicate:
    return lambda escaped: first(escaped) and second(escaped)
