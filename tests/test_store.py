"""ParquetLogExporter: columns, buckets, buffering, failures, fork and schema drift."""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from opentelemetry import trace
from opentelemetry._logs import LogRecord as APILogRecord
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

import otel_mlbucket
from otel_mlbucket import attributes as attr
from otel_mlbucket._spec import BucketSpec
from otel_mlbucket.processor import BucketingProcessor
from otel_mlbucket.query import StoreClient
from otel_mlbucket.store import (
    STORE_SCHEMA,
    ParquetLogExporter,
    decode_attributes,
    decode_value,
    encode_attributes,
    encode_value,
    list_data_files,
    open_dataset,
    store_schema,
)

T0 = 1_714_564_800_000_000_000  # 2024-05-01T12:00:00Z in ns
MINUTE = 60_000_000_000
TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
SPAN_ID = 0x00F067AA0BA902B7


class Pipeline:
    """A LoggerProvider with the bucketing processor and a simple store exporter."""

    def __init__(self, path: Path, *, bucketing: bool = True, **options):
        self.provider = LoggerProvider(
            resource=Resource.create({"service.name": "scorer", "deployment": "eu-1"})
        )
        spec = options.pop("spec", None)
        placements = options.pop("placements", None)
        if bucketing:
            self.processor = BucketingProcessor(spec, placements=placements)
            self.provider.add_log_record_processor(self.processor)
            spec = self.processor.spec
        options.setdefault("fsync", False)
        self.exporter = ParquetLogExporter(path, spec=spec, **options)
        self.provider.add_log_record_processor(SimpleLogRecordProcessor(self.exporter))
        self.logger = self.provider.get_logger("test")

    def emit(self, **fields) -> None:
        fields.setdefault("timestamp", T0)
        fields.setdefault("observed_timestamp", T0 + 1)
        fields.setdefault("severity_number", SeverityNumber.INFO)
        self.logger.emit(**fields)

    def shutdown(self) -> None:
        self.provider.shutdown()


def stored_rows(path: Path, schema: pa.Schema = STORE_SCHEMA) -> list[dict]:
    dataset, _ = open_dataset(Path(path), schema)
    table = dataset.to_table()
    for name in ("time", "observed_time"):
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, pc.cast(table[name], pa.int64()))

    return sorted(table.to_pylist(), key=lambda row: (row["time"], row["body"] or ""))


def expected_buckets(
    attributes, *, timestamp=T0, severity=SeverityNumber.INFO, event=None
):
    record = SimpleNamespace(
        timestamp=timestamp,
        observed_timestamp=timestamp + 1,
        severity_number=severity,
        event_name=event,
    )
    return BucketSpec.default().compute(attributes, record)


ML_ATTRIBUTES = {
    attr.MODEL_NAME: "churn",
    attr.MODEL_VERSION: "v2",
    attr.INFERENCE_LATENCY_MS: 42.5,
    attr.PREDICTION_CONFIDENCE: 0.93,
    attr.PREDICTION_EXPECTED: 10.0,
    attr.PREDICTION_ACTUAL: 12.0,
    attr.FEATURE_NAME: "age",
    attr.VALIDATION_STATUS: "failed",
    attr.VALIDATION_REASON: "out_of_range",
    attr.EXCEPTION_TYPE: "ValueError",
    attr.EXCEPTION_MESSAGE: "age is negative",
    "request.id": "r-17",
    "retries": 3,
}


