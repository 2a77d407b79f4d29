"""Per-record cost the bucketing processor adds to the SDK's emit path.

Variants, each emitting the same records through `Logger.emit`:
  emit_nop               a no-op processor: the SDK's own emit cost;
  emit_bucketing         the bucketing processor with the default spec;
  emit_batch             a BatchLogRecordProcessor with an exporter that drops;
  emit_bucketing_batch   bucketing, then the same batch processor.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    LogRecordExporter,
    LogRecordExportResult,
)

from bench._harness import interleaved
from bench._workload import ml_records
from otel_mlbucket.processor import BucketingProcessor

RECORDS_PER_ROUND = 20_000


class _NoOpProcessor(LogRecordProcessor):
    def on_emit(self, log_record):
        return None

    def shutdown(self):
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class _DroppingExporter(LogRecordExporter):
    def export(self, batch):
        return LogRecordExportResult.SUCCESS

    def shutdown(self):
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _emitter(processors: list[LogRecordProcessor], records: list[Any]):
    provider = LoggerProvider(shutdown_on_exit=False)
    for processor in processors:
        provider.add_log_record_processor(processor)
    logger = provider.get_logger("bench")

    def run() -> int:
        for attributes, event_name, severity in records:
            logger.emit(
                body="prediction served",
                attributes=attributes,
                severity_number=severity,
                event_name=event_name,
            )
        provider.force_flush()
        return len(records)

    return run, provider


def _batch() -> BatchLogRecordProcessor:
    return BatchLogRecordProcessor(
        _DroppingExporter(), max_queue_size=RECORDS_PER_ROUND * 2
    )


def run(rounds: int = 7) -> dict[str, Any]:
    """Return per-record microseconds of each variant and the derived targets."""
    records = ml_records(RECORDS_PER_ROUND)
    built = {
        "emit_nop": _emitter([_NoOpProcessor()], records),
        "emit_bucketing": _emitter([BucketingProcessor()], records),
        "emit_batch": _emitter([_batch()], records),
        "emit_bucketing_batch": _emitter([BucketingProcessor(), _batch()], records),
    }
    seconds = interleaved(
        {name: pair[0] for name, pair in built.items()}, rounds=rounds
    )
    for _, provider in built.values():
        provider.shutdown()

    micros = {name: value * 1e6 for name, value in seconds.items()}
    added = micros["emit_bucketing"] - micros["emit_nop"]
    added_batch = micros["emit_bucketing_batch"] - micros["emit_batch"]
    return {
        "us_per_record": micros,
        "added_us": added,
        "added_us_with_batch": added_batch,
        "added_share_of_batch_path": added_batch / micros["emit_batch"],
        "targets": {"added_us_max": 1.0, "added_share_max": 0.10},
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
