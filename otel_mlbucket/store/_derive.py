"""Vectorised bucket derivation for the store-placed time, range and severity
dimensions.

Each function returns the same buckets as the dimension's own `compute` would for
every row, plus the mask of rows that got the invalid bucket, so that the caller
can count them. tests/test_store.py compares both on a table of edge values.
"""

from __future__ import annotations

import logging

import pyarrow as pa
import pyarrow.compute as pc

from otel_mlbucket import _dimensions as dims

_logger = logging.getLogger(__name__)

VECTORISED_KINDS = (dims.TimeDimension, dims.RangeDimension, dims.SeverityDimension)

_TIME_FORMATS = {"hour": "%Y-%m-%dT%H", "day": "%Y-%m-%d", "week": "%G-W%V"}


def time_buckets(
    dimension: dims.TimeDimension, times: pa.Array
) -> tuple[dict[str, pa.Array], pa.Array]:
    """Return the hour, day and week labels of a timestamp[ns, UTC] array."""
    nanos = times.cast(pa.int64())
    invalid = pc.fill_null(pc.less_equal(nanos, 0), True)
    try:
        zoned = times.cast(pa.timestamp("ns", tz=dimension.timezone))
        labels = {
            grain: pc.strftime(zoned, format=_TIME_FORMATS[grain])
            for grain in dimension.granularities
        }
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        # pyarrow reads time zones from the system database. Without one, format
        # each row in Python like the dimension itself does.
        _logger.debug("Formatting time buckets row by row: %r", exc)
        return _time_buckets_by_row(dimension, nanos), invalid

    bucket = pa.scalar(dimension.invalid_bucket)
    return {g: pc.if_else(invalid, bucket, a) for g, a in labels.items()}, invalid


def _time_buckets_by_row(
    dimension: dims.TimeDimension, nanos: pa.Array
) -> dict[str, pa.Array]:
    rows = [dimension.labels_for(value) for value in nanos.to_pylist()]
    return {
        grain: pa.array([labels[index] for labels in rows], pa.string())
        for index, grain in enumerate(dimension.granularities)
    }


def range_buckets(
    dimension: dims.RangeDimension, values: pa.Array
) -> tuple[pa.Array, pa.Array]:
    """Return the range buckets of a float64 array: null is missing, NaN invalid."""
    missing = pc.is_null(values)
    invalid = pc.fill_null(pc.is_nan(values), False)
    if dimension.min_value is not None:
        below = pc.fill_null(pc.less(values, dimension.min_value), False)
        invalid = pc.or_(invalid, below)
    if dimension.max_value is not None:
        above = pc.fill_null(pc.greater(values, dimension.max_value), False)
        invalid = pc.or_(invalid, above)

    # Lower-inclusive ranges: the bucket index is the count of boundaries <= value.
    index = pa.array([0] * len(values), pa.int32())
    for boundary in dimension.boundaries:
        above_boundary = pc.fill_null(pc.greater_equal(values, boundary), False)
        index = pc.add(index, above_boundary.cast(pa.int32()))

    labels = pc.take(pa.array(dimension.buckets, pa.string()), index)
    labels = pc.if_else(invalid, pa.scalar(dimension.invalid_bucket), labels)
    labels = pc.if_else(missing, pa.scalar(dimension.missing_bucket), labels)
    return labels, pc.and_(invalid, pc.invert(missing))


def severity_buckets(
    dimension: dims.SeverityDimension, numbers: pa.Array
) -> tuple[pa.Array, pa.Array]:
    """Return the severity buckets of an int32 array of severity numbers."""
    table = [dimension.missing_bucket] + [
        dimension.bucket_of(number) for number in range(1, 25)
    ]
    missing = pc.fill_null(pc.equal(numbers, 0), True)
    in_range = pc.fill_null(
        pc.and_(pc.greater_equal(numbers, 0), pc.less_equal(numbers, 24)), False
    )
    invalid = pc.and_(pc.invert(in_range), pc.invert(missing))
    index = pc.if_else(in_range, numbers, pa.scalar(0, pa.int32()))

    labels = pc.take(pa.array(table, pa.string()), index)
    labels = pc.if_else(invalid, pa.scalar(dimension.invalid_bucket), labels)
    labels = pc.if_else(missing, pa.scalar(dimension.missing_bucket), labels)
    return labels, invalid


def drift_columns(
    expected: pa.Array, actual: pa.Array, epsilon: float
) -> tuple[pa.Array, pa.Array]:
    """Return |actual - expected| and that divided by max(|expected|, epsilon).

    Infinite results (an overflowing difference) are null, like `drift_of` returns.
    """
    absolute = pc.abs(pc.subtract(actual, expected))
    scale = pc.max_element_wise(pc.abs(expected), pa.scalar(float(epsilon)))
    relative = pc.divide(absolute, scale)
    return _finite_or_null(absolute), _finite_or_null(relative)


def _finite_or_null(values: pa.Array) -> pa.Array:
    infinite = pc.fill_null(pc.is_inf(values), False)
    return pc.if_else(infinite, pa.scalar(None, pa.float64()), values)