def test_round_trip_of_every_column(tmp_path):
    pipeline = Pipeline(tmp_path)
    span = NonRecordingSpan(
        SpanContext(TRACE_ID, SPAN_ID, is_remote=False, trace_flags=TraceFlags(1))
    )

    pipeline.emit(
        timestamp=T0,
        observed_timestamp=T0 + 5,
        severity_number=SeverityNumber.WARN,
        severity_text="WARNING",
        body="input validation failed",
        attributes=ML_ATTRIBUTES,
        event_name="ml.validation.failure",
        context=trace.set_span_in_context(span),
    )
    pipeline.shutdown()

    (row,) = stored_rows(tmp_path)
    assert row["time"] == T0
    assert row["observed_time"] == T0 + 5
    assert row["severity_number"] == SeverityNumber.WARN.value
    assert row["severity_text"] == "WARNING"
    assert row["body"] == "input validation failed"
    assert row["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert row["span_id"] == "00f067aa0ba902b7"
    assert row["event_name"] == "ml.validation.failure"
    assert row["service_name"] == "scorer"
    assert row["model_name_raw"] == "churn"
    assert row["model_version_raw"] == "v2"
    assert row["latency_ms"] == 42.5
    assert row["prediction_confidence"] == 0.93
    assert row["prediction_expected"] == 10.0
    assert row["prediction_actual"] == 12.0
    assert row["drift_abs"] == pytest.approx(2.0)
    assert row["drift_rel"] == pytest.approx(0.2)
    assert row["feature_name"] == "age"
    assert row["validation_status"] == "failed"
    assert row["validation_reason_raw"] == "out_of_range"
    assert row["exception_type"] == "ValueError"
    assert row["exception_message"] == "age is negative"
    assert decode_attributes(row["attributes"]) == {"request.id": "r-17", "retries": 3}
    resource = decode_attributes(row["resource"])
    assert resource["deployment"] == "eu-1"
    assert "service.name" not in resource


def test_round_trip_of_every_bucket(tmp_path):
    pipeline = Pipeline(tmp_path)

    pipeline.emit(
        severity_number=SeverityNumber.WARN,
        attributes=ML_ATTRIBUTES,
        event_name="ml.validation.failure",
    )
    pipeline.shutdown()

    (row,) = stored_rows(tmp_path)
    expected = expected_buckets(
        ML_ATTRIBUTES, severity=SeverityNumber.WARN, event="ml.validation.failure"
    )
    assert set(expected) == set(BucketSpec.default().outputs())
    for output, bucket in expected.items():
        assert row[output] == bucket, output


def test_record_placed_buckets_leave_attributes(tmp_path):
    placements = {"drift": "record", "validation": "record", "latency": "record"}
    pipeline = Pipeline(tmp_path, placements=placements)

    pipeline.emit(attributes=ML_ATTRIBUTES)
    pipeline.shutdown()

    (row,) = stored_rows(tmp_path)
    expected = expected_buckets(ML_ATTRIBUTES)
    assert pipeline.exporter.spec.outputs("record") == (
        "validation",
        "validation_reason",
        "drift",
        "latency",
    )
    for output in ("validation", "validation_reason", "drift", "latency"):
        assert row[output] == expected[output], output
    attributes = decode_attributes(row["attributes"])
    assert [name for name in attributes if name.startswith("ml.bucket.")] == []


def test_schema_has_a_column_per_output():
    spec = BucketSpec.default()

    schema = store_schema(spec)

    for output in spec.outputs():
        assert schema.field(output).type == pa.string()
    assert schema.field("time").type == pa.timestamp("ns", tz="UTC")
    assert schema.field("observed_time").type == pa.timestamp("ns", tz="UTC")
    assert schema.field("severity_number").type == pa.int32()
    assert schema.field("latency_ms").type == pa.float64()
    assert schema.field("drift_rel").type == pa.float64()
    assert schema == STORE_SCHEMA


def test_schema_rejects_output_named_like_column():
    source = BucketSpec.default().source
    source["dimensions"]["latency_ms"] = source["dimensions"].pop("confidence")
    spec = BucketSpec.from_dict(source)

    with pytest.raises(ValueError, match="latency_ms") as raised:
        store_schema(spec)

    assert "Rename" in str(raised.value)


@pytest.mark.parametrize(
    ("body", "stored"),
    [
        ({"score": 0.5, "labels": ["a", "b"]}, '{"score":0.5,"labels":["a","b"]}'),
        (17, "17"),
        (b"\x00\xff", '{"$bytes":"AP8="}'),
        (None, None),
    ],
)
def test_non_string_body_is_json(tmp_path, body, stored):
    pipeline = Pipeline(tmp_path)

    pipeline.emit(body=body)
    pipeline.shutdown()

    (row,) = stored_rows(tmp_path)
    assert row["body"] == stored


ATTRIBUTE_VALUES = [
    ("text", "plain", "plain"),
    ("unicode", "größe 🙂", "größe 🙂"),
    ("repaired surrogate", "bad\udcff", "bad\ufffd"),
    ("int", 7, 7),
    ("big int", 2**70, 2**70),
    ("negative float", -0.25, -0.25),
    ("nan", math.nan, "nan"),
    ("infinity", math.inf, math.inf),
    ("bool", True, True),
    ("bytes", b"\x00\xffraw", b"\x00\xffraw"),
    ("none", None, None),
    ("nested list", [1, "two", [3.5, None]], [1, "two", [3.5, None]]),
    ("empty list", [], []),
    ("dict", {"a": {"b": [1, 2]}, "c": b"\x01"}, {"a": {"b": [1, 2]}, "c": b"\x01"}),
    ("dict like a tag", {"$bytes": "AA=="}, {"$bytes": "AA=="}),
]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(value, expected) for _, value, expected in ATTRIBUTE_VALUES],
    ids=[name for name, _, _ in ATTRIBUTE_VALUES],
)
def test_attributes_round_trip_through_sdk(tmp_path, value, expected):
    pipeline = Pipeline(tmp_path)

    pipeline.emit(attributes={"value": value, "ml.model.name": "m"})
    pipeline.shutdown()

    (row,) = stored_rows(tmp_path)
    decoded = decode_attributes(row["attributes"])
    if expected == "nan":
        assert math.isnan(decoded["value"])
    else:
        assert decoded == {"value": expected}
        assert type(decoded["value"]) is type(expected)


