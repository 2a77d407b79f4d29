"""The counting batch processor and the exporter that repairs unencodable records."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from opentelemetry._logs import LogRecord
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import Resource

from otel_mlbucket import configure
from otel_mlbucket._export import (
    CountingBatchLogRecordProcessor,
    SafeLogRecordExporter,
    _DropCountingMetrics,
)

WAIT_SECONDS = 30


class _BlockingExporter(LogRecordExporter):
    """Blocks its first export until released; counts what it exported."""

    def __init__(self):
        self.entered = threading.Event()
        self.release = threading.Event()
        self.exported = 0
        self._lock = threading.Lock()

    def export(self, batch):
        self.entered.set()
        if not self.release.wait(WAIT_SECONDS):
            raise RuntimeError("the test never released the exporter")
        with self._lock:
            self.exported += len(batch)
        return LogRecordExportResult.SUCCESS

    def shutdown(self):
        return None

    def force_flush(self, timeout_millis=30000):
        return True


class _EncodingExporter(LogRecordExporter):
    """Encodes each batch as the OTLP exporters do and keeps the requests."""

    def __init__(self):
        self.requests = []

    def export(self, batch):
        self.requests.append(encode_logs(batch).SerializeToString())
        return LogRecordExportResult.SUCCESS

    def shutdown(self):
        return None

    def force_flush(self, timeout_millis=30000):
        return True


def _readable(body="ok", attributes=None, **fields):
    record = LogRecord(body=body, attributes=attributes, **fields)
    return ReadableLogRecord(log_record=record, resource=Resource.create({}))


def test_batch_internals_pinned():
    """CountingBatchLogRecordProcessor counts drops through these SDK internals."""
    processor = CountingBatchLogRecordProcessor(_EncodingExporter(), max_queue_size=4)
    batch = processor._batch_processor

    assert isinstance(batch._metrics, _DropCountingMetrics)
    assert processor._count_in_on_emit is False
    assert batch._max_queue_size == 4
    assert len(batch._queue) == 0
    assert batch._shutdown is False
    assert isinstance(batch._pid, int)
    processor.shutdown()


@pytest.mark.parametrize(("queue_size", "batch_size"), [(1, 1), (16, 16), (600, 512)])
def test_small_queue_limits_batch_size(queue_size, batch_size):
    processor = CountingBatchLogRecordProcessor(
        _EncodingExporter(), max_queue_size=queue_size
    )

    assert processor._batch_processor._max_export_batch_size == batch_size
    processor.shutdown()


def test_batch_size_from_environment(monkeypatch):
    monkeypatch.setenv("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "8")
    processor = CountingBatchLogRecordProcessor(_EncodingExporter(), max_queue_size=64)

    assert processor._batch_processor._max_export_batch_size == 8
    processor.shutdown()


@pytest.mark.parametrize("size", [0, -1, 1.5, True])
def test_invalid_queue_size(size):
    with pytest.raises(ValueError) as raised:
        CountingBatchLogRecordProcessor(_EncodingExporter(), max_queue_size=size)

    assert f"max_queue_size={size!r}" in str(raised.value)
    assert "positive integer" in str(raised.value)


def test_flooded_queue_counts_every_record():
    exporter = _BlockingExporter()
    built = configure(
        "flood",
        exporters=[exporter],
        max_queue_size=16,
        schedule_delay_millis=60_000,
        attach_to=None,
        set_global=False,
    )
    logger = built.logger_provider.get_logger("flood")
    emitted = 0

    for _ in range(16):
        logger.emit(body="record")
        emitted += 1
    assert exporter.entered.wait(WAIT_SECONDS)
    for _ in range(500):
        logger.emit(body="record")
        emitted += 1
    exporter.release.set()
    built.shutdown()

    stats = built.stats()
    assert emitted == exporter.exported + stats["queue_dropped"]
    assert exporter.exported == 32
    assert stats["queue_dropped"] == 500 - 16
    assert built.batch_processors[0].dropped_by_reason() == {
        "queue_full": 500 - 16,
        "already_shutdown": 0,
    }
    assert stats["records_bucketed"] == emitted


def test_emit_after_shutdown_counted():
    built = configure(
        "late", exporters=[_EncodingExporter()], attach_to=None, set_global=False
    )
    built.shutdown()

    for _ in range(3):
        built.logger_provider.get_logger("late").emit(body="late")

    assert built.batch_processors[0].dropped_by_reason()["already_shutdown"] == 3
    assert built.stats()["queue_dropped"] == 3


def test_drop_warning_rate_limited(caplog):
    processor = CountingBatchLogRecordProcessor(_EncodingExporter(), max_queue_size=4)
    processor.shutdown()

    with caplog.at_level("WARNING", logger="otel_mlbucket._export"):
        for _ in range(5):
            processor._count_drop(1, "already_shutdown")

    assert [r.getMessage() for r in caplog.records] == [
        "The batch queue (max_queue_size=4) dropped log records: 1 so far "
        "(already_shutdown); raise max_queue_size or OTEL_BLRP_MAX_QUEUE_SIZE"
    ]
    assert processor.dropped() == 5


@pytest.mark.parametrize(
    ("body", "attributes", "repaired_body", "repaired_attributes"),
    [
        ("bad \ud800", None, "bad \ufffd", None),
        ("ok", {"k": "bad \udfff"}, "ok", {"k": "bad \ufffd"}),
        ("ok", {"k\ud800": 1}, "ok", {"k\ufffd": 1}),
        ("ok", {"big": 2**64}, "ok", {"big": str(2**64)}),
        ({"nested": ["\ud800", 2**70]}, None, {"nested": ["\ufffd", str(2**70)]}, None),
        (np.int64(5), None, "np.int64(5)", None),
        (object, None, "<class 'object'>", None),
    ],
)
def test_repairs_unencodable_record(
    body, attributes, repaired_body, repaired_attributes
):
    inner = _EncodingExporter()
    exporter = SafeLogRecordExporter(inner)
    batch = [_readable("before"), _readable(body, attributes), _readable("after")]

    result = exporter.export(batch)

    assert result is LogRecordExportResult.SUCCESS
    assert len(inner.requests) == 1
    assert exporter.records_repaired == 1
    assert exporter.records_dropped == 0
    assert batch[1].log_record.body == repaired_body
    if repaired_attributes is not None:
        assert dict(batch[1].log_record.attributes) == repaired_attributes


def test_repairs_event_name():
    inner = _EncodingExporter()
    exporter = SafeLogRecordExporter(inner)
    batch = [_readable("x", event_name="ml.\ud800")]

    exporter.export(batch)

    assert batch[0].log_record.event_name == "ml.\ufffd"
    assert exporter.records_repaired == 1


def test_clean_records_untouched():
    inner = _EncodingExporter()
    exporter = SafeLogRecordExporter(inner)
    attributes = {"a": [1, 2.5, "x"], "b": {"c": b"\x00"}, "d": np.float64(1.5)}
    batch = [_readable({"k": "v"}, attributes), _readable(b"raw"), _readable(None)]
    bodies = [record.log_record.body for record in batch]

    exporter.export(batch)

    assert exporter.records_repaired == 0
    assert [record.log_record.body for record in batch] == bodies
    assert batch[0].log_record.attributes is attributes


class _PoisonExporter(LogRecordExporter):
    """Raises an encoding error for every batch with a record whose body is poison."""

    def __init__(self):
        self.exported = []

    def export(self, batch):
        if any(record.log_record.body == "poison" for record in batch):
            raise UnicodeEncodeError("utf-8", "poison", 0, 1, "test")
        self.exported.extend(record.log_record.body for record in batch)
        return LogRecordExportResult.SUCCESS

    def shutdown(self):
        return None

    def force_flush(self, timeout_millis=30000):
        return True


def test_unrepairable_record_dropped_alone(caplog):
    inner = _PoisonExporter()
    exporter = SafeLogRecordExporter(inner)
    batch = [_readable("a"), _readable("poison"), _readable("b")]

    with caplog.at_level("WARNING", logger="otel_mlbucket._export"):
        exporter.export(batch)

    assert inner.exported == ["a", "b"]
    assert exporter.records_dropped == 1
    assert [r.levelname for r in caplog.records] == ["WARNING", "ERROR"]


def test_safe_exporter_delegates_flush_and_shutdown():
    calls = []

    class _Recording(_EncodingExporter):
        def force_flush(self, timeout_millis=30000):
            calls.append(("flush", timeout_millis))
            return True

        def shutdown(self):
            calls.append(("shutdown", None))

    exporter = SafeLogRecordExporter(_Recording())

    assert exporter.force_flush(1234) is True
    exporter.shutdown()
    assert calls == [("flush", 1234), ("shutdown", None)]


class _KeyWithoutText:
    def __str__(self):
        raise RuntimeError("no text")


def test_record_whose_repair_raises_dropped_alone():
    inner = _EncodingExporter()
    exporter = SafeLogRecordExporter(inner)
    batch = [_readable("before"), _readable({_KeyWithoutText(): 1}), _readable("after")]

    result = exporter.export(batch)

    assert result is LogRecordExportResult.SUCCESS
    assert exporter.records_dropped == 1
    assert len(inner.requests) == 1
    assert encode_logs([batch[0], batch[2]]).SerializeToString() == inner.requests[0]


@pytest.mark.parametrize(
    ("timestamp", "observed", "expected_timestamp"),
    [(2**64, 5, None), (-1, 5, None), (7, 5, 7), (None, 5, None)],
)
def test_out_of_range_timestamps_repaired(timestamp, observed, expected_timestamp):
    inner = _EncodingExporter()
    exporter = SafeLogRecordExporter(inner)
    batch = [_readable("x", timestamp=timestamp, observed_timestamp=observed)]

    result = exporter.export(batch)

    assert result is LogRecordExportResult.SUCCESS
    assert batch[0].log_record.timestamp == expected_timestamp
    assert batch[0].log_record.observed_timestamp == 5


def test_out_of_range_observed_timestamp_replaced():
    inner = _EncodingExporter()
    exporter = SafeLogRecordExporter(inner)
    batch = [_readable("x", timestamp=3, observed_timestamp=2**70)]

    exporter.export(batch)

    assert 0 < batch[0].log_record.observed_timestamp < 2**64
    assert exporter.records_repaired == 1
