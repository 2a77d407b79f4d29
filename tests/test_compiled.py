"""The generated per-record function against the written-out reference path."""

from __future__ import annotations

import math

import numpy as np
import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    SimpleLogRecordProcessor,
)

from otel_mlbucket.processor import BucketingProcessor

ODD_VALUES = [
    None,
    0.0,
    -0.0,
    1e-300,
    1e308,
    -1e308,
    math.nan,
    math.inf,
    -math.inf,
    np.float64(12.5),
    np.int64(7),
    3,
    True,
    "12.5",
    "not a number",
    b"\xff",
    [1.0],
    {"k": 1},
    "x" * 5000,
]

PLACEMENTS = [
    None,
    {"drift": "record", "latency": "record", "confidence": "record", "time": "record"},
    {"validation": "record", "model_name": "record", "severity": "resource"},
]


def _records():
    for value in ODD_VALUES:
        yield {"ml.inference.latency_ms": value, "ml.model.version": "v1"}
        yield {"ml.prediction.expected": value, "ml.prediction.actual": 2.0}
        yield {"ml.prediction.expected": 2.0, "ml.prediction.actual": value}
        yield {"ml.prediction.confidence": value, "exception.type": "TimeoutError"}
        yield {"ml.validation.status": value, "ml.model.version": value}
    for latency in (0.0, 9.999, 10.0, 499.99, 500.0, 1000.0, 5e4):
        yield {"ml.inference.latency_ms": latency, "ml.model.version": "v2"}


def _emit_all(processor: BucketingProcessor):
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(processor)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("compiled")
    for severity, attributes in enumerate(_records()):
        logger.emit(
            body="x",
            attributes=attributes,
            severity_number=None,
            timestamp=severity + 1,
        )
        logger.emit(body="x", attributes=attributes, event_name="ml.prediction.error")

    return [
        (dict(r.log_record.attributes), dict(r.resource.attributes))
        for r in exporter.get_finished_logs()
    ]


@pytest.mark.parametrize("placements", PLACEMENTS)
def test_compiled_matches_reference(placements):
    compiled = BucketingProcessor(placements=placements)
    reference = BucketingProcessor(placements=placements)
    del reference.on_emit  # back to the class's written-out `on_emit`

    compiled_rows = _emit_all(compiled)
    reference_rows = _emit_all(reference)

    assert "on_emit" in vars(compiled)
    assert len(compiled_rows) == len(reference_rows)
    for compiled_row, reference_row in zip(compiled_rows, reference_rows, strict=True):
        assert repr(compiled_row) == repr(reference_row)
    assert compiled.stats() == reference.stats()


def test_subclass_override_keeps_reference_path():
    class Subclass(BucketingProcessor):
        def _bucket(self, log_record):
            super()._bucket(log_record)

    assert "on_emit" not in vars(Subclass())
