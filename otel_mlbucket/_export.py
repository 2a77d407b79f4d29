"""Export-side wrappers: a batch processor that counts its drops and an exporter that
keeps one unencodable record from failing its whole batch."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk._logs import ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    LogRecordExporter,
    LogRecordExportResult,
)

from otel_mlbucket._stats import AtomicCounter
from otel_mlbucket._values import repair_utf8

_logger = logging.getLogger(__name__)

_UINT64_LIMIT = 2**64

DEFAULT_MAX_QUEUE_SIZE = 65536
"""Default batch queue size. The SDK's 2048 drops most of a burst from a busy model
server; 65536 records of about 1 KiB each cost about 64 MiB at worst."""

DEFAULT_MAX_EXPORT_BATCH_SIZE = 512
"""The SDK's default batch size, used unless OTEL_BLRP_MAX_EXPORT_BATCH_SIZE is set."""

_WARNING_INTERVAL_SECONDS = 60.0
_MAX_DEPTH = 8
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


class _RateLimiter:
    """Allows one log line per kind per interval."""

    def __init__(self, interval_seconds: float = _WARNING_INTERVAL_SECONDS):
        self._interval_seconds = interval_seconds
        self._last: dict[str, float] = {}

    def allow(self, kind: str) -> bool:
        now = time.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self._interval_seconds:
            return False

        self._last[kind] = now
        return True


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
    """A `BatchLogRecordProcessor` that counts the records it drops.

    The SDK drops a record when its queue is full (or after shutdown) and logs one
    warning per drop without a number. This subclass counts drops by reason
    (`queue_full`, `already_shutdown`) and logs the running total at most once a
    minute. Counts are exact while one thread emits; when several threads emit into
    a full queue at once, the SDK's own check-then-append can drop a record that no
    count sees.

    Args:
        exporter: The exporter to batch for.
        max_queue_size: Records the queue holds before it drops; default 65536.
        max_export_batch_size: Records per export; defaults to
            OTEL_BLRP_MAX_EXPORT_BATCH_SIZE or 512, and never exceeds
            max_queue_size.
        **kwargs: Passed to BatchLogRecordProcessor.

    Raises:
        ValueError: max_queue_size or max_export_batch_size is not a positive integer.
    """

    def __init__(
        self,
        exporter: LogRecordExporter,
        max_queue_size: int | None = None,
        max_export_batch_size: int | None = None,
        **kwargs: Any,
    ):
        queue_size = _positive("max_queue_size", max_queue_size, DEFAULT_MAX_QUEUE_SIZE)
        batch_size = _positive(
            "max_export_batch_size", max_export_batch_size, _env_batch_size()
        )
        super().__init__(
            exporter,
            max_queue_size=queue_size,
            max_export_batch_size=min(batch_size, queue_size),
            **kwargs,
        )
        self.max_queue_size = queue_size
        self._dropped = {
            "queue_full": AtomicCounter(),
            "already_shutdown": AtomicCounter(),
        }
        self._rate_limiter = _RateLimiter()
        batch = self._batch_processor
        # NOTE: the SDK has no public drop count. opentelemetry-sdk 1.41 to 1.45
        # report drops to BatchProcessor._metrics, which is wrapped here; 1.39 and
        # 1.40 have no _metrics, so on_emit checks the queue itself. Both are pinned
        # by tests/test_export.py and tests/test_sdk_range.py.
        self._count_in_on_emit = not hasattr(batch, "_metrics")
        if not self._count_in_on_emit:
            batch._metrics = _DropCountingMetrics(batch._metrics, self._count_drop)

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        if self._count_in_on_emit:
            self._count_drop_before_emit()

        super().on_emit(log_record)

    def _count_drop_before_emit(self) -> None:
        batch = self._batch_processor
        if batch._shutdown:
            self._count_drop(1, "already_shutdown")
        elif batch._pid == os.getpid() and len(batch._queue) >= batch._max_queue_size:
            self._count_drop(1, "queue_full")

    def _count_drop(self, count: int, error_type: str) -> None:
        counter = self._dropped.get(error_type)
        if counter is None:
            counter = self._dropped.setdefault(error_type, AtomicCounter())
        counter.add(count)

        if self._rate_limiter.allow("dropped"):
            _logger.warning(
                "The batch queue (max_queue_size=%d) dropped log records: %d so far (%s); raise max_queue_size or OTEL_BLRP_MAX_QUEUE_SIZE",
                self.max_queue_size,
                self.dropped(),
                error_type,
            )

    def dropped(self) -> int:
        """Return the number of records dropped so far, for every reason."""
        return sum(counter.value for counter in self._dropped.values())

    def dropped_by_reason(self) -> dict[str, int]:
        """Return the dropped records by reason."""
        return {reason: counter.value for reason, counter in self._dropped.items()}


