"""Each dimension of the default spec maps values to the documented buckets."""

from __future__ import annotations

import decimal

import numpy as np
import pytest
from opentelemetry._logs import LogRecord, SeverityNumber

from otel_mlbucket import BucketSpec
from otel_mlbucket import attributes as attr


@pytest.fixture
def spec():
    return BucketSpec.default()


def _compute(spec, attributes, **record):
    log_record = LogRecord(timestamp=1_767_225_600 * 10**9, **record)
    return spec.compute(attributes, log_record)


@pytest.mark.parametrize(
    ("latency_ms", "bucket"),
    [
        (0, "<10ms"),
        (9.999, "<10ms"),
        (10, "10-50ms"),
        (49.999, "10-50ms"),
        (50, "50-100ms"),
        (50.0, "50-100ms"),
        (100, "100-250ms"),
        (250, "250-500ms"),
        (500, "500-1000ms"),
        (999.999, "500-1000ms"),
        (1000, ">=1000ms"),
        (10**9, ">=1000ms"),
        ("50", "50-100ms"),
        (" 10 ", "10-50ms"),
        (np.float64(100.0), "100-250ms"),
        (np.float32(10.0), "10-50ms"),
        (np.int64(500), "500-1000ms"),
        (decimal.Decimal("250"), "250-500ms"),
        (None, "none"),
        ("", "none"),
    ],
)
def test_latency_range(spec, latency_ms, bucket):
    assert spec.dimension_of("latency").bucket_of(latency_ms) == bucket


@pytest.mark.parametrize(
    "latency_ms",
    [
        -0.001,
        -1,
        float("nan"),
        float("inf"),
        float("-inf"),
        np.float64("nan"),
        "fast",
        "nan",
        "1e999",
        True,
        np.bool_(True),
        b"50",
        [50],
        {"ms": 50},
        np.array([50.0]),
        10**400,
        complex(1, 2),
        "5" * 65,
    ],
)
def test_latency_invalid_counted(spec, latency_ms):
    bucket = spec.dimension_of("latency").bucket_of(latency_ms)

    assert bucket == "invalid"
    assert spec.stats.snapshot().unbucketable == {"latency": 1}


@pytest.mark.parametrize(
    ("confidence", "bucket"),
    [
        (0, "very_low"),
        (0.0, "very_low"),
        (0.4999, "very_low"),
        (0.5, "low"),
        (0.7, "medium"),
        (0.9, "high"),
        (1, "high"),
        (1.0, "high"),
        (1.0000001, "invalid"),
        (-0.0000001, "invalid"),
    ],
)
def test_confidence_range(spec, confidence, bucket):
    assert spec.dimension_of("confidence").bucket_of(confidence) == bucket


@pytest.mark.parametrize(
    ("expected", "actual", "bucket"),
    [
        (20, 20, "within_tolerance"),
        (20, 20.999, "within_tolerance"),
        (20, 21, "minor"),
        (20, 19, "minor"),
        (20, 23, "moderate"),
        (10, 13, "severe"),
        (10, 7, "severe"),
        (-20, -21, "minor"),
        (0, 0, "within_tolerance"),
        (0, 1e-12, "within_tolerance"),
        (0, 1, "severe"),
        ("20", "23", "moderate"),
        (np.float64(20), np.float32(21), "minor"),
        (None, 1.0, "not_measured"),
        (1.0, None, "not_measured"),
        (float("nan"), 1.0, "invalid"),
        (1.0, float("inf"), "invalid"),
        ("a", 1.0, "invalid"),
        (True, 1.0, "invalid"),
        (1e308, -1e308, "invalid"),
    ],
)
def test_drift_relative(spec, expected, actual, bucket):
    assert spec.dimension_of("drift").bucket_of(expected, actual) == bucket


@pytest.mark.parametrize(
    ("expected", "actual", "bucket"),
    [
        (100, 100.04, "within_tolerance"),
        (0, 0.05, "minor"),
        (0, 0.15, "moderate"),
        (0, 0.3, "severe"),
        (1000, 1000.25, "moderate"),
    ],
)
def test_drift_absolute(expected, actual, bucket):
    dimension = {
        "kind": "drift",
        "expected_source": "e",
        "actual_source": "a",
        "measure": "absolute",
        "boundaries": [0.05, 0.15, 0.30],
        "buckets": ["within_tolerance", "minor", "moderate", "severe"],
    }
    spec = BucketSpec.from_dict({"dimensions": {"drift": dimension}})

    assert spec.dimension_of("drift").bucket_of(expected, actual) == bucket


