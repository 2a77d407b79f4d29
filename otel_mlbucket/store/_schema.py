"""The Arrow schema of the store's Parquet files."""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from otel_mlbucket import attributes as attr
from otel_mlbucket._spec import BucketSpec

SCHEMA_VERSION = "1"
"""Stored in each file's key-value metadata under `otel_mlbucket.schema_version`."""

METADATA_KEY = b"otel_mlbucket.schema_version"

TIMESTAMP = pa.timestamp("ns", tz="UTC")

RECORD_COLUMNS: tuple[pa.Field, ...] = (
    pa.field("time", TIMESTAMP),
    pa.field("observed_time", TIMESTAMP),
    pa.field("severity_number", pa.int32()),
    pa.field("severity_text", pa.string()),
    pa.field("body", pa.string()),
    pa.field("trace_id", pa.string()),
    pa.field("span_id", pa.string()),
    pa.field("event_name", pa.string()),
    pa.field("service_name", pa.string()),
)
"""Columns read from the log record itself and its resource's service.name."""

TEXT_ATTRIBUTES: Mapping[str, str] = {
    "model_name_raw": attr.MODEL_NAME,
    "model_version_raw": attr.MODEL_VERSION,
    "feature_name": attr.FEATURE_NAME,
    "validation_status": attr.VALIDATION_STATUS,
    "validation_reason_raw": attr.VALIDATION_REASON,
    "exception_type": attr.EXCEPTION_TYPE,
    "exception_message": attr.EXCEPTION_MESSAGE,
}
"""String columns and the record attribute each one is read from."""

FLOAT_ATTRIBUTES: Mapping[str, str] = {
    "latency_ms": attr.INFERENCE_LATENCY_MS,
    "prediction_confidence": attr.PREDICTION_CONFIDENCE,
    "prediction_expected": attr.PREDICTION_EXPECTED,
    "prediction_actual": attr.PREDICTION_ACTUAL,
}
"""float64 columns and the record attribute each one is read from."""

DRIFT_COLUMNS = ("drift_abs", "drift_rel")
"""|actual - expected| and |actual - expected| / max(|expected|, epsilon)."""

JSON_COLUMNS = ("attributes", "resource")
"""Tagged JSON objects of the attributes that no other column contains exactly."""

ML_ORDER = (
    "model_name_raw",
    "model_version_raw",
    "latency_ms",
    "prediction_confidence",
    "prediction_expected",
    "prediction_actual",
    *DRIFT_COLUMNS,
    "feature_name",
    "validation_status",
    "validation_reason_raw",
    "exception_type",
    "exception_message",
)

RESERVED_COLUMNS = frozenset(
    [f.name for f in RECORD_COLUMNS] + list(ML_ORDER) + list(JSON_COLUMNS)
)
"""Column names that a bucket output of the spec must not take."""


def store_schema(spec: BucketSpec | None = None) -> pa.Schema:
    """Build the schema of the files a store with this spec writes.

    Columns, in order: the record columns, one string column per bucket output of the
    spec (named by the output), the typed ML attribute columns, then the
    `attributes` and `resource` JSON columns.

    Args:
        spec: The bucket spec; the shipped default spec when None.

    Raises:
        ValueError: A bucket output has the name of a record or ML column.
    """
    spec = spec if spec is not None else BucketSpec.default()
    clashes = [output for output in spec.outputs() if output in RESERVED_COLUMNS]
    if clashes:
        raise ValueError(
            f"Invalid bucket spec for the store: the outputs {', '.join(clashes)} "
            "have the names of store columns. Rename those dimensions; the reserved "
            f"names are: {', '.join(sorted(RESERVED_COLUMNS))}."
        )

    bucket_fields = [pa.field(output, pa.string()) for output in spec.outputs()]
    ml_fields = [pa.field(name, _ml_type(name)) for name in ML_ORDER]
    json_fields = [pa.field(name, pa.string()) for name in JSON_COLUMNS]
    fields = [*RECORD_COLUMNS, *bucket_fields, *ml_fields, *json_fields]
    return pa.schema(fields, metadata={METADATA_KEY: SCHEMA_VERSION.encode()})


def _ml_type(name: str) -> pa.DataType:
    if name in FLOAT_ATTRIBUTES or name in DRIFT_COLUMNS:
        return pa.float64()

    return pa.string()


STORE_SCHEMA = store_schema()
"""The schema of a store written with the shipped default spec."""
