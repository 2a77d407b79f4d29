"""Random records through the compiled `on_emit`, the reference path and `compute`.

The three must agree on every bucket that travels, and the compiled and reference
processors must count the same unbucketable and overflowed values. Records carry
realistic and hostile attribute values, written straight into the SDK's attribute
dict so that values the SDK's cleaning would drop still reach the processor.
"""

from __future__ import annotations

import math
import random
import threading
from typing import Any

import numpy as np
import pytest
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.sdk._logs import ReadWriteLogRecord
from opentelemetry.sdk.resources import Resource

from otel_mlbucket import BucketingProcessor
from otel_mlbucket import attributes as attr
from otel_mlbucket._values import to_text

RECORDS = 3000
SEED = 20261204
DAY_2026_01_01 = 1_767_225_600_000_000_000
DAY_NANOS = 86_400 * 1_000_000_000
RESOURCE = Resource.create({"service.name": "scorer"})

EVERYWHERE = {
    "time": "record",
    "model_name": "record",
    "model_version": "record",
    "feature_type": "record",
    "validation": "record",
    "error_category": "record",
    "drift": "record",
    "latency": "record",
    "confidence": "record",
    "severity": "record",
    "team": "record",
}
MIXED = {
    "model_name": "resource",
    "validation": "record",
    "latency": "record",
    "severity": "resource",
    "team": "record",
    "confidence": "record",
}
PLACEMENTS = {"default": None, "everywhere": EVERYWHERE, "mixed": MIXED}


class _PlainStr(str):
    """A str subclass with str's own equality and hash."""


class _CaseInsensitiveStr(str):
    """A str subclass that compares and hashes case-insensitively."""

    def __eq__(self, other):
        return isinstance(other, str) and self.casefold() == other.casefold()

    def __hash__(self):
        return hash(self.casefold())


def _around(boundaries: list[float]) -> list[float]:
    """Return each boundary and its two neighbouring floats."""
    values = []
    for boundary in boundaries:
        values.extend(
            [
                math.nextafter(boundary, -math.inf),
                boundary,
                math.nextafter(boundary, math.inf),
            ]
        )
    return values


HOSTILE = [
    None,
    -0.0,
    0.0,
    math.nan,
    math.inf,
    -math.inf,
    True,
    False,
    0,
    1,
    -7,
    10**400,
    np.float64(12.5),
    np.float32(0.75),
    np.int64(42),
    np.bool_(True),
    np.float64("nan"),
    "12.5",
    " 50 ",
    "1e3",
    "nan",
    "-inf",
    "",
    "not a number",
    b"12",
    b"\xff\xfe",
    [1.0, 2.0],
    {"nested": 1},
    "x" * 2000,
    "lone \ud800 surrogate",
    "ctrl\x00\x1b",
    _PlainStr("50"),
    _PlainStr("v1"),
]
LATENCIES = [*_around([10.0, 50.0, 100.0, 250.0, 500.0, 1000.0]), 5e-324, 1e308]
CONFIDENCES = [*_around([0.5, 0.7, 0.9]), *_around([0.0, 1.0])]
EXPECTED = [1.0, -1.0, 0.0, -0.0, 1e-300, 1e308, -1e308, 100.0, 3.0]
DRIFT_RATIOS = [0.0, 0.05, 0.15, 0.30, 0.0499999, 0.1500001, 0.3, 2.0]
STATUSES = [
    "passed",
    "pass",
    "ok",
    "valid",
    "success",
    "true",
    "failed",
    "fail",
    "error",
    "invalid",
    "failure",
    "false",
    "PASSED",
    "Failed",
    "maybe",
    True,
    False,
    np.bool_(False),
    1,
    0,
    1.0,
    None,
    "",
    _PlainStr("failed"),
]
# Every raw code of the default spec, then case variants and unknown codes.
REASONS = [
    "missing",
    "null",
    "none",
    "nan",
    "empty",
    "absent",
    "missing_value",
    "missing_feature",
    "corrupted",
    "corrupt",
    "invalid_value",
    "out_of_range",
    "type_error",
    "unparseable",
    "non_finite",
    "inf",
    "misaligned",
    "schema_mismatch",
    "wrong_shape",
    "shape_mismatch",
    "column_order",
    "extra_feature",
    "unexpected_feature",
    "format",
    "MISSING",
    "Schema_Mismatch",
    "unknown_code",
    "drift",
    None,
    3,
    b"missing",
]
EXCEPTIONS = [
    "TimeoutError",
    "requests.exceptions.ReadTimeout",
    "grpc.RpcError",
    "builtins.OSError",
    "OSErrorish",
    "ValueError",
    "pydantic.ValidationError",
    "MySchemaError",
    "KeyError",
    "",
    None,
    5,
    b"TimeoutError",
    "x" * 1030 + "TimeoutError",
    _PlainStr("MemoryError"),
]
EVENTS = [
    "ml.validation.failure",
    "ml.infrastructure.error",
    "ml.prediction.error",
    "ml.prediction",
    "",
    None,
    7,
    _PlainStr("ml.prediction.error"),
]
SEVERITIES = [
    None,
    0,
    25,
    -1,
    *range(1, 25),
    *SeverityNumber,
    np.int32(9),
    True,
    9.0,
]
FEATURE_TYPES = ["categorical", "NUMERIC", "ordinal", "weird", None, 3, b"num"]
FEATURE_NAMES = ["age", "country", None, 12]
VERSIONS = [f"v{index}" for index in range(48)]
MODEL_NAMES = [f"model-{index}" for index in range(80)]