@pytest.mark.parametrize(
    "value",
    [
        {"$map": 1},
        {"$float": "inf", "other": 1},
        [b"", {"$repr": "x"}, (1, 2)],
        {"": None, "k": [[[]]]},
    ],
)
def test_codec_round_trips_tag_like_values(value):
    encoded = json.loads(json.dumps(encode_value(value)))

    decoded = decode_value(encoded)

    normalized = json.loads(json.dumps(value, default=lambda v: list(v)))
    if isinstance(value, list):
        assert decoded[0] == b""
        assert decoded[1:] == normalized[1:]
    else:
        assert decoded == normalized


def test_codec_keeps_unknown_types_as_repr():
    class Opaque:
        def __repr__(self):
            return "Opaque()"

    text = encode_attributes({"x": Opaque()})

    assert decode_attributes(text) == {"x": "Opaque()"}


def test_exact_values_leave_the_attributes_json(tmp_path):
    pipeline = Pipeline(tmp_path)

    pipeline.emit(
        attributes={
            attr.MODEL_NAME: "m",
            attr.INFERENCE_LATENCY_MS: 12,
            attr.PREDICTION_CONFIDENCE: "high",
            attr.VALIDATION_STATUS: True,
        }
    )
    pipeline.shutdown()

    (row,) = stored_rows(tmp_path)
    assert row["model_name_raw"] == "m"
    assert row["latency_ms"] == 12.0
    assert row["prediction_confidence"] is None
    assert row["validation_status"] == "true"
    assert decode_attributes(row["attributes"]) == {
        attr.INFERENCE_LATENCY_MS: 12,
        attr.PREDICTION_CONFIDENCE: "high",
        attr.VALIDATION_STATUS: True,
    }


def test_records_without_processor_get_every_bucket(tmp_path):
    pipeline = Pipeline(tmp_path, bucketing=False)
    attributes = {**ML_ATTRIBUTES, attr.EXCEPTION_TYPE: "TimeoutError"}

    pipeline.emit(severity_number=SeverityNumber.ERROR, attributes=attributes)
    pipeline.shutdown()

    (row,) = stored_rows(tmp_path)
    expected = expected_buckets(attributes, severity=SeverityNumber.ERROR)
    for output, bucket in expected.items():
        assert row[output] == bucket, output
    assert row["error_category"] == "data_validation_error"


