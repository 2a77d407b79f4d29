"""Measure the shipped Loki gateway's throughput, bucketed against unbucketed records.

Run: OTELCOL_BIN=... python tests/_collector_throughput.py [RECORDS]

For each variant, a fresh collector runs collector-config/gateway-loki.yaml on
127.0.0.1 ports, with every team's Loki endpoint pointed at one loopback sink
that returns 200 and discards the body. Pre-serialized OTLP/gRPC requests of 512
records each (the SDK's default export batch) are sent from 4 threads. The run
ends when the collector's own metrics show every record sent by both the
otlp_http and the file exporters, bounded by RUN_TIMEOUT_SECONDS. The result
is records per second of wall time and per CPU-second of the collector process
(user + system time from /proc/<pid>/stat), which is its cost per core.

Variants:
    bucketed: each request contains 4 resource groups, one per team, as the
        processor sends them; the routing connector splits them into 4 pipelines.
    unbucketed: each request contains 1 resource group without bucket attributes,
        which resource/bucket_defaults fills in and the default pipeline takes.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
from _gateway import CONFIG_DIR, LOOPBACK_OPENER, Gateway, gateway_env
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1 import logs_pb2

from otel_mlbucket import BucketSpec
from otel_mlbucket.collector import _env, route_table

RECORDS_PER_REQUEST = 512
SENDER_THREADS = 4
RUN_TIMEOUT_SECONDS = 300.0
_EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
_SENT = re.compile(
    r'^otelcol_exporter_sent_log_records_total\{exporter="([^"]+)".*\} (\S+)$',
    re.MULTILINE,
)


def _attribute(key: str, value: str | float) -> KeyValue:
    if isinstance(value, str):
        return KeyValue(key=key, value=AnyValue(string_value=value))

    return KeyValue(key=key, value=AnyValue(double_value=value))


def _records(count: int) -> list[logs_pb2.LogRecord]:
    now = time.time_ns()
    return [
        logs_pb2.LogRecord(
            time_unix_nano=now + index,
            severity_number=9,
            body=AnyValue(string_value=f"prediction {index} for model churn v3"),
            attributes=[
                _attribute("ml.model.name", "churn"),
                _attribute("ml.model.version", "v3"),
                _attribute("ml.inference.latency_ms", 12.5 + index % 7),
                _attribute("ml.prediction.confidence", 0.91),
                _attribute("ml.prediction.expected", 1.0),
                _attribute("ml.prediction.actual", 1.02),
                _attribute("event.name", "ml.prediction"),
                _attribute("request.id", f"req-{index:08d}"),
            ],
        )
        for index in range(count)
    ]


def _request(bucketed: bool) -> bytes:
    request = logs_service_pb2.ExportLogsServiceRequest()
    teams = [route.team for route in route_table(BucketSpec.default()).routes]
    groups = teams if bucketed else [None]
    per_group = RECORDS_PER_REQUEST // len(groups)
    for team in groups:
        resource_logs = request.resource_logs.add()
        resource_logs.resource.attributes.append(_attribute("service.name", "bench"))
        if team is not None:
            for key, value in (
                ("ml.bucket.team", team),
                ("ml.bucket.error_category", "none"),
                ("ml.bucket.model_version", "v3"),
            ):
                resource_logs.resource.attributes.append(_attribute(key, value))
        scope_logs = resource_logs.scope_logs.add()
        scope_logs.log_records.extend(_records(per_group))

    return request.SerializeToString()


class _Sink(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):
        return


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _sent_by_kind(port: str) -> dict[str, float]:
    url = f"http://127.0.0.1:{port}/metrics"
    with LOOPBACK_OPENER.open(url, timeout=5) as response:
        text = response.read().decode()

    totals = {"file": 0.0, "otlp_http": 0.0}
    for exporter, value in _SENT.findall(text):
        totals[exporter.split("/")[0]] = totals.get(exporter.split("/")[0], 0) + float(
            value
        )

    return totals


def measure(binary: Path, bucketed: bool, records: int) -> dict[str, float]:
    """Run one variant and return its throughput figures."""
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    sink_url = f"http://127.0.0.1:{sink.server_address[1]}"
    teams = [route.team for route in route_table(BucketSpec.default()).routes]
    scratch = tempfile.TemporaryDirectory(prefix="mlbucket-throughput-")
    tmp = Path(scratch.name)
    gateway = Gateway(
        binary=binary,
        config=CONFIG_DIR / "gateway-loki.yaml",
        env=gateway_env(tmp, {_env.loki_endpoint(t)[0]: sink_url for t in teams}),
        log_path=tmp / "otelcol.log",
    )
    payload = _request(bucketed)
    requests = records // RECORDS_PER_REQUEST
    try:
        gateway.start()
        assert gateway.process is not None
        channel = grpc.insecure_channel(gateway.env["MLBUCKET_OTLP_GRPC_ENDPOINT"])
        export = channel.unary_unary(_EXPORT, response_deserializer=None)

        def send(count: int) -> None:
            for _ in range(count):
                export(payload, timeout=30)

        cpu_before = _cpu_seconds(gateway.process.pid)
        started = time.perf_counter()
        shares = [requests // SENDER_THREADS] * SENDER_THREADS
        shares[0] += requests - sum(shares)
        senders = [threading.Thread(target=send, args=(n,)) for n in shares]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(RUN_TIMEOUT_SECONDS)

        total = requests * RECORDS_PER_REQUEST
        port = gateway.env["MLBUCKET_TELEMETRY_METRICS_PORT"]
        deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            sent = _sent_by_kind(port)
            if sent["file"] >= total and sent["otlp_http"] >= total:
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        cpu = _cpu_seconds(gateway.process.pid) - cpu_before
        channel.close()
    finally:
        gateway.stop()
        sink.shutdown()
        scratch.cleanup()

    return {
        "records": total,
        "sent_file": sent["file"],
        "sent_otlp_http": sent["otlp_http"],
        "wall_seconds": round(elapsed, 2),
        "collector_cpu_seconds": round(cpu, 2),
        "records_per_second": round(total / elapsed),
        "records_per_cpu_second": round(total / cpu),
    }


def main(argv: list[str]) -> int:
    binary = Path(os.environ["OTELCOL_BIN"])
    records = int(argv[0]) if argv else 200_000
    results = {
        "cpus": os.cpu_count(),
        "bucketed": measure(binary, bucketed=True, records=records),
        "unbucketed": measure(binary, bucketed=False, records=records),
    }
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
