"""Read the collector file exporter's output into the embedded Parquet store.

The file exporter (opentelemetry-collector-contrib fileexporter, v0.148.0) writes
one of three layouts, all of which this module reads:

- `format: json` without compression: one OTLP JSON ExportLogsServiceRequest per line;
- `format: json` with `compression: zstd`: each request as a 4-byte big-endian length
  followed by a zstd frame of its JSON;
- `format: proto`: each request as a 4-byte big-endian length followed by its
  protobuf bytes, zstd-compressed when compression is set.

A truncated or corrupt chunk is reported with its file and byte offset (and line
number for JSON lines) and skipped. Reading goes on with the next chunk where the
layout allows it, and stops at the first bad length prefix otherwise.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

_logger = logging.getLogger(__name__)

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
MAX_CHUNK_BYTES = 256 * 1024 * 1024
"""Largest length prefix accepted; a larger one means the file is corrupt."""

_BATCH_RECORDS = 8192

# Exceptions that converting a decoded request raises when its JSON has the wrong
# shape: a list where an object belongs, "abc" as a doubleValue, bad base64, nesting
# too deep.
_SHAPE_ERRORS = (AttributeError, TypeError, ValueError, KeyError, RecursionError)


@dataclass(frozen=True)
class SkippedChunk:
    """A part of an input file that could not be read.

    Attributes:
        path: The file.
        offset: Byte offset of the chunk in the file (in the decompressed stream for
            a .zst file compressed as a whole).
        line: Line number for JSON lines input, else None.
        reason: What was wrong.
    """

    path: str
    offset: int
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}, " if self.line is not None else ""
        return f"{self.path}: {where}byte {self.offset}: {self.reason}"


@dataclass
class IngestReport:
    """Counts of one ingest run.

    Attributes:
        files: Files read.
        requests: OTLP export requests decoded.
        records: Log records written to the store.
        skipped: Chunks that could not be read, in file order.
    """

    files: int = 0
    requests: int = 0
    records: int = 0
    skipped: list[SkippedChunk] = field(default_factory=list)


def ingest(
    inputs: Sequence[str | os.PathLike[str]],
    store: Any,
) -> IngestReport:
    """Read file exporter output files (or directories of them) into a store.

    Args:
        inputs: Files, or directories whose regular files are read recursively;
            files whose names start with "." are ignored.
        store: A `ParquetLogExporter`; the records are exported to it in batches
            and flushed at the end.

    Returns:
        The counts, and every skipped chunk with its file and offset.

    Raises:
        FileNotFoundError: An input does not exist.
    """
    report = IngestReport()
    batch: list[ReadableLogRecord] = []
    for path in _expand(inputs):
        report.files += 1
        for request, offset, line in _requests(path, report):
            try:
                records = list(_records(request))
            except _SHAPE_ERRORS as exc:
                _skip(report, path, offset, line, f"invalid OTLP log data: {exc!r}")
                continue
            report.requests += 1
            batch.extend(records)
            if len(batch) >= _BATCH_RECORDS:
                report.records += _export(store, batch)
                batch = []

    if batch:
        report.records += _export(store, batch)
    store.force_flush()
    return report


def _export(store: Any, batch: list[ReadableLogRecord]) -> int:
    from opentelemetry.sdk._logs.export import LogRecordExportResult

    result = store.export(batch)
    if result is not LogRecordExportResult.SUCCESS:
        raise RuntimeError(
            f"Writing {len(batch)} ingested records to the store failed; see the log for the cause."
        )

    return len(batch)


def _expand(inputs: Sequence[str | os.PathLike[str]]) -> Iterator[Path]:
    for raw in inputs:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(
                f"Input {os.fspath(raw)!r} not found: pass files written by the collector's file exporter or their directory."
            )
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
            )
        else:
            yield path


def _requests(
    path: Path, report: IngestReport
) -> Iterator[tuple[dict[str, Any], int, int | None]]:
    """Yield each decoded request with its byte offset and line number (JSON lines)."""
    data: bytes | None = path.read_bytes()
    if data is not None and data.startswith(ZSTD_MAGIC):
        data = _decompress_whole(path, data, report)
    if data is None:
        return

    stripped = data.lstrip()
    if not stripped:
        return
    if stripped[:1] == b"{":
        yield from _json_lines(path, data, report)
    else:
        yield from _length_prefixed(path, data, report)


def _decompress_whole(path: Path, data: bytes, report: IngestReport) -> bytes | None:
    try:
        return _zstd_decompress(data)
    except (OSError, ValueError) as exc:
        report.skipped.append(
            SkippedChunk(str(path), 0, None, f"invalid zstd data: {exc}")
        )
        _logger.warning("Skipped %s: invalid zstd data: %s", path, exc)
        return None


def _zstd_decompress(data: bytes) -> bytes:
    import pyarrow as pa

    with pa.input_stream(pa.py_buffer(data), compression="zstd") as stream:
        return stream.read()


def _json_lines(
    path: Path, data: bytes, report: IngestReport
) -> Iterator[tuple[dict[str, Any], int, int | None]]:
    offset = 0
    for number, line in enumerate(data.split(b"\n"), start=1):
        start = offset
        offset += len(line) + 1
        if not line.strip():
            continue
        request = _parse_json(line)
        if isinstance(request, str):
            _skip(report, path, start, number, request)
            continue
        yield request, start, number


def _length_prefixed(
    path: Path, data: bytes, report: IngestReport
) -> Iterator[tuple[dict[str, Any], int, int | None]]:
    offset = 0
    while offset < len(data):
        if len(data) - offset < 4:
            _skip(
                report,
                path,
                offset,
                None,
                f"truncated length prefix ({len(data) - offset} bytes left)",
            )
            return
        (size,) = struct.unpack_from(">I", data, offset)
        if size > MAX_CHUNK_BYTES or offset + 4 + size > len(data):
            reason = f"length prefix {size} exceeds the {len(data) - offset - 4} bytes left; the file is truncated or corrupt"
            _skip(report, path, offset, None, reason)
            return

        payload = data[offset + 4 : offset + 4 + size]
        request = _decode_payload(payload)
        if isinstance(request, str):
            _skip(report, path, offset, None, request)
        else:
            yield request, offset, None
        offset += 4 + size


def _decode_payload(payload: bytes) -> dict[str, Any] | str:
    if payload.startswith(ZSTD_MAGIC):
        try:
            payload = _zstd_decompress(payload)
        except (OSError, ValueError) as exc:
            return f"invalid zstd frame: {exc}"

    if payload.lstrip()[:1] == b"{":
        return _parse_json(payload)

    return _parse_proto(payload)


def _parse_json(raw: bytes) -> dict[str, Any] | str:
    try:
        request = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        return f"invalid OTLP JSON: {exc}"

    if not isinstance(request, dict) or not isinstance(
        request.get("resourceLogs", []), list
    ):
        return "invalid OTLP JSON: expected an object with a resourceLogs list"

    return request


def _parse_proto(raw: bytes) -> dict[str, Any] | str:
    from google.protobuf import json_format
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
        ExportLogsServiceRequest,
    )

    request = ExportLogsServiceRequest()
    try:
        request.ParseFromString(raw)
    except DecodeError as exc:
        return f"invalid OTLP protobuf: {exc}"

    return json_format.MessageToDict(request)


def _skip(
    report: IngestReport, path: Path, offset: int, line: int | None, reason: str
) -> None:
    chunk = SkippedChunk(str(path), offset, line, reason)
    report.skipped.append(chunk)
    _logger.warning("Skipped %s", chunk)


def _records(request: dict[str, Any]) -> Iterator[ReadableLogRecord]:
    for resource_logs in request.get("resourceLogs") or ():
        raw_resource = resource_logs.get("resource") or {}
        resource = Resource(
            _attributes(raw_resource.get("attributes")), resource_logs.get("schemaUrl")
        )
        for scope_logs in resource_logs.get("scopeLogs") or ():
            scope = _scope(scope_logs.get("scope") or {})
            for raw in scope_logs.get("logRecords") or ():
                yield ReadableLogRecord(
                    log_record=_log_record(raw),
                    resource=resource,
                    instrumentation_scope=scope,
                )


def _scope(raw: dict[str, Any]) -> InstrumentationScope:
    return InstrumentationScope(raw.get("name", ""), raw.get("version") or None)


def _log_record(raw: dict[str, Any]) -> LogRecord:
    severity = _severity(raw.get("severityNumber"))
    # trace_id and span_id are the SDK's way to give ids without a live span
    # context; its typing overloads do not combine them with event_name.
    return LogRecord(  # type: ignore[call-overload, misc]
        timestamp=_int(raw.get("timeUnixNano")),
        observed_timestamp=_int(raw.get("observedTimeUnixNano")),
        trace_id=_hex_id(raw.get("traceId")),
        span_id=_hex_id(raw.get("spanId")),
        severity_text=raw.get("severityText") or None,
        severity_number=SeverityNumber(severity) if 0 <= severity <= 24 else None,
        body=_any_value(raw.get("body")),
        attributes=_attributes(raw.get("attributes")),
        event_name=raw.get("eventName") or None,
    )


def _severity(value: Any) -> int:
    if isinstance(value, int):
        return value

    text = str(value or "0")
    if text.isdigit():
        return int(text)

    # MessageToDict writes enums by name, such as SEVERITY_NUMBER_INFO.
    name = text.removeprefix("SEVERITY_NUMBER_")
    member = SeverityNumber.__members__.get(name)
    return member.value if member is not None else 0


def _int(value: Any) -> int | None:
    if value in (None, "", 0, "0"):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _hex_id(value: Any) -> int | None:
    if not value:
        return None
    try:
        return int(value, 16)
    except (TypeError, ValueError):
        # MessageToDict encodes bytes fields as base64, the OTLP JSON encoding as hex.
        try:
            return int.from_bytes(base64.b64decode(value), "big") or None
        except (ValueError, TypeError):
            return None


def _attributes(raw: Iterable[dict[str, Any]] | None) -> dict[str, Any]:
    return {
        item.get("key", ""): _any_value(item.get("value"))
        for item in raw or ()
        if item.get("key")
    }


def _any_value(raw: Any) -> Any:
    if not isinstance(raw, dict) or not raw:
        return None
    if "stringValue" in raw:
        return raw["stringValue"]
    if "boolValue" in raw:
        return bool(raw["boolValue"])
    if "intValue" in raw:
        return _int(raw["intValue"]) or 0
    if "doubleValue" in raw:
        return float(raw["doubleValue"])
    if "bytesValue" in raw:
        return base64.b64decode(raw["bytesValue"], validate=True)
    if "arrayValue" in raw:
        return [
            _any_value(item) for item in (raw["arrayValue"] or {}).get("values") or ()
        ]
    if "kvlistValue" in raw:
        return _attributes((raw["kvlistValue"] or {}).get("values"))

    return None