def test_travelled_buckets_are_read_not_recomputed(tmp_path):
    spec = BucketSpec.default()
    pipeline = Pipeline(tmp_path, bucketing=False, spec=spec)
    resource_outputs = spec.outputs("resource")
    resource = Resource.create(
        {spec.attribute_name(output): f"sent-{output}" for output in resource_outputs}
    )
    record = APILogRecord(
        timestamp=T0,
        observed_timestamp=T0,
        severity_number=SeverityNumber.INFO,
        attributes={attr.MODEL_NAME: "m"},
    )

    result = pipeline.exporter.export([ReadableLogRecord(record, resource)])
    pipeline.shutdown()

    assert result is LogRecordExportResult.SUCCESS
    (row,) = stored_rows(tmp_path)
    for output in resource_outputs:
        assert row[output] == f"sent-{output}"
    resource_json = decode_attributes(row["resource"])
    assert not any(name.startswith("ml.bucket.") for name in resource_json)


def berlin_spec() -> BucketSpec:
    source = BucketSpec.default().source
    source["dimensions"]["time"]["timezone"] = "Europe/Berlin"
    return BucketSpec.from_dict(source)


EDGE_TIMES = [
    T0,
    1_729_989_000_000_000_000,  # 2024-10-27T00:30Z, 02:30 CEST before the change back
    1_729_992_600_000_000_000,  # 2024-10-27T01:30Z, 02:30 CET after it
    1_711_846_800_000_000_000,  # 2024-03-31T01:00Z, 03:00 CEST after the change forward
    1_735_603_200_000_000_000,  # 2024-12-31T00:00Z, ISO week 2025-W01
    1,
]
EDGE_LATENCIES = [
    None,
    -1,
    0,
    9.99,
    10,
    50.0,
    999.9,
    1000,
    math.nan,
    math.inf,
    "12",
    "abc",
    True,
    1e300,
]
EDGE_SEVERITIES = [None, 1, 4, 5, 9, 13, 17, 21, 24]


@pytest.mark.parametrize(
    "spec_factory", [BucketSpec.default, berlin_spec], ids=["utc", "berlin"]
)
def test_vectorised_buckets_match_dimensions(tmp_path, spec_factory):
    spec = spec_factory()
    pipeline = Pipeline(tmp_path, bucketing=False, spec=spec)
    rows = []
    for index, latency in enumerate(EDGE_LATENCIES):
        timestamp = EDGE_TIMES[index % len(EDGE_TIMES)]
        severity = EDGE_SEVERITIES[index % len(EDGE_SEVERITIES)]
        attributes = {
            attr.INFERENCE_LATENCY_MS: latency,
            attr.PREDICTION_CONFIDENCE: latency,
        }
        attributes = {k: v for k, v in attributes.items() if v is not None}
        severity_number = None if severity is None else SeverityNumber(severity)
        pipeline.emit(
            timestamp=timestamp,
            severity_number=severity_number,
            attributes=attributes,
            body=str(index),
        )
        rows.append((timestamp, severity_number, attributes, str(index)))
    pipeline.shutdown()

    stored = {
        row["body"]: row for row in stored_rows(tmp_path, pipeline.exporter.schema)
    }
    reference = spec_factory()
    for timestamp, severity_number, attributes, body in rows:
        record = SimpleNamespace(
            timestamp=timestamp,
            observed_timestamp=timestamp,
            severity_number=severity_number,
            event_name=None,
        )
        expected = reference.compute(attributes, record)
        for output in ("hour", "day", "week", "latency", "confidence", "severity"):
            assert stored[body][output] == expected[output], (body, output)


def test_vectorised_buckets_count_invalid_values(tmp_path):
    pipeline = Pipeline(tmp_path, bucketing=False)

    for latency in (-5, math.nan, "abc", 12):
        pipeline.emit(attributes={attr.INFERENCE_LATENCY_MS: latency})
    pipeline.shutdown()

    assert pipeline.exporter.spec.stats.snapshot().unbucketable["latency"] == 3


def test_shutdown_flushes_buffered_rows(tmp_path):
    pipeline = Pipeline(tmp_path, max_buffered_rows=1000)

    for index in range(25):
        pipeline.emit(body=f"row {index}", timestamp=T0 + index)
    buffered = pipeline.exporter.rows_buffered
    files_before = list_data_files(tmp_path)
    pipeline.shutdown()

    assert buffered == 25
    assert files_before == []
    assert pipeline.exporter.rows_written == 25
    assert pipeline.exporter.rows_buffered == 0
    assert len(stored_rows(tmp_path)) == 25


