"""OTLP export throughput of bucketed against unbucketed records.

The same records are emitted twice through the SDK, once without and once with the
bucketing processor (default spec), and collected in memory. Each set is then
exported in batches of 512 by the SDK's OTLP/HTTP exporter, wrapped as `configure`
wraps it, to a loopback server
that discards the body, and separately encoded only (protobuf build and
serialization), which is where bucket attributes cost.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource

from bench._harness import interleaved
from bench._workload import ml_records
from otel_mlbucket._export import SafeLogRecordExporter
from otel_mlbucket.processor import BucketingProcessor

RECORDS = 10_000
BATCH = 512


class _Sink(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):
        return


def _finished_records(bucketed: bool, rows: list[Any]) -> list[Any]:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(
        resource=Resource.create({"service.name": "bench-model-server"}),
        shutdown_on_exit=False,
    )
    if bucketed:
        provider.add_log_record_processor(BucketingProcessor())
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("bench")
    for attributes, event_name, severity in rows:
        logger.emit(
            body="prediction served",
            attributes=attributes,
            severity_number=severity,
            event_name=event_name,
        )

    return list(exporter.get_finished_logs())


def _encoder(records: list[Any]):
    def run() -> int:
        for start in range(0, len(records), BATCH):
            encode_logs(records[start : start + BATCH]).SerializeToString()
        return len(records)

    return run


def _exporter(records: list[Any], endpoint: str):
    # configure() wraps every exporter this way, so this is the default path.
    exporter = SafeLogRecordExporter(OTLPLogExporter(endpoint=endpoint))

    def run() -> int:
        for start in range(0, len(records), BATCH):
            exporter.export(records[start : start + BATCH])
        return len(records)

    return run


def run(rounds: int = 5) -> dict[str, Any]:
    """Return records per second of each variant and the bucketed/unbucketed ratios."""
    rows = ml_records(RECORDS)
    plain = _finished_records(False, rows)
    bucketed = _finished_records(True, rows)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}/v1/logs"
    try:
        seconds = interleaved(
            {
                "encode_unbucketed": _encoder(plain),
                "encode_bucketed": _encoder(bucketed),
                "http_unbucketed": _exporter(plain, endpoint),
                "http_bucketed": _exporter(bucketed, endpoint),
            },
            rounds=rounds,
        )
    finally:
        server.shutdown()
        server.server_close()

    per_second = {name: 1 / value for name, value in seconds.items()}
    return {
        "records_per_second": per_second,
        "encode_ratio": per_second["encode_bucketed"] / per_second["encode_unbucketed"],
        "http_ratio": per_second["http_bucketed"] / per_second["http_unbucketed"],
        "resource_groups_per_batch": _groups(bucketed),
        "targets": {"ratio_min": 0.90},
    }


def _groups(records: list[Any]) -> float:
    batches = [records[i : i + BATCH] for i in range(0, len(records), BATCH)]
    counts = [len(encode_logs(batch).resource_logs) for batch in batches]
    return sum(counts) / len(counts)


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
