"""Conversion of SDK log records into Arrow tables of the store schema.

Each record's values are read once in Python into per-column lists. Every
`CHUNK_ROWS` rows the lists become an Arrow table, and the store-placed time, range
and severity buckets are derived there with pyarrow.compute in one pass.
`BucketPlan` decides where each bucket column comes from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk._logs import ReadableLogRecord

from otel_mlbucket import _dimensions as dims
from otel_mlbucket._spec import BucketSpec
from otel_mlbucket._values import INVALID, MISSING, repair_utf8, to_float, to_text
from otel_mlbucket.store import _derive
from otel_mlbucket.store._buckets import BucketPlan
from otel_mlbucket.store._codec import encode_attributes, encode_body
from otel_mlbucket.store._schema import (
    FLOAT_ATTRIBUTES,
    TEXT_ATTRIBUTES,
    TIMESTAMP,
    store_schema,
)

CHUNK_ROWS = 4096
_SERVICE_NAME = "service.name"
_MAX_RESOURCES = 1024
_MAX_TEXT = 1 << 20


class RowBuffer:
    """Buffered rows of the store schema. Not thread safe: the exporter locks it."""

    def __init__(self, spec: BucketSpec):
        self.spec = spec
        self.schema = store_schema(spec)
        self._plan = BucketPlan(spec)
        self._chunks: list[pa.Table] = []
        self._chunk_rows = 0
        self._resources: dict[int, tuple[Any, tuple[Any, ...]]] = {}
        self._reset_lists()

    def __len__(self) -> int:
        return self._chunk_rows + len(self._times)

    def clear(self) -> None:
        """Drop every buffered row."""
        self._chunks = []
        self._chunk_rows = 0
        self._reset_lists()

    def drain(self) -> pa.Table | None:
        """Return the buffered rows as one table and empty the buffer."""
        if self._times:
            self._seal_chunk()
        chunks = self._chunks
        self.clear()
        if not chunks:
            return None

        return pa.concat_tables(chunks) if len(chunks) > 1 else chunks[0]

    def extend(self, batch: Sequence[ReadableLogRecord]) -> None:
        """Append the rows of a batch; raise on the first record that fails."""
        for readable in batch:
            self.append(readable)

    def append(self, readable: ReadableLogRecord) -> None:
        """Append one record's row, or raise and append nothing."""
        record = readable.log_record
        raw = record.attributes
        values: Mapping[str, Any] = (
            raw._dict if raw.__class__ is BoundedAttributes else (raw or {})
        )
        service, resource_json, resource_buckets = self._resource_info(
            readable.resource
        )
        consumed: set[str] = set()
        buckets, overrides = self._plan.row_buckets(
            values, record, resource_buckets, consumed
        )
        fields = self._record_fields(record, service, overrides)
        typed = self._typed(values, consumed)
        ranges = [
            _range_input(values.get(dimension.source))
            for dimension in self._plan.ranges
        ]
        remaining = (
            {k: v for k, v in values.items() if k not in consumed}
            if consumed
            else values
        )
        attributes_json = encode_attributes(remaining)

        # Nothing below raises, so that the column lists stay the same length.
        for column, value in zip(self._record_lists, fields, strict=True):
            column.append(value)
        for output in self._plan.row_outputs:
            self._bucket_lists[output].append(buckets[output])
        for output in self._plan.vectorised_outputs:
            self._overrides[output].append(overrides.get(output))
        for dimension, value in zip(self._plan.ranges, ranges, strict=True):
            self._range_inputs[dimension.name].append(value)
        for name, value in typed.items():
            self._typed_lists[name].append(value)
        self._attributes.append(attributes_json)
        self._resource.append(resource_json)

        if len(self._times) >= CHUNK_ROWS:
            self._seal_chunk()

    def _record_fields(
        self, record: Any, service: str | None, overrides: dict[str, str]
    ) -> tuple[Any, ...]:
        severity = getattr(record.severity_number, "value", record.severity_number)
        if severity is not None and not _is_int32(severity):
            for dimension in self._plan.severities:
                overrides[dimension.name] = dimension.bucket_of(severity)
            severity = None

        timestamp = _nanos(record.timestamp)
        observed = _nanos(record.observed_timestamp)
        trace_id, span_id = record.trace_id, record.span_id
        return (
            timestamp or observed,
            observed,
            severity,
            _clean(record.severity_text),
            encode_body(record.body),
            f"{trace_id:032x}" if trace_id else None,
            f"{span_id:016x}" if span_id else None,
            _clean(record.event_name),
            service,
        )

    def _typed(self, values: Mapping[str, Any], consumed: set[str]) -> dict[str, Any]:
        """Return the typed ML columns; add the names of exact values to `consumed`."""
        typed: dict[str, Any] = {}
        for column, name in TEXT_ATTRIBUTES.items():
            value = values.get(name)
            if value is None:
                typed[column] = None
            elif value.__class__ is str:
                typed[column] = value if value.isascii() else repair_utf8(value)
                consumed.add(name)
            else:
                text = to_text(value, _MAX_TEXT)
                typed[column] = text if text.__class__ is str else None
        for column, name in FLOAT_ATTRIBUTES.items():
            value = values.get(name)
            if value is None:
                typed[column] = None
            elif value.__class__ is float and math.isfinite(value):
                typed[column] = value
                consumed.add(name)
            else:
                number = to_float(value)
                typed[column] = number if number.__class__ is float else None

        return typed

    def _resource_info(self, resource: Any) -> tuple[Any, ...]:
        key = id(resource)
        cached = self._resources.get(key)
        if cached is not None and cached[0] is resource:
            return cached[1]

        attributes = dict(resource.attributes) if resource is not None else {}
        buckets = {
            name: attributes[name]
            for name in self._plan.resource_names
            if attributes.get(name).__class__ is str
        }
        service = attributes.get(_SERVICE_NAME)
        other_attributes = {
            k: v
            for k, v in attributes.items()
            if k not in buckets
            and not (k == _SERVICE_NAME and service.__class__ is str)
        }
        info = (
            _clean(service) if service.__class__ is str else None,
            encode_attributes(other_attributes),
            buckets,
        )
        if len(self._resources) >= _MAX_RESOURCES:
            self._resources.clear()
        self._resources[key] = (resource, info)
        return info

    def _reset_lists(self) -> None:
        self._times: list[Any] = []
        self._observed: list[Any] = []
        self._severity: list[Any] = []
        self._severity_text: list[Any] = []
        self._body: list[Any] = []
        self._trace: list[Any] = []
        self._span: list[Any] = []
        self._event: list[Any] = []
        self._service: list[Any] = []
        self._record_lists = (
            self._times,
            self._observed,
            self._severity,
            self._severity_text,
            self._body,
            self._trace,
            self._span,
            self._event,
            self._service,
        )

        self._attributes: list[Any] = []
        self._resource: list[Any] = []

        self._bucket_lists: dict[str, list[Any]] = {
            o: [] for o in self._plan.row_outputs
        }
        self._overrides: dict[str, list[Any]] = {
            o: [] for o in self._plan.vectorised_outputs
        }
        self._range_inputs: dict[str, list[Any]] = {
            d.name: [] for d in self._plan.ranges
        }
        self._typed_lists: dict[str, list[Any]] = {
            name: [] for name in (*TEXT_ATTRIBUTES, *FLOAT_ATTRIBUTES)
        }

    def _seal_chunk(self) -> None:
        columns = self._record_arrays()
        columns.update(self._typed_arrays())
        columns.update(
            {o: pa.array(v, pa.string()) for o, v in self._bucket_lists.items()}
        )
        columns.update(
            self._vectorised_arrays(columns["time"], columns["severity_number"])
        )
        columns["attributes"] = pa.array(self._attributes, pa.string())
        columns["resource"] = pa.array(self._resource, pa.string())

        table = pa.Table.from_arrays(
            [columns[name] for name in self.schema.names], schema=self.schema
        )
        self._chunks.append(table)
        self._chunk_rows += table.num_rows
        self._reset_lists()

    def _record_arrays(self) -> dict[str, pa.Array]:
        return {
            "time": pa.array(self._times, pa.int64()).cast(TIMESTAMP),
            "observed_time": pa.array(self._observed, pa.int64()).cast(TIMESTAMP),
            "severity_number": pa.array(self._severity, pa.int32()),
            "severity_text": pa.array(self._severity_text, pa.string()),
            "body": pa.array(self._body, pa.string()),
            "trace_id": pa.array(self._trace, pa.string()),
            "span_id": pa.array(self._span, pa.string()),
            "event_name": pa.array(self._event, pa.string()),
            "service_name": pa.array(self._service, pa.string()),
        }

    def _typed_arrays(self) -> dict[str, pa.Array]:
        arrays = {
            name: pa.array(self._typed_lists[name], pa.string())
            for name in TEXT_ATTRIBUTES
        }
        arrays.update(
            {
                name: pa.array(self._typed_lists[name], pa.float64())
                for name in FLOAT_ATTRIBUTES
            }
        )
        arrays["drift_abs"], arrays["drift_rel"] = _derive.drift_columns(
            arrays["prediction_expected"],
            arrays["prediction_actual"],
            self._plan.drift_epsilon,
        )
        return arrays

    def _vectorised_arrays(
        self, times: pa.Array, severities: pa.Array
    ) -> dict[str, pa.Array]:
        arrays: dict[str, pa.Array] = {}
        for dimension in self._plan.vectorised:
            if isinstance(dimension, dims.TimeDimension):
                labels, invalid = _derive.time_buckets(dimension, times)
            elif isinstance(dimension, dims.RangeDimension):
                inputs = pa.array(self._range_inputs[dimension.name], pa.float64())
                label, invalid = _derive.range_buckets(dimension, inputs)
                labels = {dimension.name: label}
            else:
                label, invalid = _derive.severity_buckets(dimension, severities)
                labels = {dimension.name: label}
            arrays.update(self._with_overrides(dimension, labels, invalid))

        return arrays

    def _with_overrides(
        self,
        dimension: dims.Dimension,
        labels: dict[str, pa.Array],
        invalid: pa.Array,
    ) -> dict[str, pa.Array]:
        """Prefer the buckets computed row by row and count the invalid rows."""
        first = self._overrides[dimension.outputs[0]]
        if any(value is not None for value in first):
            derived = pa.array([value is None for value in first], pa.bool_())
            invalid = pc.and_(invalid, derived)
            labels = {
                output: pc.coalesce(
                    pa.array(self._overrides[output], pa.string()), labels[output]
                )
                for output in labels
            }

        for _ in range(pc.sum(invalid.cast(pa.int64())).as_py() or 0):
            self.spec.stats.count_unbucketable(dimension.name)

        return labels


def _range_input(value: Any) -> float | None:
    """Return a range dimension's input: a float, None if missing, NaN if invalid."""
    if value.__class__ is float:
        return value if math.isfinite(value) else math.nan

    number = to_float(value)
    if number is MISSING:
        return None
    if number is INVALID:
        return math.nan

    return number


def _nanos(value: Any) -> int | None:
    """Return a timestamp in ns that fits in int64, or None."""
    if value.__class__ is int and -(2**63) <= value < 2**63:
        return value

    return None


def _is_int32(value: Any) -> bool:
    return value.__class__ is int and -(2**31) <= value < 2**31


def _clean(text: Any) -> str | None:
    if text is None:
        return None
    if text.__class__ is not str:
        text = str(text)

    return text if text.isascii() else repair_utf8(text)
