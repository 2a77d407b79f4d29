"""Reading the collector file exporter's layouts into the Parquet store."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from otel_mlbucket.cli import main
from otel_mlbucket.ingest import ingest
from otel_mlbucket.store import ParquetLogExporter

TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPAN_ID = "eee19b7ec3c1b174"


def _record(index: int, **attributes: object) -> dict:
    values = [{"key": k, "value": _value(v)} for k, v in attributes.items()]
    return {
        "timeUnixNano": str(1_767_225_600_000_000_000 + index * 1_000_000_000),
        "observedTimeUnixNano": str(1_767_225_600_000_000_000 + index * 1_000_000_000),
        "severityNumber": 9,
        "severityText": "INFO",
        "body": {"stringValue": f"prediction {index}"},
        "attributes": values,
        "traceId": TRACE_ID,
        "spanId": SPAN_ID,
        "eventName": "ml.prediction",
    }


def _value(value: object) -> dict:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def _request(records: list[dict], team: str = "unowned") -> dict:
    resource = [
        {"key": "service.name", "value": {"stringValue": "scorer"}},
        {"key": "ml.bucket.team", "value": {"stringValue": team}},
    ]
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": resource},
                "scopeLogs": [{"scope": {"name": "app"}, "logRecords": records}],
            }
        ]
    }


def _predictions(start: int, count: int) -> list[dict]:
    return [
        _record(
            start + i,
            **{
                "ml.model.name": "scorer",
                "ml.model.version": "v1",
                "ml.inference.latency_ms": 20.0 + start + i,
                "ml.prediction.expected": 100.0,
                "ml.prediction.actual": 100.0 + (start + i) * 0.5,
            },
        )
        for i in range(count)
    ]


def _zstd(data: bytes) -> bytes:
    return pa.compress(data, codec="zstd", asbytes=True)


def _framed(payloads: list[bytes]) -> bytes:
    return b"".join(struct.pack(">I", len(p)) + p for p in payloads)


def _rows(store: Path) -> pa.Table:
    return ds.dataset(store, format="parquet", partitioning="hive").to_table()


def _ingest(tmp_path: Path, name: str, content: bytes):
    source = tmp_path / name
    source.write_bytes(content)
    store = ParquetLogExporter(tmp_path / "store")
    report = ingest([source], store)
    store.shutdown()
    return report, tmp_path / "store"


def test_json_lines_round_trip(tmp_path):
    lines = [
        json.dumps(_request(_predictions(0, 3))),
        json.dumps(_request(_predictions(3, 2))),
    ]

    report, store = _ingest(tmp_path, "logs.json", "\n".join(lines).encode() + b"\n")
    table = _rows(store)

    assert report.records == 5
    assert report.requests == 2
    assert report.skipped == []
    assert table.num_rows == 5
    assert set(table.column("model_version").to_pylist()) == {"v1"}
    assert TRACE_ID in table.column("trace_id").to_pylist()


def test_zstd_framed_json(tmp_path):
    payloads = [
        _zstd(json.dumps(_request(_predictions(i * 4, 4))).encode()) for i in range(3)
    ]

    report, store = _ingest(tmp_path, "logs.json.zst", _framed(payloads))

    assert report.records == 12
    assert report.skipped == []
    assert _rows(store).num_rows == 12


def test_buckets_computed_from_values(tmp_path):
    line = json.dumps(_request(_predictions(0, 1) + _predictions(40, 1)))

    _, store = _ingest(tmp_path, "logs.json", line.encode())
    table = _rows(store).sort_by("time")

    assert table.column("latency").to_pylist() == ["10-50ms", "50-100ms"]
    assert table.column("drift").to_pylist() == ["within_tolerance", "moderate"]
    assert table.column("day").to_pylist() == ["2026-01-01", "2026-01-01"]


def test_corrupt_json_line_skipped_with_position(tmp_path):
    good = json.dumps(_request(_predictions(0, 2)))
    content = f"{good}\n{{not json\n{good}\n".encode()

    report, _ = _ingest(tmp_path, "logs.json", content)

    assert report.records == 4
    assert len(report.skipped) == 1
    assert report.skipped[0].line == 2
    assert report.skipped[0].offset == len(good) + 1
    assert "invalid OTLP JSON" in report.skipped[0].reason


def test_truncated_frame_skipped_with_offset(tmp_path):
    first = _zstd(json.dumps(_request(_predictions(0, 2))).encode())
    second = _zstd(json.dumps(_request(_predictions(2, 2))).encode())
    content = _framed([first, second])[: -len(second) // 2]

    report, _ = _ingest(tmp_path, "logs.json.zst", content)

    assert report.records == 2
    assert len(report.skipped) == 1
    assert report.skipped[0].offset == 4 + len(first)
    assert "truncated" in report.skipped[0].reason


def test_corrupt_zstd_frame_skipped(tmp_path):
    good = _zstd(json.dumps(_request(_predictions(0, 3))).encode())
    bad = b"\x28\xb5\x2f\xfd" + b"\x00" * 20

    report, _ = _ingest(tmp_path, "logs.json.zst", _framed([bad, good]))

    assert report.records == 3
    assert len(report.skipped) == 1
    assert report.skipped[0].offset == 0
    assert "zstd" in report.skipped[0].reason


def test_protobuf_frames(tmp_path):
    from google.protobuf import json_format
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
        ExportLogsServiceRequest,
    )

    request = _request(_predictions(0, 3))
    for record in request["resourceLogs"][0]["scopeLogs"][0]["logRecords"]:
        del record["traceId"], record["spanId"]
    message = json_format.ParseDict(request, ExportLogsServiceRequest())

    report, store = _ingest(
        tmp_path, "logs.proto", _framed([message.SerializeToString()])
    )

    assert report.records == 3
    assert _rows(store).column("severity").to_pylist() == ["info"] * 3


def test_cli_reports_skips(tmp_path, capsys):
    source = tmp_path / "logs.json"
    source.write_text(json.dumps(_request(_predictions(0, 2))) + "\n{broken\n")

    code = main(["ingest", str(source), "--store", str(tmp_path / "store"), "--strict"])
    captured = capsys.readouterr()

    assert code == 1
    assert "Ingested 2 records" in captured.out
    assert "line 2" in captured.err


def test_cli_missing_input(tmp_path, capsys):
    code = main(
        ["ingest", str(tmp_path / "absent.json"), "--store", str(tmp_path / "s")]
    )

    assert code == 2
    assert "absent.json" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"", b"\n\n"])
def test_empty_input(tmp_path, content):
    report, _ = _ingest(tmp_path, "empty.json", content)

    assert report.records == 0
    assert report.skipped == []


@pytest.mark.parametrize(
    "line",
    [
        '{"resourceLogs": [1]}',
        '{"resourceLogs": [{"scopeLogs": "text"}]}',
        '{"resourceLogs": [{"scopeLogs": [{"logRecords": [1, 2]}]}]}',
        '{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"doubleValue": "abc"}}]}]}]}',
        '{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"bytesValue": "@@"}}]}]}]}',
        '{"resourceLogs": [{"resource": {"attributes": "x"}}]}',
    ],
)
def test_wrong_shape_skipped_with_position(tmp_path, line):
    good = json.dumps(_request(_predictions(0, 2)))

    report, _ = _ingest(tmp_path, "logs.json", f"{good}\n{line}\n{good}\n".encode())

    assert report.records == 4
    assert len(report.skipped) == 1
    assert report.skipped[0].line == 2
    assert "invalid OTLP" in report.skipped[0].reason


def test_deep_nesting_skipped(tmp_path):
    body = (
        '{"kvlistValue": {"values": [{"key": "k", "value": ' * 3000
        + "{}"
        + "}]}}" * 3000
    )
    record = (
        '{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": ' + body + "}]}]}]}"
    )

    report, _ = _ingest(tmp_path, "logs.json", record.encode())

    assert report.records == 0
    assert len(report.skipped) == 1
