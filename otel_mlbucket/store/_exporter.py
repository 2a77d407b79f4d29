"""`ParquetLogExporter`: the SDK log exporter that writes the embedded store."""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult

from otel_mlbucket._spec import BucketSpec
from otel_mlbucket.processor import SPEC_ENV
from otel_mlbucket.store import _compact, _layout
from otel_mlbucket.store._rows import RowBuffer
from otel_mlbucket.store._validate import validated_settings

_logger = logging.getLogger(__name__)

DEFAULT_PARTITION_BY = ("day", "error_category")
DEFAULT_MAX_BUFFERED_ROWS = 65_536
"""Maximum rows in memory before a flush: about 64 MiB at an estimated 1 KiB a row."""
DEFAULT_MAX_BUFFER_AGE_MILLIS = 60_000
DEFAULT_ROW_GROUP_ROWS = 131_072
"""Close to the 122,880 rows of DuckDB's default Parquet row group (DuckDB's Parquet
Tips page), because DuckDB and pyarrow read row groups in parallel and large groups
cost fewer column chunks per query."""
DEFAULT_COMPACT_MIN_FILES = 8
DEFAULT_COMPACT_TARGET_ROWS = 1_048_576
DEFAULT_SORT_BY = ("hour", "model_name", "model_version", "time")
COMPRESSIONS = ("zstd", "snappy", "gzip", "brotli", "lz4", "none")
_ERROR_INTERVAL_SECONDS = 60.0

_EXPORTERS: weakref.WeakSet[ParquetLogExporter] = weakref.WeakSet()


def _reset_in_child() -> None:
    for exporter in list(_EXPORTERS):
        exporter._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)