SEVERITY_OF_NUMBER = {
    **dict.fromkeys(range(1, 5), "trace"),
    **dict.fromkeys(range(5, 9), "debug"),
    **dict.fromkeys(range(9, 13), "info"),
    **dict.fromkeys(range(13, 17), "warn"),
    **dict.fromkeys(range(17, 21), "error"),
    **dict.fromkeys(range(21, 25), "fatal"),
}


@pytest.mark.parametrize(("number", "bucket"), sorted(SEVERITY_OF_NUMBER.items()))
def test_severity_every_number(spec, number, bucket):
    severity = spec.dimension_of("severity")

    assert severity.bucket_of(number) == bucket
    assert severity.bucket_of(SeverityNumber(number)) == bucket


@pytest.mark.parametrize(
    ("severity_number", "bucket"),
    [
        (None, "unspecified"),
        (0, "unspecified"),
        (SeverityNumber.UNSPECIFIED, "unspecified"),
        (np.int64(17), "error"),
        (25, "invalid"),
        (-1, "invalid"),
        (True, "invalid"),
        (9.0, "invalid"),
        ("info", "invalid"),
    ],
)
def test_severity_edge_values(spec, severity_number, bucket):
    assert spec.dimension_of("severity").bucket_of(severity_number) == bucket


def test_severity_custom_starts():
    starts = {"low": 1, "notice": 10, "high": 17}
    spec = BucketSpec.from_dict(
        {"dimensions": {"severity": {"kind": "severity", "starts": starts}}}
    )
    severity = spec.dimension_of("severity")

    assert severity.bucket_of(SeverityNumber.DEBUG4) == "low"
    assert severity.bucket_of(SeverityNumber.INFO2) == "notice"
    assert severity.bucket_of(SeverityNumber.WARN4) == "notice"
    assert severity.bucket_of(SeverityNumber.ERROR) == "high"


@pytest.mark.parametrize(
    ("declared", "feature", "value", "bucket"),
    [
        ("categorical", None, None, "categorical"),
        ("Numeric", None, "abc", "numerical"),
        ("cat", None, None, "categorical"),
        ("text", None, None, "invalid"),
        ({"t": 1}, None, None, "invalid"),
        (None, "sex", 1, "categorical"),
        (None, "age", "x", "numerical"),
        (None, "unknown", "red", "categorical"),
        (None, None, True, "categorical"),
        (None, None, np.bool_(False), "categorical"),
        (None, None, 3, "numerical"),
        (None, None, np.float32(0.5), "numerical"),
        (None, None, "3.5", "categorical"),
        (None, None, None, "none"),
        (None, None, float("nan"), "invalid"),
        (None, None, [1, 2], "invalid"),
    ],
)
def test_feature_type(declared, feature, value, bucket):
    spec = BucketSpec.default().with_feature_schema(
        {"sex": "categorical", "age": "numerical"}
    )

    assert spec.dimension_of("feature_type").bucket_of(declared, feature, value) == (
        bucket
    )


@pytest.mark.parametrize(
    ("status", "reason", "outcome", "reason_bucket"),
    [
        (None, None, "not_validated", "none"),
        ("passed", None, "passed", "none"),
        ("OK", "missing", "passed", "none"),
        (True, None, "passed", "none"),
        (np.bool_(True), None, "passed", "none"),
        (False, "missing", "failed", "missing"),
        ("failed", "missing", "failed", "missing"),
        ("failed", "NULL", "failed", "missing"),
        ("failed", "missing_feature", "failed", "missing"),
        ("failed", "corrupted", "failed", "corrupted"),
        ("failed", "out_of_range", "failed", "corrupted"),
        ("failed", "non_finite", "failed", "corrupted"),
        ("failed", "misaligned", "failed", "misaligned"),
        ("failed", "schema_mismatch", "failed", "misaligned"),
        ("failed", "format", "failed", "misaligned"),
        ("failed", "cosmic_ray", "failed", "other"),
        ("failed", None, "failed", "other"),
        ("failed", {"code": "missing"}, "failed", "other"),
        (None, "wrong_shape", "failed", "misaligned"),
        ("maybe", None, "invalid", "none"),
        (1, None, "invalid", "none"),
    ],
)
def test_validation(spec, status, reason, outcome, reason_bucket):
    validation = spec.dimension_of("validation")

    assert validation.bucket_of(status, reason) == (outcome, reason_bucket)


