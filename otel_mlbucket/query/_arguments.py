"""Validation of query arguments and the spec facts the queries use."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from otel_mlbucket import _dimensions as dims
from otel_mlbucket._spec import BucketSpec
from otel_mlbucket.attributes import INFERENCE_LATENCY_MS
from otel_mlbucket.query._errors import InvalidQueryError
from otel_mlbucket.query._summary import SummaryInputs
from otel_mlbucket.store._schema import RESERVED_COLUMNS, TEXT_ATTRIBUTES

EXTRA_DIMENSIONS = tuple(
    name
    for name in ("service_name", "event_name", "severity_text", *TEXT_ATTRIBUTES)
    if name != "exception_message"
)
"""Record and raw attribute columns that `by` and `filters` accept besides buckets."""


def names(parameter: str, names: Any) -> tuple[str, ...]:
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise InvalidQueryError(
            parameter,
            names,
            "it must be a sequence of column names, such as ('model_version',).",
        )
    if len(set(names)) != len(names):
        raise InvalidQueryError(parameter, names, "a name appears more than once.")

    return tuple(names)


def filters(filters: Mapping[str, Any] | None) -> dict[str, tuple[str, ...]]:
    normalized: dict[str, tuple[str, ...]] = {}
    for name, value in (filters or {}).items():
        values = (value,) if isinstance(value, str) else value
        if not isinstance(values, Sequence) or not all(
            isinstance(item, str) for item in values
        ):
            raise InvalidQueryError(
                f"filters[{name!r}]",
                value,
                "a filter value must be a string or a sequence of strings.",
            )
        if not values:
            raise InvalidQueryError(
                f"filters[{name!r}]", value, "it must name at least one value."
            )
        normalized[name] = tuple(values)

    return normalized


def dimension_choices(spec: BucketSpec, schema: pa.Schema) -> tuple[str, ...]:
    """Return the bucket outputs, the other bucket columns and the raw text columns."""
    choices = list(spec.outputs())
    for field in schema:
        known = field.name in choices or field.name in RESERVED_COLUMNS
        if not known and pa.types.is_string(field.type):
            choices.append(field.name)
    choices.extend(name for name in EXTRA_DIMENSIONS if name in schema.names)
    return tuple(choices)


def time_dimension(spec: BucketSpec) -> dims.TimeDimension | None:
    for dimension in spec.dimensions:
        if isinstance(dimension, dims.TimeDimension):
            return dimension

    return None


def summary_inputs(spec: BucketSpec, time: dims.TimeDimension | None) -> SummaryInputs:
    outputs = spec.outputs()
    error_output = "error_category" if "error_category" in outputs else None
    no_error = "none"
    if error_output is not None:
        dimension = spec.dimension_of(error_output)
        no_error = getattr(dimension, "default", "none")

    validation = next(
        (d for d in spec.dimensions if isinstance(d, dims.ValidationDimension)), None
    )
    latency = next(
        (
            d
            for d in spec.dimensions
            if isinstance(d, dims.RangeDimension) and d.source == INFERENCE_LATENCY_MS
        ),
        None,
    )
    return SummaryInputs(
        error_output=error_output,
        no_error_bucket=no_error,
        validation_output=validation.name if validation else None,
        reason_output=validation.reason_output if validation else None,
        reason_buckets=(*validation.reason_buckets, "other") if validation else (),
        timezone=time.timezone if time is not None else "UTC",
        latency_min=latency.min_value if latency is not None else None,
        latency_max=latency.max_value if latency is not None else None,
    )
