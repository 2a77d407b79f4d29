"""The demo's model service: input validation and the records it logs."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator

import numpy as np
import pytest
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter

import otel_mlbucket
from otel_mlbucket import attributes as attr
from otel_mlbucket.demo._model import FEATURES, load_dataset, train_models
from otel_mlbucket.demo._service import LatencyModel, ModelService, Request
from otel_mlbucket.demo._simulator import SimulatedClock, SimulatedTimeFilter
from otel_mlbucket.demo._validation import validate

# A held-out patient of the diabetes dataset, in FEATURES order.
ROW = (59.0, 2.0, 32.1, 101.0, 157.0, 93.2, 38.0, 4.0, 4.8598, 87.0)
START = 1_741_000_000.0


def _with(index: int, value: object) -> tuple[object, ...]:
    values = list(ROW)
    values[index] = value
    return tuple(values)


def _without(index: int) -> tuple[tuple[str, ...], tuple[object, ...]]:
    columns = [name for i, name in enumerate(FEATURES) if i != index]
    values = [value for i, value in enumerate(ROW) if i != index]
    return tuple(columns), tuple(values)


def _swapped(first: int, second: int) -> tuple[tuple[str, ...], tuple[object, ...]]:
    columns, values = list(FEATURES), list(ROW)
    columns[first], columns[second] = columns[second], columns[first]
    values[first], values[second] = values[second], values[first]
    return tuple(columns), tuple(values)


BMI = FEATURES.index("bmi")
SEX = FEATURES.index("sex")

INVALID_CASES = [
    pytest.param(*_without(BMI), "missing", "bmi", "numerical", id="absent-column"),
    pytest.param(
        FEATURES, _with(SEX, None), "missing", "sex", "categorical", id="null"
    ),
    pytest.param(
        FEATURES, _with(BMI, math.nan), "non_finite", "bmi", "numerical", id="nan"
    ),
    pytest.param(
        FEATURES, _with(BMI, math.inf), "non_finite", "bmi", "numerical", id="inf"
    ),
    pytest.param(
        FEATURES,
        _with(BMI, -math.inf),
        "non_finite",
        "bmi",
        "numerical",
        id="minus-inf",
    ),
    pytest.param(
        FEATURES,
        _with(BMI, 3210.0),
        "out_of_range",
        "bmi",
        "numerical",
        id="above-range",
    ),
    pytest.param(
        FEATURES, _with(BMI, 9.99), "out_of_range", "bmi", "numerical", id="below-range"
    ),
    pytest.param(
        FEATURES,
        _with(SEX, 3.0),
        "invalid_value",
        "sex",
        "categorical",
        id="unknown-category",
    ),
    pytest.param(
        FEATURES, _with(BMI, "32.1"), "schema_mismatch", "bmi", "numerical", id="text"
    ),
    pytest.param(
        FEATURES, _with(SEX, True), "schema_mismatch", "sex", "categorical", id="bool"
    ),
    pytest.param(FEATURES, ROW[:-1], "wrong_shape", None, None, id="short-row"),
    pytest.param(*_swapped(2, 3), "column_order", None, None, id="swapped-columns"),
    pytest.param(
        (*FEATURES, "patient_id"),
        (*ROW, 7.0),
        "extra_feature",
        None,
        None,
        id="extra-column",
    ),
    pytest.param(
        (*FEATURES[:-1], "s5"),
        (*ROW[:-1], 4.8),
        "missing",
        "s6",
        "numerical",
        id="repeated-column",
    ),
]


@pytest.mark.parametrize(
    ("columns", "values", "reason", "feature_name", "feature_type"), INVALID_CASES
)
def test_validate_rejects(columns, values, reason, feature_name, feature_type):
    failure = validate(columns, values)

    assert failure is not None
    assert failure.reason == reason
    assert failure.feature_name == feature_name
    assert failure.feature_type == feature_type


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(ROW, id="dataset-row"),
        pytest.param(_with(BMI, 10.0), id="lower-bound"),
        pytest.param(_with(BMI, 70.0), id="upper-bound"),
        pytest.param(_with(FEATURES.index("age"), 59), id="int-value"),
        pytest.param(_with(BMI, np.float64(30.5)), id="numpy-float"),
    ],
)
def test_validate_accepts(values):
    assert validate(FEATURES, values) is None


class FakeFeatureStore:
    """Times out for the listed request ids and returns for every other."""

    timeout_ms = 200.0

    def __init__(self, failing: set[int]):
        self.failing = failing

    def lookup(self, request: Request) -> None:
        if request.request_id in self.failing:
            raise TimeoutError("feature store lookup timed out after 200 ms")


@pytest.fixture(scope="module")
def models():
    train, _ = load_dataset()
    return train_models(train, seed=3)


@pytest.fixture
def pipeline() -> Iterator[tuple[logging.Logger, object, InMemoryLogRecordExporter]]:
    exporter = InMemoryLogRecordExporter()
    logger = logging.getLogger("test_demo_service.model")
    logger.propagate = False
    built = otel_mlbucket.configure(
        "demo-service-test",
        exporters=[exporter],
        attach_to=logger,
        set_global=False,
        otlp=False,
        placements={"validation": "record", "drift": "record"},
    )
    yield logger, built, exporter
    built.shutdown()


def _serve(models, pipeline, version, requests, failing=()):
    """Serve `requests` with one version and return the counts and the records."""
    logger, built, exporter = pipeline
    clock = SimulatedClock(START)
    time_filter = SimulatedTimeFilter(clock)
    logger.addFilter(time_filter)
    service = ModelService(
        models[version],
        logger,
        latency=LatencyModel(median_ms=10.0, sigma=0.1),
        feature_store=FakeFeatureStore(set(failing)),
        rng=np.random.default_rng(0),
        set_event_time=clock.set,
    )
    try:
        counts = service.serve(requests)
    finally:
        logger.removeFilter(time_filter)

    assert built.force_flush()
    return counts, list(exporter.get_finished_logs())


def _request(request_id, values=ROW, columns=FEATURES):
    return Request(request_id, START + request_id, columns, values, outcome=151.0)


def _by_event(records, event_name):
    return [r for r in records if r.log_record.event_name == event_name]


def test_service_logs_one_record_per_request(models, pipeline):
    requests = [
        _request(1),
        _request(2, _with(BMI, math.nan)),
        _request(3),
        _request(4),
        _request(5),
    ]

    counts, records = _serve(models, pipeline, "v1", requests, failing={4})

    assert counts.predictions == 3
    assert counts.validation_failures == 1
    assert counts.infrastructure_errors == 1
    assert counts.prediction_errors == 0
    assert counts.total == 5
    assert len(records) == 5


def test_service_prediction_record(models, pipeline):
    _, records = _serve(models, pipeline, "v1", [_request(1)])

    (record,) = _by_event(records, attr.EVENT_PREDICTION)
    attributes = record.log_record.attributes
    assert attributes[attr.MODEL_NAME] == "diabetes-progression"
    assert attributes[attr.MODEL_VERSION] == "v1"
    assert attributes[attr.PREDICTION_EXPECTED] == 151.0
    assert 25.0 <= attributes[attr.PREDICTION_ACTUAL] <= 346.0
    assert 0.0 <= attributes[attr.PREDICTION_CONFIDENCE] <= 1.0
    assert attributes[attr.INFERENCE_LATENCY_MS] > 0.0
    assert "ml.bucket.drift" in attributes
    assert record.resource.attributes["ml.bucket.model_version"] == "v1"
    assert record.resource.attributes["ml.bucket.error_category"] == "none"


@pytest.mark.parametrize(
    ("values", "columns", "reason_bucket"),
    [
        pytest.param(_with(BMI, None), FEATURES, "missing", id="null"),
        pytest.param(*reversed(_without(BMI)), "missing", id="absent-column"),
        pytest.param(_with(BMI, math.nan), FEATURES, "corrupted", id="nan"),
        pytest.param(_with(BMI, 3210.0), FEATURES, "corrupted", id="out-of-range"),
        pytest.param(_with(SEX, 5.0), FEATURES, "corrupted", id="unknown-category"),
        pytest.param(_with(BMI, "32.1"), FEATURES, "misaligned", id="text"),
        pytest.param(ROW[:-1], FEATURES, "misaligned", id="short-row"),
        pytest.param(*reversed(_swapped(0, 9)), "misaligned", id="swapped-columns"),
        pytest.param((*ROW, 1.0), (*FEATURES, "x"), "misaligned", id="extra-column"),
    ],
)
def test_service_validation_failure_record(
    models, pipeline, values, columns, reason_bucket
):
    counts, records = _serve(models, pipeline, "v1", [_request(1, values, columns)])

    assert counts.validation_failures == 1
    (record,) = _by_event(records, attr.EVENT_VALIDATION_FAILURE)
    assert record.log_record.severity_text == "WARN"
    assert record.log_record.attributes["ml.bucket.validation"] == "failed"
    assert record.log_record.attributes["ml.bucket.validation_reason"] == reason_bucket
    resource = record.resource.attributes
    assert resource["ml.bucket.error_category"] == "data_validation_error"
    assert resource["ml.bucket.team"] == "data_engineering"


def test_service_timeout_record(models, pipeline):
    counts, records = _serve(models, pipeline, "v1", [_request(1)], failing={1})

    assert counts.infrastructure_errors == 1
    (record,) = _by_event(records, attr.EVENT_INFRASTRUCTURE_ERROR)
    assert record.log_record.attributes[attr.EXCEPTION_TYPE] == "TimeoutError"
    assert "request 1" in record.log_record.body
    resource = record.resource.attributes
    assert resource["ml.bucket.error_category"] == "infrastructure_error"
    assert resource["ml.bucket.team"] == "infrastructure"


def test_v2_fails_above_last_age_band(models, pipeline):
    old = _with(FEATURES.index("age"), 66.0)
    requests = [_request(1, old), _request(2)]

    counts, records = _serve(models, pipeline, "v2", requests)

    assert counts.prediction_errors == 1
    assert counts.predictions == 1
    (record,) = _by_event(records, attr.EVENT_PREDICTION_ERROR)
    assert record.log_record.attributes[attr.EXCEPTION_TYPE] == "ValueError"
    assert "age 66.0" in record.log_record.body
    assert record.resource.attributes["ml.bucket.error_category"] == "prediction_error"


def test_v1_serves_every_age(models, pipeline):
    old = _with(FEATURES.index("age"), 66.0)

    counts, _ = _serve(models, pipeline, "v1", [_request(1, old)])

    assert counts.predictions == 1
    assert counts.prediction_errors == 0


def test_service_stamps_simulated_time(models, pipeline):
    requests = [_request(1), _request(2, _with(BMI, math.nan)), _request(3)]

    _, records = _serve(models, pipeline, "v1", requests, failing={3})

    (failure,) = _by_event(records, attr.EVENT_VALIDATION_FAILURE)
    assert failure.log_record.timestamp == pytest.approx((START + 2) * 1e9, abs=1e3)
    (timeout,) = _by_event(records, attr.EVENT_INFRASTRUCTURE_ERROR)
    assert timeout.log_record.timestamp == pytest.approx((START + 3.2) * 1e9, abs=1e3)
    (prediction,) = _by_event(records, attr.EVENT_PREDICTION)
    latency_ms = prediction.log_record.attributes[attr.INFERENCE_LATENCY_MS]
    expected_ns = (START + 1 + latency_ms / 1000) * 1e9
    assert prediction.log_record.timestamp == pytest.approx(expected_ns, abs=1e4)