ERROR_CATEGORY_CASES = [
    ({}, None, "none"),
    ({attr.EXCEPTION_TYPE: "ValueError"}, None, "prediction_error"),
    ({attr.EXCEPTION_TYPE: "TimeoutError"}, None, "infrastructure_error"),
    (
        {attr.EXCEPTION_TYPE: "requests.exceptions.ReadTimeout"},
        None,
        "infrastructure_error",
    ),
    ({attr.EXCEPTION_TYPE: "grpc.RpcError"}, None, "infrastructure_error"),
    ({attr.EXCEPTION_TYPE: "MyTimeoutErrorWrapper"}, None, "prediction_error"),
    ({attr.EXCEPTION_TYPE: "pydantic.ValidationError"}, None, "data_validation_error"),
    ({attr.EXCEPTION_TYPE: "pandera.SchemaError"}, None, "data_validation_error"),
    ({}, "ml.validation.failure", "data_validation_error"),
    ({}, "ml.infrastructure.error", "infrastructure_error"),
    ({}, "ml.prediction.error", "prediction_error"),
    ({}, "ml.prediction", "none"),
    ({attr.VALIDATION_STATUS: "failed"}, None, "data_validation_error"),
    (
        {attr.VALIDATION_STATUS: "failed", attr.EXCEPTION_TYPE: "TimeoutError"},
        None,
        "data_validation_error",
    ),
    (
        {attr.EXCEPTION_TYPE: "ConnectionError"},
        "ml.prediction.error",
        "infrastructure_error",
    ),
    (
        {attr.EVENT_NAME: "ml.infrastructure.error"},
        "ml.prediction",
        "infrastructure_error",
    ),
]


@pytest.mark.parametrize(("attributes", "event_name", "category"), ERROR_CATEGORY_CASES)
def test_error_category(spec, attributes, event_name, category):
    buckets = _compute(spec, attributes, event_name=event_name)

    assert buckets["error_category"] == category


# Rules in order: data_validation_error, infrastructure_error, prediction_error,
# drift moderate or severe, latency 500 ms or more; the first match wins.
TEAM_CASES = [
    ({}, "unowned"),
    ({attr.VALIDATION_STATUS: "failed"}, "data_engineering"),
    (
        {
            attr.VALIDATION_STATUS: "failed",
            attr.PREDICTION_EXPECTED: 10,
            attr.PREDICTION_ACTUAL: 20,
            attr.INFERENCE_LATENCY_MS: 5000,
        },
        "data_engineering",
    ),
    (
        {
            attr.EXCEPTION_TYPE: "TimeoutError",
            attr.PREDICTION_EXPECTED: 10,
            attr.PREDICTION_ACTUAL: 20,
        },
        "infrastructure",
    ),
    ({attr.EXCEPTION_TYPE: "KeyError", attr.INFERENCE_LATENCY_MS: 5000}, "modelling"),
    (
        {
            attr.PREDICTION_EXPECTED: 10,
            attr.PREDICTION_ACTUAL: 13,
            attr.INFERENCE_LATENCY_MS: 5000,
        },
        "modelling",
    ),
    ({attr.PREDICTION_EXPECTED: 20, attr.PREDICTION_ACTUAL: 21}, "unowned"),
    ({attr.PREDICTION_EXPECTED: 20, attr.PREDICTION_ACTUAL: 23}, "modelling"),
    ({attr.INFERENCE_LATENCY_MS: 499.999}, "unowned"),
    ({attr.INFERENCE_LATENCY_MS: 500}, "infrastructure"),
    ({attr.INFERENCE_LATENCY_MS: "garbage"}, "unowned"),
]


