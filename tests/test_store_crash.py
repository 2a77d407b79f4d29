"""Compaction, and crash safety of writes and compactions killed with SIGKILL."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

from otel_mlbucket import attributes as attr
from otel_mlbucket.processor import BucketingProcessor
from otel_mlbucket.query import StoreClient
from otel_mlbucket.store import ParquetLogExporter, list_data_files

T0 = 1_714_564_800_000_000_000  # 2024-05-01T12:00:00Z in ns
MODELS = ["churn", "fraud", "ranker", "ads"]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals")


def emit_rows(
    path: Path, count: int, *, start: int = 0, **options
) -> ParquetLogExporter:
    """Write `count` rows through the SDK, bodies "row <n>", in shuffled model order."""
    provider = LoggerProvider()
    processor = BucketingProcessor()
    provider.add_log_record_processor(processor)
    options.setdefault("fsync", False)
    exporter = ParquetLogExporter(path, spec=processor.spec, **options)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("test")
    shuffled = random.Random(count + start)
    for index in range(start, start + count):
        logger.emit(
            timestamp=T0 + index * 1_000_000_000,
            severity_number=SeverityNumber.INFO,
            attributes={attr.MODEL_NAME: shuffled.choice(MODELS)},
            body=f"row {index}",
        )
    provider.shutdown()
    return exporter


def stored_bodies(path: Path) -> list[str]:
    return sorted(StoreClient(path).read(["body"])["body"].to_pylist())


def expected_bodies(count: int) -> list[str]:
    return sorted(f"row {index}" for index in range(count))


def sort_keys(table) -> list[tuple]:
    return list(
        zip(
            table["hour"].to_pylist(),
            table["model_name"].to_pylist(),
            table["model_version"].to_pylist(),
            table["time"].cast("int64").to_pylist(),
            strict=True,
        )
    )


def test_compaction_merges_small_files(tmp_path):
    options = {"max_buffered_rows": 10, "compact_min_files": 4, "row_group_rows": 16}
    emit_rows(tmp_path, 30, **options)
    before = list_data_files(tmp_path)

    exporter = emit_rows(tmp_path, 10, start=30, **options)

    after = list_data_files(tmp_path)
    assert len(before) == 3
    assert len(after) == 1
    assert exporter.rows_written == 10
    assert stored_bodies(tmp_path) == expected_bodies(40)
    merged = pq.read_table(after[0])
    assert sort_keys(merged) == sorted(sort_keys(merged))
    metadata = pq.read_metadata(after[0])
    assert metadata.num_rows == 40
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [
        16,
        16,
        8,
    ]


def test_compaction_skips_large_files(tmp_path):
    emit_rows(tmp_path, 40, max_buffered_rows=40, compact=False)
    emit_rows(tmp_path, 9, start=40, max_buffered_rows=3, compact=False)
    exporter = ParquetLogExporter(
        tmp_path, compact_min_files=3, compact_target_rows=20, fsync=False
    )

    (result,) = exporter.compact()

    assert len(result.inputs) == 3
    assert result.rows == 9
    sizes = sorted(pq.read_metadata(f).num_rows for f in list_data_files(tmp_path))
    assert sizes == [9, 40]
    assert stored_bodies(tmp_path) == expected_bodies(49)


def test_compaction_waits_for_enough_files(tmp_path):
    emit_rows(tmp_path, 6, max_buffered_rows=2, compact=False)
    exporter = ParquetLogExporter(tmp_path, compact_min_files=4, fsync=False)

    results = exporter.compact()

    assert results == []
    assert len(list_data_files(tmp_path)) == 3


def test_compaction_per_partition(tmp_path):
    emit_rows(
        tmp_path, 12, max_buffered_rows=3, compact=False, partition_by=("model_name",)
    )
    partitions_before = {f.parent for f in list_data_files(tmp_path)}
    exporter = ParquetLogExporter(
        tmp_path, partition_by=("model_name",), compact_min_files=2, fsync=False
    )

    results = exporter.compact()

    after = list_data_files(tmp_path)
    assert {f.parent for f in after} == partitions_before
    assert len(after) == len(partitions_before)
    assert (
        sum(r.rows for r in results)
        + sum(
            pq.read_metadata(f).num_rows
            for f in after
            if f not in {r.output for r in results}
        )
        == 12
    )
    assert stored_bodies(tmp_path) == expected_bodies(12)


def run_child(code: str, *, wait_for: str | None = None) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if wait_for is not None:
        for line in process.stdout:
            if line.strip() == wait_for:
                break
    return process


KILLED_WRITER = """
    import os, sys
    from opentelemetry._logs import LogRecord
    from opentelemetry.sdk._logs import ReadableLogRecord
    from opentelemetry.sdk.resources import Resource
    from otel_mlbucket.store import ParquetLogExporter

    exporter = ParquetLogExporter(
        sys.argv[1] if len(sys.argv) > 1 else {path!r},
        partition_by=(),
        max_buffered_rows=10**9,
        row_group_rows=2000,
        compression="gzip",
        compact=False,
        fsync=False,
    )
    resource = Resource.create({{}})

    def batch(start, count, body_bytes):
        return [
            ReadableLogRecord(
                LogRecord(
                    timestamp={t0} + index,
                    observed_timestamp={t0} + index,
                    body=os.urandom(body_bytes).hex(),
                    attributes={{"ml.model.name": "m", "row": index}},
                ),
                resource,
            )
            for index in range(start, start + count)
        ]

    exporter.export(batch(0, 100, 8))
    exporter.force_flush()
    for start in range(100, {rows}, 1000):
        exporter.export(batch(start, 1000, 512))
    print("flushing", flush=True)
    exporter.force_flush()
    print("finished", flush=True)