def _pick(rng: random.Random, realistic: list[Any], hostile_share: float) -> Any:
    """Return a realistic value, or a hostile one with probability hostile_share."""
    if rng.random() < hostile_share:
        return rng.choice(HOSTILE)
    return rng.choice(realistic)


def _random_drift(rng: random.Random, attributes: dict[str, Any]) -> None:
    expected = rng.choice(EXPECTED)
    actual = expected + abs(expected) * rng.choice(DRIFT_RATIOS)
    if rng.random() < 0.15:
        expected = rng.choice(HOSTILE)
    if rng.random() < 0.15:
        actual = rng.choice(HOSTILE)
    attributes[attr.PREDICTION_EXPECTED] = expected
    attributes[attr.PREDICTION_ACTUAL] = actual


def random_record(rng: random.Random) -> dict[str, Any]:
    """Return one record description: attributes, severity, event name, times."""
    attributes: dict[str, Any] = {}
    optional = [
        (attr.MODEL_NAME, MODEL_NAMES, 0.1),
        (attr.MODEL_VERSION, VERSIONS, 0.1),
        (attr.INFERENCE_LATENCY_MS, LATENCIES, 0.25),
        (attr.PREDICTION_CONFIDENCE, CONFIDENCES, 0.25),
        (attr.VALIDATION_STATUS, STATUSES, 0.1),
        (attr.VALIDATION_REASON, REASONS, 0.1),
        (attr.EXCEPTION_TYPE, EXCEPTIONS, 0.1),
        (attr.EVENT_NAME, EVENTS, 0.1),
        (attr.FEATURE_TYPE, FEATURE_TYPES, 0.1),
        (attr.FEATURE_NAME, FEATURE_NAMES, 0.1),
        (attr.FEATURE_VALUE, LATENCIES, 0.5),
    ]
    for name, realistic, hostile_share in optional:
        if rng.random() < 0.6:
            attributes[name] = _pick(rng, realistic, hostile_share)
    if rng.random() < 0.6:
        _random_drift(rng, attributes)

    timestamp = DAY_2026_01_01 + rng.randrange(40 * DAY_NANOS)
    return {
        "attributes": attributes,
        "severity": rng.choice(SEVERITIES),
        "event_name": rng.choice(EVENTS) if rng.random() < 0.3 else None,
        "timestamp": rng.choice([timestamp, timestamp, timestamp, None, 0]),
        "observed": timestamp,
    }


