"""The embedded store: a Hive-partitioned Parquet dataset of bucketed log records.

`ParquetLogExporter` is an OpenTelemetry SDK log exporter that writes it, and
`otel_mlbucket.query.StoreClient` reads it back as pyarrow tables. Any Parquet
reader (pyarrow.dataset, DuckDB, Polars) can read it as well.

Layout: `<root>/day=2024-05-01/error_category=none/part-<time>-<pid>-<uuid>.parquet`
with the default `partition_by`. Each file contains every column of `store_schema`,
partition columns included. Partition values are percent-encoded (see
`escape_partition_value`). Names starting with `.` or `_` are temporary files,
locks and compaction manifests, which readers skip. Compaction replaces small files
with one sorted file. Readers that list files with `list_data_files`, as
`StoreClient` does, never see a row twice while it runs. A plain glob (DuckDB,
Polars) can, between the rename of the merged file and the deletion of its inputs,
or after a crash there until the next compaction (see `otel_mlbucket.store._compact`).

The `attributes` and `resource` columns contain, as JSON objects with type tags
(`decode_attributes`), every attribute that no typed column contains exactly: a
string `ml.model.name` moves to `model_name_raw`, but an integer latency stays in
the JSON as well, because `latency_ms` is a float column.
"""

from otel_mlbucket.store._codec import (
    decode_attributes,
    decode_value,
    encode_attributes,
    encode_value,
)
from otel_mlbucket.store._compact import CompactionResult
from otel_mlbucket.store._exporter import ParquetLogExporter
from otel_mlbucket.store._layout import (
    escape_partition_value,
    list_data_files,
    unescape_partition_value,
)
from otel_mlbucket.store._read import open_dataset, unify_schemas
from otel_mlbucket.store._schema import SCHEMA_VERSION, STORE_SCHEMA, store_schema

__all__ = [
    "SCHEMA_VERSION",
    "STORE_SCHEMA",
    "CompactionResult",
    "ParquetLogExporter",
    "decode_attributes",
    "decode_value",
    "encode_attributes",
    "encode_value",
    "escape_partition_value",
    "list_data_files",
    "open_dataset",
    "store_schema",
    "unescape_partition_value",
    "unify_schemas",
]