"""


def test_killed_writer_leaves_no_visible_half_file(tmp_path):
    child = run_child(
        KILLED_WRITER.format(path=str(tmp_path), t0=T0, rows=50_100),
        wait_for="flushing",
    )
    temporary = None
    for _ in range(20_000):
        temporary = next(tmp_path.glob(".tmp-*.parquet"), None)
        if temporary is not None or child.poll() is not None:
            break
        time.sleep(0.001)
    child.send_signal(signal.SIGKILL)
    child.wait()

    assert temporary is not None, (
        "the writer finished before its temporary file was seen"
    )
    assert child.returncode == -signal.SIGKILL
    visible = list_data_files(tmp_path)
    assert len(visible) == 1
    assert pq.read_table(visible[0]).num_rows == 100
    assert StoreClient(tmp_path).read(["body"]).num_rows == 100
    assert list(tmp_path.glob(".tmp-*.parquet")) == [temporary]


def test_restart_removes_dead_writer_temporary_file(tmp_path):
    emit_rows(tmp_path, 3, partition_by=())
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
    )
    leftover = tmp_path / f".tmp-{dead.stdout.strip()}-0123.parquet"
    leftover.write_bytes(b"PAR1 half")
    recent = tmp_path / f".tmp-{dead.stdout.strip()}-89ab.parquet"
    recent.write_bytes(b"PAR1 written just now")
    live = tmp_path / f".tmp-{os.getpid()}-4567.parquet"
    live.write_bytes(b"PAR1 in progress")
    hour_ago = time.time() - 3600
    for path in (leftover, live):
        os.utime(path, (hour_ago, hour_ago))

    emit_rows(tmp_path, 1, start=3, partition_by=())

    assert not leftover.exists()
    assert recent.exists()
    assert live.exists()
    assert stored_bodies(tmp_path) == expected_bodies(4)


CRASHING_COMPACTION = """
    import os, signal, pathlib
    from otel_mlbucket.store import ParquetLogExporter
    from otel_mlbucket.store import _layout

    def crash(*args, **kwargs):
        print("crashing", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    {patch}
    exporter = ParquetLogExporter(
        {path!r}, partition_by=(), compact_min_files=2, fsync=False
    )
    exporter.compact()
    print("compaction finished", flush=True)
"""

AFTER_PUBLISH = "pathlib.Path.unlink = crash"
BEFORE_PUBLISH = """
real_replace = os.replace
def replace(source, destination):
    if str(destination).endswith(".parquet"):
        crash()
    return real_replace(source, destination)
_layout.os.replace = replace
"""


def crash_compaction(path: Path, patch: str) -> subprocess.CompletedProcess:
    code = textwrap.dedent(CRASHING_COMPACTION).format(
        path=str(path), patch=patch.strip()
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )


def test_compaction_killed_after_publish(tmp_path):
    emit_rows(tmp_path, 12, max_buffered_rows=3, compact=False, partition_by=())

    crashed = crash_compaction(tmp_path, AFTER_PUBLISH)

    assert crashed.returncode == -signal.SIGKILL
    assert "crashing" in crashed.stdout
    on_disk = sorted(tmp_path.glob("part-*.parquet"))
    assert len(on_disk) == 5
    assert len(list(tmp_path.glob("_compaction-*.json"))) == 1
    assert len(list_data_files(tmp_path)) == 1
    assert stored_bodies(tmp_path) == expected_bodies(12)

    ParquetLogExporter(
        tmp_path, partition_by=(), compact_min_files=2, fsync=False
    ).compact()

    assert len(list(tmp_path.glob("part-*.parquet"))) == 1
    assert list(tmp_path.glob("_compaction-*.json")) == []
    assert stored_bodies(tmp_path) == expected_bodies(12)


def test_compaction_killed_before_publish(tmp_path):
    emit_rows(tmp_path, 12, max_buffered_rows=3, compact=False, partition_by=())

    crashed = crash_compaction(tmp_path, BEFORE_PUBLISH)

    assert crashed.returncode == -signal.SIGKILL
    assert len(list(tmp_path.glob("part-*.parquet"))) == 4
    assert len(list(tmp_path.glob("_compaction-*.json"))) == 1
    assert len(list(tmp_path.glob(".tmp-*.parquet"))) == 1
    assert len(list_data_files(tmp_path)) == 4
    assert stored_bodies(tmp_path) == expected_bodies(12)
    hour_ago = time.time() - 3600
    for path in tmp_path.glob(".tmp-*"):
        os.utime(path, (hour_ago, hour_ago))

    ParquetLogExporter(
        tmp_path, partition_by=(), compact_min_files=2, fsync=False
    ).compact()

    assert len(list(tmp_path.glob("part-*.parquet"))) == 1
    assert list(tmp_path.glob("_compaction-*.json")) == []
    assert list(tmp_path.glob(".tmp-*")) == []
    assert stored_bodies(tmp_path) == expected_bodies(12)
