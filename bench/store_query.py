"""A one-bucket summary on the embedded store against two other ways to answer it.

The question: for model version v2 on one day, how many predictions were there and
what was their p95 latency? The same records (emitted once through the SDK with the
bucketing processor) are written both to the Parquet store and to a JSON-lines file,
the way unstructured logs usually sit on disk. The three answers:

  store_summary  StoreClient.summary with filters on the day and model version;
  duckdb         DuckDB SQL computing the same summary metrics over the same
                 Parquet files, hive partitioning on;
  jsonl_scan     Python reads every JSON line, parses it and filters.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    LogRecordExporter,
    LogRecordExportResult,
)

from bench._harness import interleaved
from bench._workload import ml_records
from otel_mlbucket.processor import BucketingProcessor
from otel_mlbucket.query import StoreClient
from otel_mlbucket.store import ParquetLogExporter

RECORDS = 300_000
DAYS = 7
START = dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc)
QUESTION_DAY = "2026-11-26"


class _JsonLinesExporter(LogRecordExporter):
    """Writes each record as one JSON object per line, as a log shipper would."""

    def __init__(self, path: Path):
        self._file = path.open("w", encoding="utf-8")

    def export(self, batch):
        for item in batch:
            record = item.log_record
            line = {
                "time_unix_nano": record.timestamp,
                "severity_number": int(record.severity_number),
                "body": record.body,
                "attributes": dict(record.attributes),
                "resource": dict(item.resource.attributes),
            }
            self._file.write(json.dumps(line) + "\n")
        return LogRecordExportResult.SUCCESS

    def shutdown(self):
        self._file.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self._file.flush()
        return True


def _write(directory: Path) -> tuple[Path, Path]:
    store = directory / "store"
    jsonl = directory / "logs.jsonl"
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(BucketingProcessor())
    for exporter in (ParquetLogExporter(store), _JsonLinesExporter(jsonl)):
        provider.add_log_record_processor(
            BatchLogRecordProcessor(
                exporter, max_queue_size=RECORDS, max_export_batch_size=8192
            )
        )

    logger = provider.get_logger("bench")
    step_nanos = DAYS * 86_400 * 10**9 // RECORDS
    start_nanos = int(START.timestamp()) * 10**9
    for index, (attributes, event_name, severity) in enumerate(ml_records(RECORDS)):
        logger.emit(
            timestamp=start_nanos + index * step_nanos,
            body="prediction served",
            attributes=attributes,
            severity_number=severity,
            event_name=event_name,
        )
    provider.shutdown()
    return store, jsonl


def _store_summary(store: Path):
    client = StoreClient(store)

    def run() -> int:
        table = client.summary(
            by=["model_version"],
            window=None,
            filters={
                "day": QUESTION_DAY,
                "model_version": "v2",
                "error_category": "none",
            },
        )
        run.answer = (
            table.column("count")[0].as_py(),
            table.column("latency_p95_ms")[0].as_py(),
        )
        run.files = client.last_query_files
        return 1

    return run


def _duckdb(store: Path):
    import duckdb

    connection = duckdb.connect()
    pattern = str(store / "**" / "*.parquet")
    # The same summary the store computes: every metric StoreClient.summary returns.
    query = (
        "SELECT model_version, count(*) AS count, "
        "count_if(error_category <> 'none') AS error_count, "
        "count_if(error_category <> 'none') / count(*) AS error_rate, "
        "quantile_cont(latency_ms, 0.5), quantile_cont(latency_ms, 0.95), "
        "quantile_cont(latency_ms, 0.99), avg(drift_abs), avg(drift_rel), "
        "quantile_cont(drift_rel, 0.95), count_if(validation = 'failed'), "
        "count_if(validation_reason = 'missing'), "
        "count_if(validation_reason = 'corrupted'), "
        "count_if(validation_reason = 'misaligned'), "
        "count_if(validation_reason = 'other') "
        f"FROM read_parquet('{pattern}', hive_partitioning = true) "
        "WHERE day = ? AND model_version = ? AND error_category = 'none' "
        "GROUP BY model_version"
    )

    def run() -> int:
        row = connection.execute(query, [QUESTION_DAY, "v2"]).fetchone()
        run.answer = (row[1], row[5])
        return 1

    return run


def _jsonl_scan(jsonl: Path):
    def run() -> int:
        latencies = []
        with jsonl.open(encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                resource = row["resource"]
                day = dt.datetime.fromtimestamp(
                    row["time_unix_nano"] / 1e9, dt.timezone.utc
                )
                if (
                    resource.get("ml.bucket.model_version") == "v2"
                    and resource.get("ml.bucket.error_category") == "none"
                    and day.strftime("%Y-%m-%d") == QUESTION_DAY
                ):
                    latencies.append(row["attributes"].get("ml.inference.latency_ms"))
        latencies = sorted(v for v in latencies if v is not None)
        run.answer = (len(latencies), _p95(latencies))
        return 1

    return run


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    position = 0.95 * (len(values) - 1)
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def run(rounds: int = 5) -> dict[str, Any]:
    """Return the seconds each way takes, their results and the speed ratios."""
    directory = Path(tempfile.mkdtemp(prefix="mlbucket-bench-"))
    try:
        store, jsonl = _write(directory)
        variants = {
            "store_summary": _store_summary(store),
            "duckdb": _duckdb(store),
            "jsonl_scan": _jsonl_scan(jsonl),
        }
        seconds = interleaved(variants, rounds=rounds)
        files = sum(1 for _ in store.rglob("*.parquet"))
        return {
            "records": RECORDS,
            "files_in_store": files,
            "files_opened_by_summary": variants["store_summary"].files,
            "seconds": seconds,
            "answers": {
                name: list(variant.answer) for name, variant in variants.items()
            },
            "speedup_vs_jsonl_scan": seconds["jsonl_scan"] / seconds["store_summary"],
            "store_vs_duckdb_time_ratio": seconds["store_summary"] / seconds["duckdb"],
            "targets": {
                "speedup_vs_jsonl_scan_min": 50,
                "store_vs_duckdb_time_ratio_max": 2.0,
            },
        }
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