def _positive(name: str, value: int | None, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Invalid {name}={value!r}: it must be a positive integer.")

    return value


def _env_batch_size() -> int:
    raw = os.environ.get("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE")
    try:
        value = int(raw) if raw else DEFAULT_MAX_EXPORT_BATCH_SIZE
    except ValueError:
        return DEFAULT_MAX_EXPORT_BATCH_SIZE

    return value if value > 0 else DEFAULT_MAX_EXPORT_BATCH_SIZE


class SafeLogRecordExporter(LogRecordExporter):
    """Repairs records the OTLP encoder would reject, so that each batch exports.

    The OTLP encoder raises on a string that UTF-8 cannot encode (a lone surrogate),
    an int outside int64 and a value of a type it does not know. In a body, event
    name or severity text that fails the whole batch: opentelemetry-exporter-otlp's
    gRPC exporter raises, and its HTTP exporter (1.45) logs the error and returns
    FAILURE. In an attribute the encoder drops just that attribute. Before each
    export this exporter repairs such values (U+FFFD for surrogates, the decimal
    string for a big int, `repr` for an unknown type) and counts the records in
    `records_repaired`. If the export still raises an encoding error, it exports
    the records one by one and drops and counts those that fail. Each kind of
    warning is logged at most once a minute, with the running totals.

    Args:
        exporter: The exporter to protect.
    """

    _ENCODING_ERRORS = (UnicodeError, TypeError, ValueError, OverflowError)

    def __init__(self, exporter: LogRecordExporter):
        self.exporter = exporter
        self._repaired = AtomicCounter()
        self._dropped = AtomicCounter()
        self._failed = AtomicCounter()
        self._rate_limiter = _RateLimiter()

    @property
    def records_repaired(self) -> int:
        """Records whose strings or values were repaired before export."""
        return self._repaired.value

    @property
    def records_dropped(self) -> int:
        """Records dropped because they could not be encoded even after repair."""
        return self._dropped.value

    @property
    def records_failed(self) -> int:
        """Records of batches the exporter reported as failed, after its own
        retries, such as when the collector stayed unreachable past the OTLP
        exporter's timeout. These records are lost."""
        return self._failed.value

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        batch, repaired = self._repaired_batch(batch)
        if not batch:
            return LogRecordExportResult.SUCCESS
        if repaired:
            self._repaired.add(repaired)
            if self._rate_limiter.allow("repaired"):
                _logger.warning(
                    "Repaired log records that the OTLP encoder would reject: %d so far",
                    self.records_repaired,
                )

        try:
            result = self.exporter.export(batch)
        except self._ENCODING_ERRORS as exc:
            if self._rate_limiter.allow("retry"):
                _logger.warning(
                    "Exporting %d log records failed (%r); exporting them one by one",
                    len(batch),
                    exc,
                )
            return self._export_one_by_one(batch)

        if result is not LogRecordExportResult.SUCCESS:
            self._count_failed(len(batch))
        return result

    def _repaired_batch(
        self, batch: Sequence[ReadableLogRecord]
    ) -> tuple[Sequence[ReadableLogRecord], int]:
        """Repair every record; drop and count those whose repair itself raises."""
        repaired = 0
        kept: list[ReadableLogRecord] | None = None
        for index, record in enumerate(batch):
            try:
                repaired += _repair(record.log_record)
            except Exception as exc:  # noqa: BLE001 - hostile values, such as a key whose __str__ raises
                if kept is None:
                    kept = list(batch[:index])
                self._drop_unrepairable(exc)
                continue
            if kept is not None:
                kept.append(record)

        return (batch if kept is None else kept), repaired

    def _drop_unrepairable(self, exc: Exception) -> None:
        self._dropped.increment()
        if self._rate_limiter.allow("unrepairable"):
            _logger.error(
                "Dropped a log record whose values cannot be repaired for export (%r); %d dropped so far",
                exc,
                self.records_dropped,
            )

    def _count_failed(self, records: int) -> None:
        self._failed.add(records)
        if self._rate_limiter.allow("failed"):
            _logger.error(
                "Exporting %d log records failed after the exporter's retries; %d lost so far",
                records,
                self.records_failed,
            )

    def _export_one_by_one(
        self, batch: Sequence[ReadableLogRecord]
    ) -> LogRecordExportResult:
        result = LogRecordExportResult.SUCCESS
        for record in batch:
            try:
                if self.exporter.export([record]) is not LogRecordExportResult.SUCCESS:
                    result = LogRecordExportResult.FAILURE
                    self._count_failed(1)
            except self._ENCODING_ERRORS as exc:
                self._dropped.increment()
                if self._rate_limiter.allow("dropped"):
                    _logger.error(
                        "Dropped log records that cannot be encoded even after repair: %d so far, the last with %r",
                        self.records_dropped,
                        exc,
                    )

        return result

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        flush = getattr(self.exporter, "force_flush", None)
        return bool(flush(timeout_millis)) if flush is not None else True


def _repair(log_record: Any) -> bool:
    """Repair one API log record in place; return True when anything changed.

    The record's attributes are replaced by a new dict rather than changed in place,
    because other exporters' threads may be reading the old mapping.
    NOTE: a repaired record's attributes are a plain dict, so its dropped
    attribute count is exported as 0.
    """
    changed = _repair_timestamps(log_record)
    if not _is_clean(log_record.body):
        log_record.body = _repair_value(log_record.body)
        changed = True

    for name in ("event_name", "severity_text"):
        text = getattr(log_record, name, None)
        if text is not None and not _is_clean_text(text):
            setattr(log_record, name, repair_utf8(str(text)))
            changed = True

    attributes = log_record.attributes
    if attributes and not _attributes_are_clean(attributes):
        log_record.attributes = {
            repair_utf8(str(key)): _repair_value(value)
            for key, value in attributes.items()
        }
        changed = True

    return changed


def _repair_timestamps(log_record: Any) -> bool:
    """Replace timestamps outside the OTLP fixed64 range, which fail the whole batch.

    An invalid record timestamp becomes None, so the observed timestamp is used. An
    invalid observed timestamp becomes the export time.
    """
    changed = False
    if not _valid_nanos(log_record.timestamp, allow_none=True):
        log_record.timestamp = None
        changed = True
    if not _valid_nanos(log_record.observed_timestamp, allow_none=False):
        log_record.observed_timestamp = time.time_ns()
        changed = True

    return changed


def _valid_nanos(value: Any, allow_none: bool) -> bool:
    if value is None:
        return allow_none

    return value.__class__ is int and 0 <= value < _UINT64_LIMIT


def _attributes_are_clean(attributes: Mapping[str, Any]) -> bool:
    return all(
        key.__class__ is str and _is_clean_text(key) and _is_clean(value)
        for key, value in attributes.items()
    )


def _is_clean_text(text: Any) -> bool:
    if not isinstance(text, str):
        return False

    return text.isascii() or repair_utf8(text) is text


def _is_clean(value: Any, depth: int = 0) -> bool:
    """Return True for values the OTLP encoder accepts."""
    if value is None or isinstance(value, (bool, float, bytes)):
        return True
    if isinstance(value, str):
        return _is_clean_text(value)
    if isinstance(value, int):
        return _INT64_MIN <= value <= _INT64_MAX
    if depth >= _MAX_DEPTH:
        return False
    if isinstance(value, (list, tuple)):
        return all(_is_clean(item, depth + 1) for item in value)
    if isinstance(value, Mapping):
        return all(
            _is_clean_text(str(key)) and _is_clean(item, depth + 1)
            for key, item in value.items()
        )

    return False


def _repair_value(value: Any, depth: int = 0) -> Any:
    if _is_clean(value, depth):
        return value
    if isinstance(value, str):
        return repair_utf8(str(value))
    if isinstance(value, int):
        return str(value)
    if depth < _MAX_DEPTH and isinstance(value, (list, tuple)):
        return [_repair_value(item, depth + 1) for item in value]
    if depth < _MAX_DEPTH and isinstance(value, Mapping):
        return {
            repair_utf8(str(key)): _repair_value(item, depth + 1)
            for key, item in value.items()
        }

    return repair_utf8(_safe_repr(value))


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:  # noqa: BLE001 - a foreign __repr__ may raise anything
        return f"<{type(value).__name__} that cannot be represented>"