def test_export_after_shutdown_fails(tmp_path):
    exporter = ParquetLogExporter(tmp_path, fsync=False)
    exporter.shutdown()
    record = APILogRecord(timestamp=T0, observed_timestamp=T0)

    result = exporter.export([ReadableLogRecord(record, Resource.create({}))])

    assert result is LogRecordExportResult.FAILURE
    assert exporter.rows_failed == 1


def test_flush_at_max_buffered_rows(tmp_path):
    pipeline = Pipeline(tmp_path, max_buffered_rows=5)

    for index in range(12):
        pipeline.emit(timestamp=T0 + index)

    assert pipeline.exporter.rows_written == 10
    assert pipeline.exporter.rows_buffered == 2
    pipeline.shutdown()
    assert pipeline.exporter.rows_written == 12


def test_flush_when_buffer_is_old(tmp_path):
    now = [100.0]
    pipeline = Pipeline(tmp_path, max_buffer_age_millis=5_000, clock=lambda: now[0])

    pipeline.emit(timestamp=T0)
    now[0] += 4.0
    pipeline.emit(timestamp=T0 + 1)
    written_before = pipeline.exporter.rows_written
    now[0] += 1.0
    pipeline.emit(timestamp=T0 + 2)

    assert written_before == 0
    assert pipeline.exporter.rows_written == 3
    pipeline.shutdown()


def test_force_flush_writes_buffered_rows(tmp_path):
    pipeline = Pipeline(tmp_path)
    pipeline.emit()

    flushed = pipeline.exporter.force_flush()

    assert flushed is True
    assert pipeline.exporter.rows_written == 1
    pipeline.shutdown()


def test_write_failure_is_counted_and_logged(tmp_path, caplog):
    pipeline = Pipeline(tmp_path, partition_by=("day",))
    (tmp_path / "day=2024-05-01").write_text("a file where a directory belongs")
    for index in range(3):
        pipeline.emit(timestamp=T0 + index)

    with caplog.at_level(logging.ERROR, logger="otel_mlbucket.store"):
        flushed = pipeline.exporter.force_flush()

    assert flushed is False
    assert pipeline.exporter.rows_failed == 3
    assert pipeline.exporter.rows_written == 0
    (message,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "Writing 3 log records to" in message
    assert str(tmp_path / "day=2024-05-01") in message
    pipeline.shutdown()


def test_export_returns_failure_when_write_fails(tmp_path):
    pipeline = Pipeline(tmp_path, partition_by=("day",), max_buffered_rows=1)
    (tmp_path / "day=2024-05-01").write_text("blocked")
    record = APILogRecord(timestamp=T0, observed_timestamp=T0)

    result = pipeline.exporter.export([ReadableLogRecord(record, Resource.create({}))])

    assert result is LogRecordExportResult.FAILURE
    assert pipeline.exporter.rows_failed == 1


def test_unconvertible_record_does_not_fail_batch(tmp_path):
    class Unprintable:
        def __repr__(self):
            raise RuntimeError("no repr")

    exporter = ParquetLogExporter(tmp_path, fsync=False)
    good = APILogRecord(timestamp=T0, observed_timestamp=T0, attributes={"a": 1})
    bad = APILogRecord(
        timestamp=T0, observed_timestamp=T0, attributes={"a": Unprintable()}
    )
    resource = Resource.create({})

    result = exporter.export(
        [ReadableLogRecord(good, resource), ReadableLogRecord(bad, resource)]
    )
    exporter.shutdown()

    assert result is LogRecordExportResult.FAILURE
    assert exporter.rows_failed == 1
    assert exporter.rows_written == 1


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"partition_by": "day"}, "partition_by 'day'"),
        ({"partition_by": ("region",)}, "'region'"),
        ({"partition_by": ("day", "day")}, "more than once"),
        ({"sort_by": ("nope",)}, "sort_by entry 'nope'"),
        ({"max_buffered_rows": 0}, "max_buffered_rows 0"),
        ({"max_buffered_rows": True}, "max_buffered_rows True"),
        ({"max_buffer_age_millis": -1}, "max_buffer_age_millis -1"),
        ({"row_group_rows": 2.5}, "row_group_rows 2.5"),
        ({"compact_min_files": 1}, "compact_min_files 1"),
        ({"compact_target_rows": 0}, "compact_target_rows 0"),
        ({"compression": "zip"}, "compression 'zip'"),
        ({"clock": 5}, "clock 5"),
        ({"path": ""}, "path ''"),
    ],
)
def test_constructor_rejects_invalid_argument(tmp_path, options, named):
    path = options.pop("path", tmp_path)

    with pytest.raises(ValueError) as raised:
        ParquetLogExporter(path, **options)

    assert named in str(raised.value)


