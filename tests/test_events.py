"""The log helpers yield the right buckets through stdlib logging and the logs API."""

from __future__ import annotations

import logging

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter

from otel_mlbucket import attributes as attr
from otel_mlbucket import (
    configure,
    log_prediction,
    log_prediction_error,
    log_validation_failure,
)
from otel_mlbucket.events import severity_of_level

PLACEMENTS = {
    "model_name": "record",
    "validation": "record",
    "drift": "record",
    "latency": "record",
    "confidence": "record",
    "severity": "record",
    "feature_type": "record",
}
STDLIB_LOGGER = "events.service"


@pytest.fixture
def pipeline():
    exporter = InMemoryLogRecordExporter()
    built = configure(
        "events-test",
        exporters=[exporter],
        placements=PLACEMENTS,
        attach_to=STDLIB_LOGGER,
        level=logging.DEBUG,
        set_global=False,
    )

    def buckets():
        built.force_flush()
        rows = []
        for record in exporter.get_finished_logs():
            found = {**record.log_record.attributes, **record.resource.attributes}
            rows.append(
                {
                    key.removeprefix("ml.bucket."): value
                    for key, value in found.items()
                    if key.startswith("ml.bucket.")
                }
            )
        return rows

    yield built, buckets, exporter
    built.shutdown()


def _loggers(built):
    return {
        "stdlib": logging.getLogger(STDLIB_LOGGER),
        "adapter": logging.LoggerAdapter(logging.getLogger(STDLIB_LOGGER), {}),
        "logs_api": built.logger_provider.get_logger("events.api"),
    }


LOGGER_KINDS = ["stdlib", "adapter", "logs_api"]


@pytest.mark.parametrize("kind", LOGGER_KINDS)
def test_prediction_buckets(pipeline, kind):
    built, buckets, _ = pipeline

    log_prediction(
        _loggers(built)[kind],
        model_name="churn",
        model_version="v3",
        latency_ms=50.0,
        confidence=0.9,
        expected=10.0,
        actual=13.0,
    )

    row = buckets()[0]
    assert row["model_name"] == "churn"
    assert row["model_version"] == "v3"
    assert row["latency"] == "50-100ms"
    assert row["confidence"] == "high"
    assert row["drift"] == "severe"
    assert row["severity"] == "info"
    assert row["validation"] == "not_validated"
    assert row["error_category"] == "none"
    assert row["team"] == "modelling"


@pytest.mark.parametrize("kind", LOGGER_KINDS)
@pytest.mark.parametrize(
    ("reason", "reason_bucket"),
    [
        ("missing", "missing"),
        ("out_of_range", "corrupted"),
        ("schema_mismatch", "misaligned"),
        ("gremlins", "other"),
    ],
)
def test_validation_failure_buckets(pipeline, kind, reason, reason_bucket):
    built, buckets, _ = pipeline

    log_validation_failure(
        _loggers(built)[kind],
        model_name="churn",
        reason=reason,
        feature_name="age",
        feature_type="numerical",
    )

    row = buckets()[0]
    assert row["validation"] == "failed"
    assert row["validation_reason"] == reason_bucket
    assert row["feature_type"] == "numerical"
    assert row["error_category"] == "data_validation_error"
    assert row["team"] == "data_engineering"
    assert row["severity"] == "warn"


@pytest.mark.parametrize("kind", LOGGER_KINDS)
@pytest.mark.parametrize(
    ("error", "infrastructure", "category", "team"),
    [
        (ValueError("bad output"), False, "prediction_error", "modelling"),
        (
            TimeoutError("feature store"),
            False,
            "infrastructure_error",
            "infrastructure",
        ),
        (KeyError("x"), True, "infrastructure_error", "infrastructure"),
        (ConnectionRefusedError(), False, "infrastructure_error", "infrastructure"),
    ],
)
def test_prediction_error_buckets(
    pipeline, kind, error, infrastructure, category, team
):
    built, buckets, exporter = pipeline

    log_prediction_error(
        _loggers(built)[kind],
        error,
        model_name="churn",
        infrastructure=infrastructure,
    )

    row = buckets()[0]
    assert row["error_category"] == category
    assert row["team"] == team
    assert row["severity"] == "error"
    record = exporter.get_finished_logs()[0].log_record
    assert record.attributes[attr.EXCEPTION_TYPE] == type(error).__name__
    assert record.event_name in ("ml.prediction.error", "ml.infrastructure.error")


