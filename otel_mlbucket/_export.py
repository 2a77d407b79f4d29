"""Export-side wrappers: a batch processor that counts its drops and an exporter that
keeps one unencodable record from failing its whole batch."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    LogRecordExporter,
    LogRecordExportResult,
)

from otel_mlbucket._stats import _read
from otel_mlbucket._values import repair_utf8

_logger = logging.getLogger(__name__)

DEFAULT_MAX_QUEUE_SIZE = 65536
"""Default batch queue size. The SDK's 2048 drops most of a burst from a busy model
server; 65536 records of about 1 KiB each cost about 64 MiB at worst."""

_WARNING_INTERVAL_SECONDS = 60.0


class _DropCountingMetrics:
    """Wraps the SDK batch processor's internal metrics to count dropped records."""

    def __init__(self, inner: Any, on_drop: Any):
        self._inner = inner
        self._on_drop = on_drop

    def register_queue_size(self, get_queue_size: Any) -> None:
        self._inner.register_queue_size(get_queue_size)

    def drop_items(self, count: int, error_type: str = "queue_full") -> None:
        self._on_drop(count, error_type)
        self._inner.drop_items(count, error_type)

    def finish_items(self, count: int) -> None:
        self._inner.finish_items(count)


class CountingBatchLogRecordProcessor(BatchLogRecordProcessor):
    """A `BatchLogRecordProcessor` that counts the records its full queue drops.

    The SDK drops a record when its queue is full and logs one warning per drop
    without a number. This subclass counts drops by reason (`queue_full`,
    `already_shutdown`) and logs the running total at most once a minute.

    Args:
        exporter: The exporter to batch for.
        max_queue_size: Records the queue holds before it drops; default 65536.
        **kwargs: Passed to BatchLogRecordProcessor.
    """

    def __init__(
        self,
        exporter: LogRecordExporter,
        max_queue_size: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(
            exporter, max_queue_size=max_queue_size or DEFAULT_MAX_QUEUE_SIZE, **kwargs
        )
        self.max_queue_size = max_queue_size or DEFAULT_MAX_QUEUE_SIZE
        self._dropped: dict[str, itertools.count] = {
            "queue_full": itertools.count(),
            "already_shutdown": itertools.count(),
        }
        self._warned_at = 0.0
        batch = self._batch_processor
        # NOTE: relies on BatchProcessor._metrics (opentelemetry-sdk 1.39 to 1.45),
        # pinned by tests/test_export.py.
        batch._metrics = _DropCountingMetrics(batch._metrics, self._count_drop)

    def _count_drop(self, count: int, error_type: str) -> None:
        counter = self._dropped.setdefault(error_type, itertools.count())
        for _ in range(count):
            next(counter)

        now = time.monotonic()
        if now - self._warned_at >= _WARNING_INTERVAL_SECONDS:
            self._warned_at = now
            _logger.warning(
                "The batch queue (max_queue_size=%d) dropped log records: %d so far (%s); raise max_queue_size or OTEL_BLRP_MAX_QUEUE_SIZE",
                self.max_queue_size,
                self.dropped(),
                error_type,
            )

    def dropped(self) -> int:
        """Return the number of records dropped so far, for every reason."""
        return sum(_read(counter) for counter in self._dropped.values())

    def dropped_by_reason(self) -> dict[str, int]:
        """Return the dropped records by reason."""
        return {reason: _read(counter) for reason, counter in self._dropped.items()}


class SafeLogRecordExporter(LogRecordExporter):
    """Retries a batch whose encoding failed after repairing its records.

    The OTLP encoder raises on a string that UTF-8 cannot encode (a lone surrogate)
    and on values protobuf cannot hold, which fails every record of the batch. On such
    an error this exporter repairs strings in bodies and attributes, replaces
    unencodable values by their `repr`, and exports again; records that still fail
    alone are dropped and counted in `records_dropped`.

    Args:
        exporter: The exporter to protect.
    """

    _ENCODING_ERRORS = (UnicodeError, TypeError, ValueError, OverflowError)

    def __init__(self, exporter: LogRecordExporter):
        self.exporter = exporter
        self._repaired = itertools.count()
        self._dropped = itertools.count()
        self._lock = threading.Lock()

    @property
    def records_repaired(self) -> int:
        """Records whose strings or values were repaired before export."""
        return _read(self._repaired)

    @property
    def records_dropped(self) -> int:
        """Records dropped because they could not be encoded even after repair."""
        return _read(self._dropped)

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        try:
            return self.exporter.export(batch)
        except self._ENCODING_ERRORS as exc:
            _logger.warning(
                "Exporting %d log records failed (%r); repairing them and retrying",
                len(batch),
                exc,
            )

        for record in batch:
            if _repair(record.log_record):
                next(self._repaired)

        try:
            return self.exporter.export(batch)
        except self._ENCODING_ERRORS:
            return self._export_one_by_one(batch)

    def _export_one_by_one(
        self, batch: Sequence[ReadableLogRecord]
    ) -> LogRecordExportResult:
        result = LogRecordExportResult.SUCCESS
        for record in batch:
            try:
                if self.exporter.export([record]) is not LogRecordExportResult.SUCCESS:
                    result = LogRecordExportResult.FAILURE
            except self._ENCODING_ERRORS as exc:
                next(self._dropped)
                _logger.error(
                    "Dropped a log record that cannot be encoded even after repair: %r",
                    exc,
                )

        return result

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        flush = getattr(self.exporter, "force_flush", None)
        return bool(flush(timeout_millis)) if flush is not None else True


def _repair(log_record: Any) -> bool:
    body = _repair_value(log_record.body)
    attributes = log_record.attributes
    repaired = {key: _repair_value(value) for key, value in (attributes or {}).items()}
    changed = body is not log_record.body or any(
        repaired[key] is not attributes[key] for key in repaired
    )
    if changed:
        log_record.body = body
        log_record.attributes = {
            repair_utf8(key): value for key, value in repaired.items()
        }

    return changed


def _repair_value(value: Any, depth: int = 0) -> Any:
    if value is None or value.__class__ in (bool, bytes):
        return value
    if value.__class__ is str:
        return value if value.isascii() else repair_utf8(value)
    if value.__class__ is int:
        return value if -(2**63) <= value < 2**63 else str(value)
    if isinstance(value, float):
        return float(value)
    if depth < 8 and isinstance(value, (list, tuple)):
        items = [_repair_value(item, depth + 1) for item in value]
        same = all(new is old for new, old in zip(items, value))
        return value if same else items
    if depth < 8 and isinstance(value, dict):
        return {
            repair_utf8(str(k)): _repair_value(v, depth + 1) for k, v in value.items()
        }

    return repair_utf8(repr(value))
