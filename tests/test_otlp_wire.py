"""What the real OTLP exporters send to a loopback receiver, over gRPC and HTTP."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

from otel_mlbucket import attributes as attr
from otel_mlbucket import configure
from otel_mlbucket.setup import otlp_exporter

ROUTING = ("ml.bucket.team", "ml.bucket.error_category", "ml.bucket.model_version")


@pytest.fixture
def configured():
    built = []

    def build(**options):
        options.setdefault("attach_to", None)
        options.setdefault("set_global", False)
        options.setdefault("schedule_delay_millis", 60_000)
        result = configure("wire-test", otlp=True, **options)
        built.append(result)
        return result

    yield build
    for result in built:
        result.shutdown()


def _routing_of(resource) -> tuple:
    values = {kv.key: kv.value.string_value for kv in resource.attributes}
    return tuple(values.get(name) for name in ROUTING)


MIXED = [
    {attr.MODEL_VERSION: "v1"},
    {attr.MODEL_VERSION: "v2", attr.EXCEPTION_TYPE: "ValueError"},
    {attr.MODEL_VERSION: "v1", attr.EXCEPTION_TYPE: "TimeoutError"},
    {attr.MODEL_VERSION: "v1", attr.VALIDATION_STATUS: "failed"},
    {attr.MODEL_VERSION: "v2", attr.INFERENCE_LATENCY_MS: 2500},
]


def test_mixed_teams_one_group_per_combination(otlp_receiver, configured):
    receiver, _ = otlp_receiver
    built = configured()
    logger = built.logger_provider.get_logger("wire")

    for _ in range(4):
        for attributes in MIXED:
            logger.emit(body="event", attributes=attributes)
    built.force_flush()
    rows = receiver.wait_for(20)

    assert len(rows) == 20
    assert len(receiver.requests) == 1
    groups = receiver.requests[0].resource_logs
    combinations = [_routing_of(group.resource) for group in groups]
    assert sorted(combinations) == sorted(
        [
            ("unowned", "none", "v1"),
            ("modelling", "prediction_error", "v2"),
            ("infrastructure", "infrastructure_error", "v1"),
            ("data_engineering", "data_validation_error", "v1"),
            ("infrastructure", "none", "v2"),
        ]
    )
    for group in groups:
        records = [r for scope in group.scope_logs for r in scope.log_records]
        assert len(records) == 4


def test_service_name_on_every_group(otlp_receiver, configured):
    receiver, _ = otlp_receiver
    built = configured()
    logger = built.logger_provider.get_logger("wire")

    for attributes in MIXED:
        logger.emit(body="event", attributes=attributes)
    built.force_flush()
    rows = receiver.wait_for(len(MIXED))

    assert {row["resource"]["service.name"] for row in rows} == {"wire-test"}


BAD_BATCH = [
    ("good before", {attr.MODEL_VERSION: "v1"}),
    ("lone surrogate \ud800 in the body", {}),
    ("bad attribute", {"user.note": "x\udfffy"}),
    ("bad key", {"user.\ud800": 1}),
    ("big int", {"user.count": 2**70}),
    ("good after", {attr.MODEL_VERSION: "v2"}),
]


def test_bad_record_keeps_its_batch(otlp_receiver, configured):
    receiver, _ = otlp_receiver
    built = configured()
    logger = built.logger_provider.get_logger("wire")

    for body, attributes in BAD_BATCH:
        logger.emit(body=body, attributes=attributes)
    built.force_flush()
    rows = receiver.wait_for(len(BAD_BATCH))

    bodies = [row["body"] for row in rows]
    assert bodies == [
        "good before",
        "lone surrogate \ufffd in the body",
        "bad attribute",
        "bad key",
        "big int",
        "good after",
    ]
    assert rows[2]["attributes"]["user.note"] == "x\ufffdy"
    assert rows[3]["attributes"]["user.\ufffd"] == 1
    assert rows[4]["attributes"]["user.count"] == str(2**70)
    assert built.stats()["export_repaired"] == 4
    assert built.stats()["export_dropped"] == 0


def test_bad_record_from_stdlib_logging(otlp_receiver, configured):
    receiver, _ = otlp_receiver
    built = configured(attach_to="wire.stdlib")
    logger = logging.getLogger("wire.stdlib")

    logger.info("before")
    logger.info("surrogate \udc80 here", extra={attr.MODEL_VERSION: "v\ud800"})
    logger.info("after")
    built.force_flush()
    rows = receiver.wait_for(3)

    by_body = {row["body"]: row for row in rows}
    assert sorted(by_body) == ["after", "before", "surrogate \ufffd here"]
    repaired = by_body["surrogate \ufffd here"]
    assert repaired["resource"]["ml.bucket.model_version"] == "v\ufffd"
    assert by_body["after"]["resource"]["ml.bucket.model_version"] == "unknown"


def test_raw_exporter_loses_batch(otlp_receiver):
    """Without SafeLogRecordExporter, one lone surrogate costs the whole batch."""
    receiver, _ = otlp_receiver
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(
        BatchLogRecordProcessor(otlp_exporter(), schedule_delay_millis=60_000)
    )
    logger = provider.get_logger("raw")

    logger.emit(body="good")
    logger.emit(body="bad \ud800")
    provider.force_flush()
    provider.shutdown()

    assert receiver.records() == []


def test_bucket_values_untruncated_on_wire(otlp_receiver, configured, monkeypatch):
    receiver, _ = otlp_receiver
    monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "7")
    built = configured(placements={"validation": "record", "latency": "record"})
    logger = built.logger_provider.get_logger("wire")

    logger.emit(
        body="event",
        attributes={
            attr.VALIDATION_STATUS: "failed",
            attr.VALIDATION_REASON: "missing",
            attr.INFERENCE_LATENCY_MS: 700,
            "user.note": "longer than seven",
        },
    )
    built.force_flush()
    row = receiver.wait_for(1)[0]

    assert row["attributes"]["user.note"] == "longer "
    assert row["attributes"]["ml.bucket.validation"] == "failed"
    assert row["attributes"]["ml.bucket.validation_reason"] == "missing"
    assert row["attributes"]["ml.bucket.latency"] == "500-1000ms"
    assert row["resource"]["ml.bucket.team"] == "data_engineering"
    assert row["resource"]["ml.bucket.error_category"] == "data_validation_error"
