"""The bucketing processor on a real SDK pipeline: attributes, resources, limits,
counts and memoization."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource

from otel_mlbucket import BucketingProcessor, BucketSpec
from otel_mlbucket import attributes as attr
from otel_mlbucket import processor as processor_module

RECORD_PLACEMENTS = {
    "model_name": "record",
    "validation": "record",
    "severity": "record",
    "drift": "record",
}


class _Pipeline:
    """A provider with one processor first and an in-memory exporter after it."""

    def __init__(self, processor: LogRecordProcessor, resource: Resource | None = None):
        self.processor = processor
        self.exporter = InMemoryLogRecordExporter()
        self.provider = LoggerProvider(
            resource=resource or Resource.create({"service.name": "svc"}),
            shutdown_on_exit=False,
        )
        self.provider.add_log_record_processor(processor)
        self.provider.add_log_record_processor(SimpleLogRecordProcessor(self.exporter))
        self.logger = self.provider.get_logger("test")

    def emit(self, attributes=None, **fields):
        fields.setdefault("severity_number", SeverityNumber.INFO)
        self.logger.emit(body="event", attributes=attributes, **fields)

    def records(self):
        return self.exporter.get_finished_logs()


def _pipeline(**options) -> _Pipeline:
    return _Pipeline(BucketingProcessor(**options))


def test_record_attributes_written():
    pipeline = _pipeline(placements=RECORD_PLACEMENTS)

    pipeline.emit(
        {
            attr.MODEL_NAME: "churn",
            attr.VALIDATION_STATUS: "failed",
            attr.VALIDATION_REASON: "schema_mismatch",
            attr.PREDICTION_EXPECTED: 10,
            attr.PREDICTION_ACTUAL: 13,
        },
        severity_number=SeverityNumber.WARN2,
    )

    attributes = dict(pipeline.records()[0].log_record.attributes)
    assert attributes["ml.bucket.model_name"] == "churn"
    assert attributes["ml.bucket.validation"] == "failed"
    assert attributes["ml.bucket.validation_reason"] == "misaligned"
    assert attributes["ml.bucket.severity"] == "warn"
    assert attributes["ml.bucket.drift"] == "severe"
    assert attributes[attr.MODEL_NAME] == "churn"


def test_store_dimensions_not_written():
    pipeline = _pipeline(placements=RECORD_PLACEMENTS)

    pipeline.emit({attr.INFERENCE_LATENCY_MS: 20, attr.PREDICTION_CONFIDENCE: 0.9})

    record = pipeline.records()[0]
    names = set(record.log_record.attributes) | set(record.resource.attributes)
    assert "ml.bucket.latency" not in names
    assert "ml.bucket.confidence" not in names
    assert "ml.bucket.hour" not in names


def test_resource_routing_attributes():
    pipeline = _pipeline()

    pipeline.emit({attr.MODEL_VERSION: "v3", attr.EXCEPTION_TYPE: "TimeoutError"})

    record = pipeline.records()[0]
    assert record.resource.attributes["ml.bucket.model_version"] == "v3"
    assert record.resource.attributes["ml.bucket.error_category"] == (
        "infrastructure_error"
    )
    assert record.resource.attributes["ml.bucket.team"] == "infrastructure"
    assert record.resource.attributes["service.name"] == "svc"
    assert "ml.bucket.team" not in record.log_record.attributes


def test_resource_keeps_schema_url():
    base = Resource({"service.name": "svc"}, "https://opentelemetry.io/schemas/1.21.0")
    pipeline = _Pipeline(BucketingProcessor(), resource=base)

    pipeline.emit({})

    resource = pipeline.records()[0].resource
    assert resource.schema_url == "https://opentelemetry.io/schemas/1.21.0"
    assert resource.attributes["ml.bucket.team"] == "unowned"


def test_resource_cached_per_combination():
    pipeline = _pipeline()
    combinations = [
        {attr.MODEL_VERSION: "v1"},
        {attr.MODEL_VERSION: "v2"},
        {attr.MODEL_VERSION: "v1", attr.EXCEPTION_TYPE: "KeyError"},
        {attr.MODEL_VERSION: "v1", attr.INFERENCE_LATENCY_MS: 3000},
    ]

    for _ in range(3):
        for attributes in combinations:
            pipeline.emit(attributes)

    resources = [record.resource for record in pipeline.records()]
    first_round = resources[:4]
    assert len({id(resource) for resource in first_round}) == 4
    for index, resource in enumerate(resources):
        assert resource is first_round[index % 4]


def test_count_limit_keeps_user_attributes(monkeypatch):
    monkeypatch.setenv("OTEL_ATTRIBUTE_COUNT_LIMIT", "5")
    pipeline = _pipeline(placements=RECORD_PLACEMENTS)
    user = {attr.MODEL_NAME: "churn", "user.a": 1, "user.b": 2}

    pipeline.emit(user)

    attributes = dict(pipeline.records()[0].log_record.attributes)
    assert {key: attributes[key] for key in user} == user
    assert len(attributes) == 5
    assert attributes["ml.bucket.model_name"] == "churn"
    assert attributes["ml.bucket.validation"] == "not_validated"
    assert pipeline.processor.stats().attributes_skipped == 3


def test_count_limit_full_record(monkeypatch, caplog):
    monkeypatch.setenv("OTEL_ATTRIBUTE_COUNT_LIMIT", "2")
    pipeline = _pipeline(placements=RECORD_PLACEMENTS)

    with caplog.at_level(logging.WARNING, logger="otel_mlbucket.processor"):
        pipeline.emit({"user.a": 1, "user.b": 2})
        pipeline.emit({"user.a": 1, "user.b": 2})

    record = pipeline.records()[0]
    assert dict(record.log_record.attributes) == {"user.a": 1, "user.b": 2}
    assert record.log_record.attributes.dropped == 0
    assert pipeline.processor.stats().attributes_skipped == 10
    assert pipeline.processor.stats().records_bucketed == 2
    assert [r.getMessage() for r in caplog.records] == [
        "5 bucket attributes were not written because the record reached the "
        "attribute count limit of 2; raise OTEL_ATTRIBUTE_COUNT_LIMIT or move "
        "dimensions to the resource"
    ]


def test_value_length_limit_not_applied(monkeypatch):
    monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "3")
    pipeline = _pipeline(placements=RECORD_PLACEMENTS)

    pipeline.emit({attr.MODEL_NAME: "diabetes-progression", attr.MODEL_VERSION: "v42"})

    record = pipeline.records()[0]
    assert record.log_record.attributes[attr.MODEL_NAME] == "dia"
    assert record.log_record.attributes["ml.bucket.model_name"] == "dia"
    assert record.log_record.attributes["ml.bucket.validation"] == "not_validated"
    assert record.resource.attributes["ml.bucket.error_category"] == "none"


def test_value_length_limit_bucket_of_long_value(monkeypatch):
    monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "1")
    pipeline = _pipeline(placements=RECORD_PLACEMENTS)

    pipeline.emit({attr.PREDICTION_EXPECTED: 10, attr.PREDICTION_ACTUAL: 12})

    attributes = pipeline.records()[0].log_record.attributes
    assert attributes["ml.bucket.drift"] == "moderate"
    assert attributes["ml.bucket.severity"] == "info"


def test_bounded_attributes_internals_pinned(monkeypatch):
    """The processor writes through these BoundedAttributes internals."""
    monkeypatch.setenv("OTEL_ATTRIBUTE_COUNT_LIMIT", "7")
    pipeline = _Pipeline(_Capturing())

    pipeline.emit({"a": 1})

    attributes = pipeline.processor.seen[0].log_record.attributes
    assert type(attributes) is BoundedAttributes
    assert isinstance(attributes._dict, dict)
    assert attributes._dict == {"a": 1}
    assert attributes.maxlen == 7
    with attributes._lock:
        pass
    assert processor_module._FAST_ATTRIBUTES is True


class _Capturing(LogRecordProcessor):
    def __init__(self):
        self.seen = []

    def on_emit(self, log_record):
        self.seen.append(log_record)

    def shutdown(self):
        return None

    def force_flush(self, timeout_millis=30000):
        return True


class _ExplodingMapping(dict):
    def get(self, key, default=None):
        raise RuntimeError("attribute store is broken")


def test_failed_record_travels_on(caplog):
    pipeline = _pipeline()
    capture = _Capturing()
    pipeline.provider.add_log_record_processor(capture)

    pipeline.emit({"a": 1})
    record = capture.seen[0]
    record.log_record.attributes = _ExplodingMapping(a=1)
    with caplog.at_level(logging.WARNING, logger="otel_mlbucket.processor"):
        pipeline.processor.on_emit(record)
        pipeline.processor.on_emit(record)

    stats = pipeline.processor.stats()
    assert stats.records_failed == 2
    assert stats.records_bucketed == 1
    assert [r.getMessage() for r in caplog.records] == [
        "Bucketing a log record failed; the record travels on unbucketed: "
        "RuntimeError('attribute store is broken')"
    ]


def test_plain_dict_attributes():
    processor = BucketingProcessor(placements=RECORD_PLACEMENTS)
    capture = _Capturing()
    _Pipeline(capture).emit({attr.MODEL_NAME: "m"})
    record = capture.seen[0]
    record.log_record.attributes = None

    processor.on_emit(record)
    processor.on_emit(record)
    first = record.log_record.attributes
    record.log_record.attributes = None
    processor.on_emit(record)
    first["user.change"] = 1

    assert record.log_record.attributes["ml.bucket.model_name"] == "unknown"
    assert "user.change" not in record.log_record.attributes


# Attribute values that are equal in Python but bucket differently, and others.
MEMO_VALUES = [
    {attr.MODEL_VERSION: 1},
    {attr.MODEL_VERSION: 1.0},
    {attr.MODEL_VERSION: True},
    {attr.MODEL_VERSION: "1"},
    {attr.MODEL_VERSION: "true"},
    {attr.VALIDATION_STATUS: True},
    {attr.VALIDATION_STATUS: 1},
    {attr.VALIDATION_STATUS: 1.0},
    {attr.VALIDATION_STATUS: "passed"},
    {attr.VALIDATION_STATUS: False, attr.VALIDATION_REASON: "missing"},
    {attr.VALIDATION_STATUS: 0, attr.VALIDATION_REASON: "missing"},
    {attr.MODEL_NAME: "m", attr.EXCEPTION_TYPE: "ValueError"},
    {attr.MODEL_NAME: "m", attr.EXCEPTION_TYPE: "TimeoutError"},
    {attr.FEATURE_VALUE: 1.5},
    {attr.FEATURE_VALUE: "red"},
    {attr.FEATURE_VALUE: float("nan")},
    {attr.FEATURE_VALUE: 2},
    {attr.PREDICTION_EXPECTED: 10, attr.PREDICTION_ACTUAL: 13},
    {attr.PREDICTION_EXPECTED: 10, attr.PREDICTION_ACTUAL: 10},
    {attr.MODEL_VERSION: float("nan")},
    {attr.MODEL_VERSION: np.float64(2.0)},
    {attr.MODEL_VERSION: 2.0},
    {attr.MODEL_VERSION: 2},
]
ALL_PLACEMENTS = {
    "model_name": "record",
    "feature_type": "record",
    "validation": "record",
    "drift": "record",
    "severity": "record",
}


def _buckets_of(record, spec):
    names = {spec.attribute_name(output): output for output in spec.outputs()}
    found = {**record.log_record.attributes, **record.resource.attributes}
    return {names[key]: value for key, value in found.items() if key in names}


def _expected_buckets(cases):
    spec = BucketSpec.default().with_placements(ALL_PLACEMENTS)
    travelling = set(spec.outputs("record")) | set(spec.outputs("resource"))
    capture = _Pipeline(_Capturing())
    expected = []
    for values, severity in cases:
        capture.emit(values, severity_number=severity)
        record = capture.processor.seen[-1].log_record
        buckets = spec.compute(dict(values), record)
        expected.append({k: v for k, v in buckets.items() if k in travelling})

    return expected


@pytest.mark.parametrize("order", ["forward", "backward"])
def test_memo_never_changes_result(order):
    pipeline = _pipeline(placements=ALL_PLACEMENTS)
    cases = [
        (values, severity)
        for values in MEMO_VALUES
        for severity in (SeverityNumber.INFO, 9, SeverityNumber.ERROR, True, 9.0)
    ]
    if order == "backward":
        cases.reverse()
    expected = _expected_buckets(cases)

    for _ in range(2):
        for values, severity in cases:
            pipeline.emit(values, severity_number=severity)

    spec = pipeline.processor.spec
    for index, record in enumerate(pipeline.records()):
        values, severity = cases[index % len(cases)]
        assert _buckets_of(record, spec) == expected[index % len(cases)], (
            values,
            severity,
        )


def _capped_spec(max_distinct):
    spec = BucketSpec.default().source
    spec["dimensions"]["model_version"]["max_distinct"] = max_distinct
    return BucketSpec.from_dict(spec)


def test_memo_keeps_overflow_counts():
    pipeline = _pipeline(spec=_capped_spec(1))

    for version in ("a", "b", "b", "b", "a", "c"):
        pipeline.emit({attr.MODEL_VERSION: version})

    versions = [
        r.resource.attributes["ml.bucket.model_version"] for r in pipeline.records()
    ]
    assert versions == ["a", "other", "other", "other", "a", "other"]
    assert pipeline.processor.stats().overflowed == {"model_version": 4}


def test_memo_keeps_unbucketable_counts():
    pipeline = _pipeline(placements=ALL_PLACEMENTS)

    for _ in range(5):
        pipeline.emit({attr.MODEL_VERSION: float("nan")})
        pipeline.emit({attr.VALIDATION_STATUS: "maybe"})
        pipeline.emit({attr.FEATURE_TYPE: "text"})
    pipeline.emit({}, severity_number=99)
    pipeline.emit({}, severity_number=99)

    assert pipeline.processor.stats().unbucketable == {
        "model_version": 5,
        "validation": 5,
        "feature_type": 5,
        "severity": 2,
    }


def test_memo_admits_each_value_once():
    pipeline = _pipeline(spec=_capped_spec(2))

    for version in ("a", "b", "c", "a", "c", "b", "d", "c"):
        pipeline.emit({attr.MODEL_VERSION: version})

    versions = [
        r.resource.attributes["ml.bucket.model_version"] for r in pipeline.records()
    ]
    assert versions == ["a", "b", "other", "a", "other", "b", "other", "other"]
    assert pipeline.processor.stats().overflowed == {"model_version": 4}


def test_threads_count_exactly():
    pipeline = _pipeline(spec=_capped_spec(3), placements=ALL_PLACEMENTS)
    per_thread = 600
    start = threading.Barrier(4)

    def emit(thread_index):
        start.wait()
        for index in range(per_thread):
            pipeline.emit(
                {
                    attr.MODEL_VERSION: f"v{(index + thread_index) % 6}",
                    attr.VALIDATION_STATUS: "maybe" if index % 5 == 0 else "passed",
                }
            )

    threads = [threading.Thread(target=emit, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    stats = pipeline.processor.stats()
    versions = [
        r.resource.attributes["ml.bucket.model_version"] for r in pipeline.records()
    ]
    admitted = {v for v in versions if v != "other"}
    assert stats.records_bucketed == 4 * per_thread
    assert stats.records_failed == 0
    assert len(admitted) == 3
    assert stats.overflowed == {"model_version": versions.count("other")}
    assert versions.count("other") == 4 * per_thread // 2
    assert stats.unbucketable == {"validation": 4 * per_thread // 5}


def test_memo_bounded(monkeypatch):
    monkeypatch.setattr(processor_module, "_MAX_MEMO", 8)
    pipeline = _pipeline(spec=_capped_spec(1000))

    for index in range(50):
        pipeline.emit({attr.MODEL_VERSION: f"v{index}"})

    assert len(pipeline.processor._memo) <= 8
    assert pipeline.records()[-1].resource.attributes["ml.bucket.model_version"] == (
        "v49"
    )


def test_long_key_not_memoized():
    pipeline = _pipeline()

    pipeline.emit({attr.EXCEPTION_TYPE: "E" * 5000})
    pipeline.emit({attr.EXCEPTION_TYPE: "E" * 5000})

    assert pipeline.processor._memo == {}
    assert pipeline.records()[1].resource.attributes["ml.bucket.team"] == "modelling"


def test_spec_from_environment(monkeypatch, tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(
        "dimensions:\n  tier:\n    kind: passthrough\n    source: tier\n"
        "    placement: record\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("OTEL_MLBUCKET_SPEC", str(path))
    pipeline = _pipeline()

    pipeline.emit({"tier": "gold"})

    assert pipeline.records()[0].log_record.attributes["ml.bucket.tier"] == "gold"


def test_processor_lifecycle():
    processor = BucketingProcessor()

    assert processor.force_flush(10) is True
    assert processor.shutdown() is None
