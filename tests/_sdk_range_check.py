"""Checks that otel-mlbucket works with the opentelemetry-sdk installed next to it.

tests/test_sdk_range.py runs this script in one virtual environment per end of the
supported SDK range, with the repository on PYTHONPATH. It prints one JSON object
with the versions it saw and exits with status 1 and the failed check's message on
stderr when a check fails.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import sys
import threading
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from _otlp_receiver import OTLPReceiver, start_http  # noqa: E402
from opentelemetry.attributes import BoundedAttributes  # noqa: E402
from opentelemetry.sdk._logs import (  # noqa: E402
    LoggerProvider,
    LogRecordProcessor,
    ReadWriteLogRecord,
)
from opentelemetry.sdk._logs.export import (  # noqa: E402
    BatchLogRecordProcessor,
    InMemoryLogRecordExporter,
    LogRecordExporter,
    LogRecordExportResult,
)

import otel_mlbucket  # noqa: E402
from otel_mlbucket import BucketingProcessor, add_to_provider, configure  # noqa: E402
from otel_mlbucket import attributes as attr  # noqa: E402
from otel_mlbucket import processor as processor_module  # noqa: E402
from otel_mlbucket._export import CountingBatchLogRecordProcessor  # noqa: E402

WAIT_SECONDS = 30
RECORD_PLACEMENTS = {"model_name": "record", "validation": "record"}


def check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def check_imported_from_repository() -> None:
    location = Path(otel_mlbucket.__file__).resolve()
    check(
        ROOT in location.parents,
        f"otel_mlbucket was imported from {location}, not from {ROOT}",
    )


def check_on_emit_signature() -> None:
    parameter = list(inspect.signature(LogRecordProcessor.on_emit).parameters)[1]
    annotation = str(
        inspect.signature(LogRecordProcessor.on_emit).parameters[parameter].annotation
    )
    check(
        "ReadWriteLogRecord" in annotation,
        f"LogRecordProcessor.on_emit takes {annotation}, not a ReadWriteLogRecord",
    )


def check_internals() -> None:
    attributes = BoundedAttributes(maxlen=3, attributes={"a": 1}, immutable=False)
    check(isinstance(attributes._dict, dict), "BoundedAttributes._dict is no dict")
    check(attributes.maxlen == 3, "BoundedAttributes.maxlen is missing")
    with attributes._lock:
        pass
    check(processor_module._FAST_ATTRIBUTES, "the processor found no _dict, _lock")

    provider = LoggerProvider(shutdown_on_exit=False)
    multi = provider._multi_log_record_processor
    check(
        isinstance(multi._log_record_processors, tuple),
        "SynchronousMultiLogRecordProcessor._log_record_processors is no tuple",
    )
    with multi._lock:
        pass

    batch = CountingBatchLogRecordProcessor(InMemoryLogRecordExporter())
    inner = batch._batch_processor
    if batch._count_in_on_emit:
        for name in ("_queue", "_max_queue_size", "_shutdown", "_pid"):
            check(hasattr(inner, name), f"BatchProcessor.{name} is missing")
    else:
        check(
            type(inner._metrics).__name__ == "_DropCountingMetrics",
            "BatchProcessor._metrics was not wrapped",
        )
    batch.shutdown()


def check_buckets_and_routing() -> None:
    exporter = InMemoryLogRecordExporter()
    built = configure(
        "sdk-range",
        exporters=[exporter],
        placements=RECORD_PLACEMENTS,
        attach_to="sdk.range",
        set_global=False,
    )
    logger = logging.getLogger("sdk.range")
    for _ in range(2):
        logger.warning(
            "failed validation",
            extra={
                attr.MODEL_NAME: "churn",
                attr.MODEL_VERSION: "v2",
                attr.VALIDATION_STATUS: "failed",
                attr.VALIDATION_REASON: "schema_mismatch",
            },
        )
    built.force_flush()
    records = exporter.get_finished_logs()
    built.shutdown()

    check(len(records) == 2, f"exported {len(records)} records, expected 2")
    attributes = records[0].log_record.attributes
    check(attributes.get("ml.bucket.model_name") == "churn", f"got {attributes}")
    check(attributes.get("ml.bucket.validation") == "failed", f"got {attributes}")
    check(
        attributes.get("ml.bucket.validation_reason") == "misaligned",
        f"got {attributes}",
    )
    resource = records[0].resource.attributes
    check(resource.get("ml.bucket.team") == "data_engineering", f"got {resource}")
    check(resource.get("ml.bucket.model_version") == "v2", f"got {resource}")
    check(
        resource.get("ml.bucket.error_category") == "data_validation_error",
        f"got {resource}",
    )
    check(
        records[0].resource is records[1].resource,
        "one combination of routing buckets built two Resource objects",
    )


def check_attribute_limits() -> None:
    os.environ["OTEL_ATTRIBUTE_COUNT_LIMIT"] = "3"
    os.environ["OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"] = "4"
    try:
        exporter = InMemoryLogRecordExporter()
        built = configure(
            "sdk-range",
            exporters=[exporter],
            placements=RECORD_PLACEMENTS,
            attach_to=None,
            set_global=False,
        )
        built.logger_provider.get_logger("limits").emit(
            body="x", attributes={"user.a": "abcdefgh", "user.b": 2}
        )
        built.force_flush()
        record = exporter.get_finished_logs()[0]
        stats = built.stats()
        built.shutdown()
    finally:
        del os.environ["OTEL_ATTRIBUTE_COUNT_LIMIT"]
        del os.environ["OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"]

    attributes = dict(record.log_record.attributes)
    check(attributes.get("user.a") == "abcd", f"user attribute lost: {attributes}")
    check(attributes.get("user.b") == 2, f"user attribute lost: {attributes}")
    check(len(attributes) == 3, f"the count limit was not kept: {attributes}")
    check(
        attributes.get("ml.bucket.model_name") == "unknown",
        f"the first bucket attribute is missing or truncated: {attributes}",
    )
    check(stats["attributes_skipped"] == 2, f"skipped count is wrong: {stats}")
    team = record.resource.attributes.get("ml.bucket.team")
    check(team == "unowned", f"resource bucket truncated: {team!r}")


class _BlockingExporter(LogRecordExporter):
    def __init__(self):
        self.entered = threading.Event()
        self.release = threading.Event()
        self.exported = 0

    def export(self, batch):
        self.entered.set()
        self.release.wait(WAIT_SECONDS)
        self.exported += len(batch)
        return LogRecordExportResult.SUCCESS

    def shutdown(self):
        return None

    def force_flush(self, timeout_millis=30000):
        return True


def check_queue_drops() -> None:
    exporter = _BlockingExporter()
    built = configure(
        "sdk-range",
        exporters=[exporter],
        max_queue_size=16,
        schedule_delay_millis=60_000,
        attach_to=None,
        set_global=False,
    )
    logger = built.logger_provider.get_logger("flood")
    for _ in range(16):
        logger.emit(body="x")
    check(exporter.entered.wait(WAIT_SECONDS), "the batch worker never exported")
    for _ in range(100):
        logger.emit(body="x")
    exporter.release.set()
    built.shutdown()

    dropped = built.stats()["queue_dropped"]
    check(
        exporter.exported + dropped == 116,
        f"exported {exporter.exported} + dropped {dropped} != emitted 116",
    )
    check(dropped == 84, f"dropped {dropped}, expected 84")


def check_wire() -> dict[str, int]:
    receiver = OTLPReceiver()
    server, port = start_http(receiver)
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{port}"
    os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf"
    try:
        built = configure(
            "sdk-range", attach_to=None, set_global=False, schedule_delay_millis=60_000
        )
        logger = built.logger_provider.get_logger("wire")
        logger.emit(body="good", attributes={attr.MODEL_VERSION: "v1"})
        logger.emit(body="bad \ud800", attributes={attr.EXCEPTION_TYPE: "OSError"})
        logger.emit(body="good", attributes={attr.VALIDATION_STATUS: "failed"})
        built.force_flush()
        rows = receiver.wait_for(3, WAIT_SECONDS)
        built.shutdown()
    finally:
        server.shutdown()
        server.server_close()
        del os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"]
        del os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"]

    check(len(rows) == 3, f"the receiver got {len(rows)} of 3 records")
    check(
        sorted(row["body"] for row in rows) == ["bad \ufffd", "good", "good"],
        f"got bodies {[row['body'] for row in rows]}",
    )
    groups = len(receiver.requests[0].resource_logs)
    check(groups == 3, f"3 routing combinations arrived in {groups} resource groups")
    return {"resource_groups": groups}


def check_add_to_provider() -> None:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    processor = add_to_provider(provider)
    check(isinstance(processor, BucketingProcessor), "no processor was inserted")
    provider.get_logger("late").emit(body="x", attributes={attr.EXCEPTION_TYPE: "E"})
    provider.force_flush()
    resource = exporter.get_finished_logs()[0].resource.attributes
    provider.shutdown()
    check(resource.get("ml.bucket.team") == "modelling", f"got {resource}")


def main() -> int:
    check_imported_from_repository()
    check_on_emit_signature()
    check_internals()
    check_buckets_and_routing()
    check_attribute_limits()
    check_queue_drops()
    wire = check_wire()
    check_add_to_provider()
    report = {
        "sdk": metadata.version("opentelemetry-sdk"),
        "exporter": metadata.version("opentelemetry-exporter-otlp"),
        "logging_instrumentation": metadata.version(
            "opentelemetry-instrumentation-logging"
        ),
        "read_write_record": ReadWriteLogRecord.__name__,
        **wire,
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
