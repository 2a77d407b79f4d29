"""`on_emit` never raises: every attribute value gets a bucket or is counted."""

from __future__ import annotations

import decimal
import math

import numpy as np
import pytest
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource

from otel_mlbucket import BucketingProcessor
from otel_mlbucket import attributes as attr

EVERYWHERE = {
    "time": "record",
    "model_name": "record",
    "feature_type": "record",
    "validation": "record",
    "drift": "record",
    "latency": "record",
    "confidence": "record",
    "severity": "record",
}
SOURCES = [
    attr.MODEL_NAME,
    attr.MODEL_VERSION,
    attr.FEATURE_NAME,
    attr.FEATURE_TYPE,
    attr.FEATURE_VALUE,
    attr.VALIDATION_STATUS,
    attr.VALIDATION_REASON,
    attr.PREDICTION_EXPECTED,
    attr.PREDICTION_ACTUAL,
    attr.PREDICTION_CONFIDENCE,
    attr.INFERENCE_LATENCY_MS,
    attr.EXCEPTION_TYPE,
    attr.EVENT_NAME,
]


class _RaisingStr:
    def __str__(self):
        raise RuntimeError("no str")

    def __float__(self):
        raise RuntimeError("no float")

    def __index__(self):
        raise RuntimeError("no index")


class _RaisingHash:
    def __hash__(self):
        raise RuntimeError("no hash")

    def __eq__(self, other):
        raise RuntimeError("no eq")


class _EqualToEverything:
    """Equal to any value, with the hash of the string "v1", like mock.ANY."""

    def __hash__(self):
        return hash("v1")

    def __eq__(self, other):
        return True

    def __str__(self):
        return "anything"


class _ArrayLike:
    @property
    def ndim(self):
        raise RuntimeError("no ndim")


# Values the SDK's attribute cleaning lets through to the processor.
SDK_VALUES = [
    None,
    "",
    float("nan"),
    float("inf"),
    float("-inf"),
    -0.0,
    10**400,
    -(10**400),
    2**63,
    True,
    False,
    np.float64("nan"),
    np.float32(1.5),
    np.int64(-3),
    np.bool_(True),
    b"\xff\xfe",
    b"",
    {"nested": {"deeper": [1, 2]}},
    [1, "a", None],
    [],
    "x" * 1_000_000,
    "lone \ud800 surrogate",
    "\udfff",
    "ctrl\x00\x1b\x7f",
    "ünïcödé ✓ 模型",
    "1e400",
    "nan",
]

# Values that bypass the SDK's cleaning (a plain dict, or an older SDK).
RAW_VALUES = [
    *SDK_VALUES,
    _RaisingStr(),
    _RaisingHash(),
    _EqualToEverything(),
    _ArrayLike(),
    np.array([1.0, 2.0]),
    np.array(3.0),
    decimal.Decimal("NaN"),
    decimal.Decimal("12.5"),
    complex(1, 2),
    object(),
    frozenset({1}),
    range(3),
    memoryview(b"ab"),
]


def _closed_values(processor):
    values = processor.spec.bucket_values()
    return {processor.spec.attribute_name(out): v for out, v in values.items()}


def _assert_buckets_valid(processor, attributes):
    closed = _closed_values(processor)
    for name, allowed in closed.items():
        if name not in attributes:
            continue
        value = attributes[name]
        assert isinstance(value, str), (name, value)
        assert value.encode("utf-8")
        if allowed is not None:
            assert value in allowed, (name, value)


def _sdk_pipeline(processor):
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(processor)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    return provider.get_logger("values"), exporter


@pytest.mark.parametrize("value", SDK_VALUES, ids=repr)
def test_sdk_value_in_every_source(value):
    processor = BucketingProcessor(placements=EVERYWHERE)
    logger, exporter = _sdk_pipeline(processor)

    for source in SOURCES:
        logger.emit(body="b", attributes={source: value}, event_name="ml.prediction")
        logger.emit(body="b", attributes={source: value})

    stats = processor.stats()
    assert stats.records_bucketed == 2 * len(SOURCES)
    assert stats.records_failed == 0
    for record in exporter.get_finished_logs():
        _assert_buckets_valid(processor, dict(record.log_record.attributes))
        _assert_buckets_valid(processor, dict(record.resource.attributes))


