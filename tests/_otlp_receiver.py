"""A loopback OTLP logs receiver (gRPC and HTTP) for tests.

It takes the place of a log backend's OTLP endpoint: it accepts
ExportLogsServiceRequest messages over gRPC and over HTTP POST /v1/logs (protobuf
or JSON), keeps them, and flattens them into one dict per log record.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import (
    logs_service_pb2,
    logs_service_pb2_grpc,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


def any_value(value: AnyValue) -> Any:
    """Convert an OTLP AnyValue to a Python value."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}

    return getattr(value, kind)


def flatten(request: logs_service_pb2.ExportLogsServiceRequest) -> list[dict[str, Any]]:
    """Return one dict per log record: resource, attributes, body, severity."""
    rows = []
    for resource_logs in request.resource_logs:
        resource = {
            kv.key: any_value(kv.value) for kv in resource_logs.resource.attributes
        }
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                rows.append(
                    {
                        "resource": resource,
                        "attributes": {
                            kv.key: any_value(kv.value) for kv in record.attributes
                        },
                        "body": any_value(record.body),
                        "severity_number": record.severity_number,
                        "time_unix_nano": record.time_unix_nano,
                        "event_name": record.event_name,
                    }
                )

    return rows


@dataclass
class OTLPReceiver:
    """Collected requests; thread-safe. `status` sets the HTTP status of responses."""

    requests: list[logs_service_pb2.ExportLogsServiceRequest] = field(
        default_factory=list
    )
    headers: list[dict[str, str]] = field(default_factory=list)
    status: int = 200
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(
        self,
        request: logs_service_pb2.ExportLogsServiceRequest,
        headers: dict[str, str],
    ) -> None:
        with self._lock:
            self.requests.append(request)
            self.headers.append(headers)

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            requests = list(self.requests)

        return [row for request in requests for row in flatten(request)]

    def wait_for(
        self, count: int, timeout_seconds: float = 10.0
    ) -> list[dict[str, Any]]:
        """Return the records once at least `count` arrived, or what arrived by the timeout."""
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            rows = self.records()
            if len(rows) >= count:
                return rows
            time.sleep(0.02)

        return self.records()


class _LogsService(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, receiver: OTLPReceiver):
        self._receiver = receiver

    def Export(self, request, context):  # the gRPC method name
        self._receiver.add(request, dict(context.invocation_metadata()))
        return logs_service_pb2.ExportLogsServiceResponse()


def start_grpc(receiver: OTLPReceiver) -> tuple[grpc.Server, int]:
    """Start a gRPC OTLP receiver on 127.0.0.1; return the server and its port."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(
        _LogsService(receiver), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def start_http(receiver: OTLPReceiver) -> tuple[ThreadingHTTPServer, int]:
    """Start an HTTP OTLP receiver on 127.0.0.1; return the server and its port."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # the http.server method name
            length = int(self.headers.get("Content-Length") or 0)
            payload = self.rfile.read(length)
            if self.headers.get("Content-Encoding") == "gzip":
                import gzip

                payload = gzip.decompress(payload)
            request = logs_service_pb2.ExportLogsServiceRequest()
            if "json" in (self.headers.get("Content-Type") or ""):
                json_format.Parse(payload, request)
            else:
                request.ParseFromString(payload)
            if receiver.status == 200:
                receiver.add(request, dict(self.headers.items()))
            body = logs_service_pb2.ExportLogsServiceResponse().SerializeToString()
            self.send_response(receiver.status)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):  # silences request logging
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def dumps(rows: list[dict[str, Any]]) -> str:
    """Return rows as JSON, for assertion messages."""
    return json.dumps(rows[:5], default=str, indent=1)