def random_stream(seed: int, count: int = RECORDS) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [random_record(rng) for _ in range(count)]


def build_record(description: dict[str, Any]) -> ReadWriteLogRecord:
    """Return a fresh SDK record whose attribute dict contains the raw values."""
    record = ReadWriteLogRecord(
        LogRecord(
            timestamp=description["timestamp"],
            observed_timestamp=description["observed"],
            body="event",
            severity_number=SeverityNumber.INFO,
        ),
        resource=RESOURCE,
    )
    # The SDK's own cleaning would drop or convert some values, so bypass it.
    record.log_record.attributes._dict.update(description["attributes"])
    record.log_record.severity_number = description["severity"]
    record.log_record.event_name = description["event_name"]
    return record


def reference_processor(placements: dict[str, str] | None) -> BucketingProcessor:
    processor = BucketingProcessor(placements=placements)
    del processor.on_emit  # back to the class's written-out `on_emit`
    return processor


def emitted(processor: BucketingProcessor, description: dict[str, Any]) -> tuple:
    """Return the record and resource attributes after on_emit, as reprs."""
    record = build_record(description)
    processor.on_emit(record)
    return (
        repr(dict(record.log_record.attributes)),
        repr(dict(record.resource.attributes)),
    )


def travelling(processor: BucketingProcessor, buckets: dict[str, str]) -> tuple:
    """Return the bucket attributes on_emit should write for these computed buckets."""
    spec = processor.spec
    return (
        {spec.attribute_name(o): buckets[o] for o in spec.outputs("record")},
        {spec.attribute_name(o): buckets[o] for o in spec.outputs("resource")},
    )


def written(processor: BucketingProcessor, description: dict[str, Any]) -> tuple:
    """Return the bucket attributes on_emit writes to the record and the resource."""
    record = build_record(description)
    processor.on_emit(record)
    prefix = processor.spec.attribute_prefix + "."
    record_buckets = {
        k: v for k, v in record.log_record.attributes.items() if k.startswith(prefix)
    }
    resource_buckets = {
        k: v for k, v in record.resource.attributes.items() if k.startswith(prefix)
    }
    return record_buckets, resource_buckets


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_compiled_matches_reference(placement):
    placements = PLACEMENTS[placement]
    compiled = BucketingProcessor(placements=placements)
    reference = reference_processor(placements)
    stream = random_stream(SEED)

    mismatches = []
    for index, description in enumerate(stream):
        compiled_row = emitted(compiled, description)
        reference_row = emitted(reference, description)
        if compiled_row != reference_row:
            mismatches.append((index, description, compiled_row, reference_row))

    assert "on_emit" in vars(compiled)
    assert mismatches[:3] == []
    assert compiled.stats() == reference.stats()
    assert compiled.stats().records_bucketed == RECORDS
    assert compiled.stats().records_failed == 0


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_compiled_matches_compute(placement):
    placements = PLACEMENTS[placement]
    compiled = BucketingProcessor(placements=placements)
    # A second processor only for its spec: a fresh passthrough cap, fed in the
    # same order as the compiled processor's.
    direct = BucketingProcessor(placements=placements).spec
    stream = random_stream(SEED + 1)

    mismatches = []
    for index, description in enumerate(stream):
        fresh = build_record(description)
        buckets = direct.compute(fresh.log_record.attributes._dict, fresh.log_record)
        expected = travelling(compiled, buckets)
        actual = written(compiled, description)
        if actual != expected:
            mismatches.append((index, description, actual, expected))

    assert mismatches[:3] == []
    assert compiled.stats().records_failed == 0


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_reference_matches_compute(placement):
    placements = PLACEMENTS[placement]
    reference = reference_processor(placements)
    direct = BucketingProcessor(placements=placements).spec
    stream = random_stream(SEED + 2)

    mismatches = []
    for index, description in enumerate(stream):
        fresh = build_record(description)
        buckets = direct.compute(fresh.log_record.attributes._dict, fresh.log_record)
        expected = travelling(reference, buckets)
        actual = written(reference, description)
        if actual != expected:
            mismatches.append((index, description, actual, expected))

    assert mismatches[:3] == []
    assert reference.stats().records_failed == 0