def _raw_record(source, value, **fields):
    record = ReadWriteLogRecord(
        LogRecord(body="b", severity_number=SeverityNumber.INFO, **fields),
        resource=Resource.create({}),
    )
    record.log_record.attributes._dict[source] = value
    return record


@pytest.mark.parametrize("value", RAW_VALUES, ids=lambda v: type(v).__name__)
def test_raw_value_in_every_source(value):
    processor = BucketingProcessor(placements=EVERYWHERE)

    for source in SOURCES:
        for _ in range(2):
            record = _raw_record(source, value)
            processor.on_emit(record)
            _assert_buckets_valid(processor, record.log_record.attributes._dict)
            _assert_buckets_valid(processor, dict(record.resource.attributes))

    stats = processor.stats()
    assert stats.records_bucketed == 2 * len(SOURCES)
    assert stats.records_failed == 0


@pytest.mark.parametrize(
    "severity_number",
    [None, 0, 25, -5, 9.5, "INFO", True, np.int32(9), SeverityNumber.FATAL4],
    ids=repr,
)
def test_weird_severity(severity_number):
    processor = BucketingProcessor(placements=EVERYWHERE)
    record = _raw_record("a", 1)
    record.log_record.severity_number = severity_number

    processor.on_emit(record)

    severity = record.log_record.attributes["ml.bucket.severity"]
    assert severity in ("unspecified", "invalid", "info", "fatal")
    assert processor.stats().records_failed == 0


@pytest.mark.parametrize(
    "timestamp", [None, 0, -1, 10**30, 1.5, "now", True, np.uint64(2**63)], ids=repr
)
def test_weird_timestamp(timestamp):
    processor = BucketingProcessor(placements=EVERYWHERE)
    record = _raw_record("a", 1)
    record.log_record.timestamp = timestamp
    record.log_record.observed_timestamp = timestamp

    processor.on_emit(record)

    attributes = record.log_record.attributes
    assert attributes["ml.bucket.hour"] == "invalid" or attributes[
        "ml.bucket.hour"
    ].startswith("2262-")
    assert processor.stats().records_failed == 0


def test_unbucketable_counted_per_dimension():
    processor = BucketingProcessor(placements=EVERYWHERE)

    for value in (float("nan"), "fast", [1]):
        processor.on_emit(_raw_record(attr.INFERENCE_LATENCY_MS, value))
    processor.on_emit(_raw_record(attr.PREDICTION_CONFIDENCE, 1.5))
    processor.on_emit(_raw_record(attr.PREDICTION_EXPECTED, math.inf, event_name="x"))

    assert processor.stats().unbucketable == {"latency": 3, "confidence": 1}


def test_drift_invalid_counted():
    processor = BucketingProcessor(placements=EVERYWHERE)
    record = _raw_record(attr.PREDICTION_EXPECTED, "abc")
    record.log_record.attributes._dict[attr.PREDICTION_ACTUAL] = 1.0

    processor.on_emit(record)

    assert record.log_record.attributes["ml.bucket.drift"] == "invalid"
    assert processor.stats().unbucketable == {"drift": 1}


def test_missing_attributes_object():
    processor = BucketingProcessor(placements=EVERYWHERE)
    record = _raw_record("a", 1)
    record.log_record.attributes = None

    processor.on_emit(record)

    assert record.log_record.attributes["ml.bucket.model_name"] == "unknown"
    assert processor.stats().records_bucketed == 1


def test_missing_resource():
    processor = BucketingProcessor()
    record = _raw_record("a", 1)
    record.resource = None

    processor.on_emit(record)

    assert record.resource.attributes["ml.bucket.team"] == "unowned"


class _FloatWithoutValue(float):
    def __float__(self):
        raise RuntimeError("no value")


class _IntWithoutValue(int):
    def __float__(self):
        raise RuntimeError("no value")


@pytest.mark.parametrize("value", [_FloatWithoutValue(12.5), _IntWithoutValue(12)])
def test_number_subclass_raising_is_invalid(value):
    processor = BucketingProcessor(placements={"latency": "record"})
    record = _raw_record("ml.inference.latency_ms", value)

    processor.on_emit(record)

    assert record.log_record.attributes["ml.bucket.latency"] == "invalid"
    assert processor.stats().records_failed == 0
    assert processor.stats().unbucketable == {"latency": 1}