@pytest.mark.parametrize("kind", LOGGER_KINDS)
def test_event_name_on_record(pipeline, kind):
    built, _, exporter = pipeline

    log_prediction(_loggers(built)[kind], model_name="m")
    built.force_flush()

    record = exporter.get_finished_logs()[0].log_record
    found = record.event_name or record.attributes.get(attr.EVENT_NAME)
    assert found == "ml.prediction"


@pytest.mark.parametrize("kind", LOGGER_KINDS)
@pytest.mark.parametrize(
    ("level", "severity_number", "bucket"),
    [
        (logging.DEBUG, SeverityNumber.DEBUG, "debug"),
        (15, SeverityNumber.DEBUG4, "debug"),
        (logging.INFO, SeverityNumber.INFO, "info"),
        (25, SeverityNumber.INFO4, "info"),
        (logging.WARNING, SeverityNumber.WARN, "warn"),
        (35, SeverityNumber.WARN4, "warn"),
        (logging.ERROR, SeverityNumber.ERROR, "error"),
        (logging.CRITICAL, SeverityNumber.FATAL, "fatal"),
    ],
)
def test_levels_bucket_by_severity(pipeline, kind, level, severity_number, bucket):
    built, buckets, exporter = pipeline

    log_prediction(_loggers(built)[kind], model_name="m", level=level)

    assert buckets()[0]["severity"] == bucket
    assert exporter.get_finished_logs()[0].log_record.severity_number == (
        severity_number
    )


@pytest.mark.parametrize(
    ("level", "severity_number"),
    [
        (0, SeverityNumber.UNSPECIFIED),
        (9, SeverityNumber.UNSPECIFIED),
        (11, SeverityNumber.DEBUG2),
        (22, SeverityNumber.INFO3),
        (49, SeverityNumber.ERROR4),
        (52, SeverityNumber.FATAL3),
        (99, SeverityNumber.FATAL4),
    ],
)
def test_severity_of_level(level, severity_number):
    assert severity_of_level(level) == severity_number


def test_severity_text_matches_handler(pipeline):
    built, _, exporter = pipeline
    loggers = _loggers(built)

    log_prediction(loggers["stdlib"], model_name="m", level=logging.WARNING)
    log_prediction(loggers["logs_api"], model_name="m", level=logging.WARNING)
    built.force_flush()

    texts = [r.log_record.severity_text for r in exporter.get_finished_logs()]
    assert texts == ["WARN", "WARN"]


def test_adapter_extra_merged(pipeline):
    built, _, exporter = pipeline
    inner = logging.LoggerAdapter(logging.getLogger(STDLIB_LOGGER), {"tenant": "a"})
    outer = logging.LoggerAdapter(inner, {"region": "eu", "tenant": "b"})

    log_prediction(outer, model_name="m", **{attr.MODEL_VERSION: "v9"})
    built.force_flush()

    attributes = exporter.get_finished_logs()[0].log_record.attributes
    assert attributes["tenant"] == "b"
    assert attributes["region"] == "eu"
    assert attributes[attr.MODEL_NAME] == "m"
    assert attributes[attr.MODEL_VERSION] == "v9"


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)


def test_stdlib_record_names_caller():
    capture = _Capture()
    logger = logging.getLogger("events.caller")
    logger.addHandler(capture)
    logger.setLevel(logging.INFO)
    try:
        log_prediction(logger, model_name="m")
        log_validation_failure(logger, model_name="m", reason="missing")
    finally:
        logger.removeHandler(capture)

    assert [r.funcName for r in capture.records] == [
        "test_stdlib_record_names_caller",
        "test_stdlib_record_names_caller",
    ]


def test_none_values_left_out(pipeline):
    built, _, exporter = pipeline

    log_prediction(_loggers(built)["logs_api"], model_name="m", latency_ms=None)
    built.force_flush()

    attributes = exporter.get_finished_logs()[0].log_record.attributes
    assert attr.INFERENCE_LATENCY_MS not in attributes
    assert attr.MODEL_VERSION not in attributes


def test_validation_failure_default_message(pipeline):
    built, _, exporter = pipeline

    log_validation_failure(_loggers(built)["stdlib"], model_name="m", reason="empty")
    built.force_flush()

    assert exporter.get_finished_logs()[0].log_record.body == (
        "input validation failed: empty"
    )