def test_partition_by_error_lists_outputs(tmp_path):
    with pytest.raises(ValueError) as raised:
        ParquetLogExporter(tmp_path, partition_by=("region",))

    for output in BucketSpec.default().outputs():
        assert output in str(raised.value)


def test_configure_writes_the_store(tmp_path):
    built = otel_mlbucket.configure(
        "scorer",
        store_path=tmp_path,
        store_options={"fsync": False},
        exporters=[],
        otlp=False,
        attach_to=None,
        set_global=False,
    )
    logger = built.logger_provider.get_logger("test")

    for index in range(4):
        logger.emit(
            timestamp=T0 + index,
            severity_number=SeverityNumber.INFO,
            attributes={attr.MODEL_NAME: "m", attr.MODEL_VERSION: "v1"},
        )
    built.shutdown()

    assert isinstance(built.store, ParquetLogExporter)
    rows = stored_rows(tmp_path)
    assert [row["model_version"] for row in rows] == ["v1"] * 4
    assert {row["service_name"] for row in rows} == {"scorer"}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_child_skips_parent_rows(tmp_path):
    pipeline = Pipeline(tmp_path, max_buffered_rows=1000)
    for index in range(5):
        pipeline.emit(body=f"parent {index}", timestamp=T0 + index)

    child = os.fork()
    if child == 0:
        code = 1
        try:
            pipeline.emit(body="child", timestamp=T0 + 100)
            pipeline.exporter.force_flush()
            code = 0 if pipeline.exporter.rows_written == 1 else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    pipeline.shutdown()

    assert os.waitstatus_to_exitcode(status) == 0
    bodies = sorted(row["body"] for row in stored_rows(tmp_path))
    assert bodies == ["child", *[f"parent {i}" for i in range(5)]]
    names = [path.name for path in list_data_files(tmp_path)]
    assert any(f"-{child}-" in name for name in names)
    assert any(f"-{os.getpid()}-" in name for name in names)


def region_spec() -> BucketSpec:
    source = BucketSpec.default().source
    source["dimensions"]["region"] = {
        "kind": "passthrough",
        "source": "cloud.region",
        "placement": "store",
    }
    return BucketSpec.from_dict(source)


def test_schema_drift_between_files_reads(tmp_path):
    first = Pipeline(tmp_path)
    first.emit(attributes={attr.MODEL_VERSION: "v1", attr.INFERENCE_LATENCY_MS: 10.0})
    first.shutdown()
    second = Pipeline(tmp_path, spec=region_spec())
    second.emit(
        timestamp=T0 + MINUTE,
        attributes={attr.MODEL_VERSION: "v2", "cloud.region": "eu", "new.attribute": 1},
    )
    second.shutdown()
    older = tmp_path / "day=2024-05-01" / "error_category=none" / "part-older.parquet"
    pq.write_table(
        pa.table(
            {
                "time": pa.array([T0 + 2 * MINUTE], pa.int64()).cast(
                    pa.timestamp("ns", tz="UTC")
                ),
                "model_version": ["v0"],
                "error_category": ["none"],
                "latency_ms": pa.array([30], pa.int32()),
            }
        ),
        older,
    )

    client = StoreClient(tmp_path, spec=region_spec())
    by_version = client.summary(by=("model_version",), window=None)
    by_region = client.summary(by=("region",), window=None)

    assert client.last_query_files == 3
    assert by_version.column("model_version").to_pylist() == ["v0", "v1", "v2"]
    assert by_version.column("count").to_pylist() == [1, 1, 1]
    assert by_version.column("latency_p50_ms").to_pylist() == [30.0, 10.0, None]
    assert dict(
        zip(
            by_region["region"].to_pylist(), by_region["count"].to_pylist(), strict=True
        )
    ) == {None: 2, "eu": 1}