class ParquetLogExporter(LogRecordExporter):
    """Writes bucketed log records to a Hive-partitioned Parquet dataset.

    Each row has every bucket output of the spec as a string column. Outputs the
    spec places on the resource or the record are read from there. Outputs placed
    at the store, and any the record lacks, are computed here from the same spec
    dimensions, in the batch thread rather than on the emit path.

    Rows are buffered in memory. A flush happens when `max_buffered_rows` rows are
    buffered, when an export finds the oldest buffered row older than
    `max_buffer_age_millis`, and on `force_flush` and `shutdown`. A flush writes one
    file per partition. See `otel_mlbucket.store` for the layout, the partition value
    escaping and how files appear atomically. When a partition then contains
    `compact_min_files` files with fewer than `compact_target_rows` rows each, they
    are merged into one file sorted by `sort_by`.

    Contract: `export` never raises. A failed conversion or write returns FAILURE,
    logs an error with the path and the row count (at most once a minute per kind)
    and counts the rows in `rows_failed`. Rows buffered by an earlier export that
    returned SUCCESS and then fail to write are counted there too, and the flush that
    lost them returns False. The exporter is thread safe. After `os.fork()` the child
    starts with an empty buffer, because the parent still buffers and writes those
    rows. File names include the writer's process id.

    Logs go to the `otel_mlbucket.store._exporter` and `otel_mlbucket.store._compact`
    loggers, which the handler of `otel_mlbucket.configure` keeps out of the pipeline.

    Args:
        path: The store's root directory; created if missing.
        spec: The bucket spec; defaults to the file named by OTEL_MLBUCKET_SPEC, or
            the shipped default spec. Pass the processor's `spec` so that both use
            the same dimensions.
        partition_by: Bucket outputs that become directory levels, in order.
        sort_by: Columns that flushed and compacted files are sorted by; the
            default sorts by hour, model_name, model_version and time, where the
            spec has them.
        max_buffered_rows: Rows buffered before a flush.
        max_buffer_age_millis: Age in ms of the oldest buffered row after which
            the next export flushes. No timer thread runs, so an idle exporter
            keeps its rows until the next export, force_flush or shutdown.
        row_group_rows: Maximum rows per Parquet row group.
        compact_min_files: Small files in one partition that start a compaction.
        compact_target_rows: Files with fewer rows are small.
        compact: Compact after each flush. `compact()` runs it on demand.
        compression: Parquet compression codec.
        fsync: fsync each file and directory before it counts as written.
        clock: Monotonic clock in seconds, for the buffer age.

    Raises:
        ValueError: An argument is invalid; the message names it, the value and the
            valid choices.
        OSError: The store directory cannot be created.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        spec: BucketSpec | None = None,
        partition_by: Sequence[str] = DEFAULT_PARTITION_BY,
        sort_by: Sequence[str] | None = None,
        max_buffered_rows: int = DEFAULT_MAX_BUFFERED_ROWS,
        max_buffer_age_millis: float = DEFAULT_MAX_BUFFER_AGE_MILLIS,
        row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
        compact_min_files: int = DEFAULT_COMPACT_MIN_FILES,
        compact_target_rows: int = DEFAULT_COMPACT_TARGET_ROWS,
        compact: bool = True,
        compression: str = "zstd",
        fsync: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ):
        spec = spec if spec is not None else _spec_from_environment()
        buffer = RowBuffer(spec)
        settings = validated_settings(
            path=path,
            schema=buffer.schema,
            spec_outputs=spec.outputs(),
            partition_by=partition_by,
            sort_by=sort_by if sort_by is not None else DEFAULT_SORT_BY,
            explicit_sort=sort_by is not None,
            max_buffered_rows=max_buffered_rows,
            max_buffer_age_millis=max_buffer_age_millis,
            row_group_rows=row_group_rows,
            compact_min_files=compact_min_files,
            compact_target_rows=compact_target_rows,
            compression=compression,
            compressions=COMPRESSIONS,
            clock=clock,
        )

        self.path = Path(path)
        self.spec = spec
        self.schema = buffer.schema
        self.partition_by = settings.partition_by
        self.sort_by = settings.sort_by
        self.max_buffered_rows = max_buffered_rows
        self.max_buffer_age_millis = max_buffer_age_millis
        self.compact_enabled = compact
        self._compaction = _compact.CompactionSettings(
            min_files=compact_min_files,
            target_rows=compact_target_rows,
            sort_by=self.sort_by,
            row_group_rows=row_group_rows,
            compression=compression,
            fsync=fsync,
        )
        self._clock = clock
        self._buffer = buffer
        self._oldest: float | None = None
        self._lock = threading.Lock()
        self._counts_lock = threading.Lock()
        self._row_counts: dict[str, int] = {}
        self._errors_at: dict[str, float] = {}
        self._shutdown = False
        self._rows_written = 0
        self._rows_failed = 0
        self._files_written = 0

        self.path.mkdir(parents=True, exist_ok=True)
        _EXPORTERS.add(self)

    @property
    def rows_written(self) -> int:
        """Rows written to visible Parquet files."""
        return self._rows_written

    @property
    def rows_failed(self) -> int:
        """Rows lost because converting or writing them failed, or after shutdown."""
        return self._rows_failed

    @property
    def rows_buffered(self) -> int:
        """Rows in memory, waiting for a flush."""
        return len(self._buffer)

    @property
    def files_written(self) -> int:
        """Data files this exporter wrote, compacted files included."""
        return self._files_written

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        """Buffer a batch and flush when the buffer is full or old. Never raises."""
        try:
            return self._export(batch)
        except Exception as exc:  # noqa: BLE001 - export never raises into the SDK
            self._count_failed(len(batch))
            self._log_error(
                "export",
                "Storing %d log records in %s failed: %r",
                len(batch),
                self.path,
                exc,
            )
            return LogRecordExportResult.FAILURE

    def _export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        if self._shutdown:
            self._count_failed(len(batch))
            self._log_error(
                "shutdown",
                "Dropped %d log records: the store exporter for %s is shut down",
                len(batch),
                self.path,
            )
            return LogRecordExportResult.FAILURE

        with self._lock:
            converted = self._buffer_batch(batch)
            flushed = self._flush_locked() if self._should_flush() else True

        success = converted and flushed
        return (
            LogRecordExportResult.SUCCESS if success else LogRecordExportResult.FAILURE
        )

    def _buffer_batch(self, batch: Sequence[ReadableLogRecord]) -> bool:
        if self._oldest is None and batch:
            self._oldest = self._clock()

        failed = 0
        last_error: Exception | None = None
        for readable in batch:
            try:
                self._buffer.append(readable)
            except Exception as exc:  # noqa: BLE001 - a bad record fails alone
                failed += 1
                last_error = exc

        if failed:
            self._count_failed(failed)
            self._log_error(
                "convert",
                "Dropped %d of %d log records for %s that could not be converted: %r",
                failed,
                len(batch),
                self.path,
                last_error,
            )

        return failed == 0

    def _should_flush(self) -> bool:
        if len(self._buffer) >= self.max_buffered_rows:
            return True
        if self._oldest is None:
            return False

        age_millis = (self._clock() - self._oldest) * 1000.0
        return age_millis >= self.max_buffer_age_millis

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Write every buffered row. Returns False when some rows failed to write.

        NOTE: the timeout is not enforced; a flush writes and compacts to the end.
        """
        with self._lock:
            return self._flush_locked()

    def shutdown(self) -> None:
        """Write every buffered row and reject later exports."""
        with self._lock:
            if self._shutdown:
                return
            self._flush_locked()
            self._shutdown = True

    def compact(self) -> list[_compact.CompactionResult]:
        """Merge small files in every partition of the store now.

        Returns:
            One result per partition that was merged.
        """
        results = []
        with self._lock:
            for directory in _layout.leaf_directories(self.path):
                result = self._compact_partition(directory)
                if result is not None:
                    results.append(result)

        return results

    def _flush_locked(self) -> bool:
        self._oldest = None
        try:
            table = self._buffer.drain()
        except Exception as exc:  # noqa: BLE001 - never raise into the SDK worker
            lost = len(self._buffer)
            self._buffer.clear()
            self._count_failed(lost)
            self._log_error(
                "convert",
                "Dropped %d buffered log records for %s: %r",
                lost,
                self.path,
                exc,
            )
            return False
        if table is None:
            return True

        success = True
        parts = _layout.split_by_partition(
            table, self.path, self.partition_by, self.sort_by
        )
        for directory, part in parts:
            success = self._write_partition(directory, part) and success

        return success

    def _write_partition(self, directory: Path, table: pa.Table) -> bool:
        try:
            written = _layout.write_table_atomically(
                table,
                directory,
                _layout.data_file_name(),
                row_group_rows=self._compaction.row_group_rows,
                compression=self._compaction.compression,
                fsync=self._compaction.fsync,
            )
        except (OSError, pa.ArrowException) as exc:
            self._count_failed(table.num_rows)
            self._log_error(
                "write",
                "Writing %d log records to %s failed; they are lost: %r",
                table.num_rows,
                directory,
                exc,
            )
            return False

        with self._counts_lock:
            self._rows_written += table.num_rows
            self._files_written += 1
        self._row_counts[str(written)] = table.num_rows
        if self.compact_enabled:
            self._compact_partition(directory)

        return True

    def _compact_partition(self, directory: Path) -> _compact.CompactionResult | None:
        try:
            result = _compact.compact_partition(
                directory, self._compaction, self._row_counts
            )
        except (OSError, pa.ArrowException) as exc:
            # The small files stay in place and readable; the next flush retries.
            self._log_error(
                "compact", "Compacting the files in %s failed: %r", directory, exc
            )
            return None

        if result is not None:
            with self._counts_lock:
                self._files_written += 1

        return result

    def _count_failed(self, rows: int) -> None:
        with self._counts_lock:
            self._rows_failed += rows

    def _log_error(self, kind: str, message: str, *args: Any) -> None:
        now = time.monotonic()
        last = self._errors_at.get(kind)
        if last is not None and now - last < _ERROR_INTERVAL_SECONDS:
            return

        self._errors_at[kind] = now
        _logger.error(message, *args)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        self._counts_lock = threading.Lock()
        self._buffer.clear()
        self._oldest = None


def _spec_from_environment() -> BucketSpec:
    path = os.environ.get(SPEC_ENV)
    return BucketSpec.from_file(path) if path else BucketSpec.default()