def test_stats_match_on_repeats():
    """Repeated records hit the memo, so check that every unbucketable value is still counted."""
    compiled = BucketingProcessor(placements=EVERYWHERE)
    reference = reference_processor(EVERYWHERE)
    stream = random_stream(SEED + 3, 300) * 5

    for description in stream:
        compiled.on_emit(build_record(description))
        reference.on_emit(build_record(description))

    assert compiled.stats() == reference.stats()
    assert compiled.stats().records_bucketed == len(stream)


def _single_thread_unbucketable(stream: list[dict[str, Any]]) -> dict[str, int]:
    processor = BucketingProcessor(placements=EVERYWHERE)
    for description in stream:
        processor.on_emit(build_record(description))
    return processor.stats().unbucketable


def _overflowed_by_admitted(
    processor: BucketingProcessor, stream: list[dict[str, Any]]
) -> dict[str, int]:
    """Count the records whose passthrough value the processor did not admit."""
    overflowed = {}
    for dimension in processor.spec.dimensions:
        admitted = getattr(dimension, "_seen", None)
        if admitted is None:
            continue
        count = 0
        for description in stream:
            raw = description["attributes"].get(dimension.source)
            text = to_text(raw, dimension.max_length)
            if text.__class__ is str and text not in admitted:
                count += 1
        if count:
            overflowed[dimension.name] = count
    return overflowed


def test_threads_count_exactly():
    stream = random_stream(SEED + 4)
    processor = BucketingProcessor(placements=EVERYWHERE)
    quarters = [stream[index::4] for index in range(4)]
    barrier = threading.Barrier(4)
    outputs: list[list[tuple]] = [[] for _ in quarters]

    def run(index: int) -> None:
        barrier.wait()
        for description in quarters[index]:
            outputs[index].append(written(processor, description))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    stats = processor.stats()
    assert stats.records_bucketed == RECORDS
    assert stats.records_failed == 0
    assert stats.unbucketable == _single_thread_unbucketable(stream)
    assert stats.overflowed == _overflowed_by_admitted(processor, stream)

    # Once the caps are full, a spec seeded with the same admitted values computes
    # exactly what each thread wrote.
    direct = BucketingProcessor(placements=EVERYWHERE).spec
    for mine, theirs in zip(direct.dimensions, processor.spec.dimensions, strict=True):
        if hasattr(theirs, "_seen"):
            mine._seen.update(theirs._seen)
    mismatches = []
    for index, rows in enumerate(outputs):
        for description, actual in zip(quarters[index], rows, strict=True):
            fresh = build_record(description)
            buckets = direct.compute(
                fresh.log_record.attributes._dict, fresh.log_record
            )
            if actual != travelling(processor, buckets):
                mismatches.append((description, actual))
    assert mismatches[:3] == []


@pytest.mark.xfail(
    strict=True,
    reason="memo bug: an entry stored for a key of plain strings skips the type "
    "check, so a str subclass whose __eq__ and __hash__ match another string gets "
    "that string's buckets (processor.py _memoized_entry, _compiled.py cached[0] is None)",
)
def test_str_subclass_equality_memo():
    """A str subclass equal to another string must not get that string's buckets."""
    processor = BucketingProcessor()
    plain = {"attributes": {attr.MODEL_VERSION: "v1"}, "severity": 9}
    subclass = {"attributes": {attr.MODEL_VERSION: _CaseInsensitiveStr("V1")}}
    for description in (plain, subclass):
        description.setdefault("severity", 9)
        description.update(event_name=None, timestamp=DAY_2026_01_01, observed=1)

    first = written(processor, plain)[1]
    second = written(processor, subclass)[1]

    assert first["ml.bucket.model_version"] == "v1"
    assert second["ml.bucket.model_version"] == "V1"