@pytest.mark.parametrize(("attributes", "team"), TEAM_CASES)
def test_team_first_match(spec, attributes, team):
    assert _compute(spec, attributes)["team"] == team


def test_team_exactly_one_per_record(spec):
    values = set(spec.bucket_values()["team"])
    for attributes, _ in TEAM_CASES:
        buckets = _compute(spec, attributes)
        assert buckets["team"] in values


def test_passthrough_cap_and_overflow():
    spec = BucketSpec.from_dict(
        {
            "dimensions": {
                "model": {"kind": "passthrough", "source": "m", "max_distinct": 2}
            }
        }
    )
    model = spec.dimension_of("model")

    buckets = [model.bucket_of(value) for value in ("a", "b", "c", "a", "c", "b", "d")]

    assert buckets == ["a", "b", "other", "a", "other", "b", "other"]
    assert spec.stats.snapshot().overflowed == {"model": 3}


@pytest.mark.parametrize(
    ("value", "bucket"),
    [
        (None, "unknown"),
        ("", "unknown"),
        ("v1", "v1"),
        (3, "3"),
        (3.5, "3.5"),
        (np.int64(7), "7"),
        (True, "true"),
        (b"v\xff2", "v\ufffd2"),
        ("x" * 200, "x" * 64),
        ("bad\ud800name", "bad\ufffdname"),
        ("two\nlines", "two\ufffdlines"),
        ("modèle-ü", "modèle-ü"),
    ],
)
def test_passthrough_values(value, bucket):
    spec = BucketSpec.default()

    assert spec.dimension_of("model_version").bucket_of(value) == bucket


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), np.float32("nan"), [1], {"a": 1}, {1, 2}, np.ones(2)],
)
def test_passthrough_invalid_counted(value):
    spec = BucketSpec.default()

    assert spec.dimension_of("model_version").bucket_of(value) == "invalid"
    assert spec.stats.snapshot().unbucketable == {"model_version": 1}
    assert spec.stats.snapshot().overflowed == {}


def _rule_spec(when):
    rules = [{"bucket": "hit", "when": when}]
    return BucketSpec.from_dict(
        {"dimensions": {"r": {"kind": "rules", "rules": rules, "default": "miss"}}}
    )


@pytest.mark.parametrize(
    ("when", "value", "bucket"),
    [
        ({"equals": True}, True, "hit"),
        ({"equals": True}, "true", "hit"),
        ({"equals": True}, 1, "miss"),
        ({"equals": 1}, 1, "hit"),
        ({"equals": 1}, 1.0, "hit"),
        ({"equals": 1}, "1", "hit"),
        ({"equals": 1}, True, "miss"),
        ({"equals": "1"}, 1, "hit"),
        ({"equals": "a"}, "A", "miss"),
        ({"equals": "a"}, None, "miss"),
        ({"in": ["a", 2]}, "a", "hit"),
        ({"in": ["a", 2]}, 2.0, "hit"),
        ({"in": ["a", 2]}, "b", "miss"),
        ({"exists": True}, 0, "hit"),
        ({"exists": True}, None, "miss"),
        ({"exists": False}, None, "hit"),
        ({"matches": "^Err"}, "Error", "hit"),
        ({"matches": "^Err"}, b"Error", "hit"),
        ({"matches": "Error$"}, "x" * 10**6 + "Error", "miss"),
        ({"matches": "^x"}, "x" * 10**6, "hit"),
        ({"matches": "^Err"}, {"a": 1}, "miss"),
    ],
)
def test_rule_operators(when, value, bucket):
    spec = _rule_spec({"attribute": "a", **when})

    assert _compute(spec, {"a": value} if value is not None else {})["r"] == bucket


def test_event_name_read_from_record_field():
    spec = _rule_spec({"attribute": "event.name", "equals": "ml.prediction"})

    assert _compute(spec, {}, event_name="ml.prediction")["r"] == "hit"
    assert _compute(spec, {"event.name": "ml.prediction"})["r"] == "hit"
    assert _compute(spec, {}, event_name="other")["r"] == "miss"


def test_compute_writes_every_output(spec):
    buckets = _compute(spec, {}, severity_number=SeverityNumber.INFO)

    assert set(buckets) == set(spec.outputs())
    assert all(isinstance(value, str) for value in buckets.values())
