"""`otel-mlbucket summary`: output formats and usage errors."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

from otel_mlbucket import attributes as attr
from otel_mlbucket import cli
from otel_mlbucket.processor import BucketingProcessor
from otel_mlbucket.query import StoreClient
from otel_mlbucket.store import ParquetLogExporter

MAY_1 = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
NOW = "2024-05-02T00:00:00Z"
SUMMARY_ONLY = ("summary",)


@pytest.fixture
def store(tmp_path) -> Path:
    """Two versions over two hours of May 1: v1 (6 rows), v2 (4 rows, 2 errors)."""
    path = tmp_path / "store"
    provider = LoggerProvider()
    processor = BucketingProcessor()
    provider.add_log_record_processor(processor)
    exporter = ParquetLogExporter(path, spec=processor.spec, fsync=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("test")
    rows = [("v1", 10, False, index) for index in range(6)]
    rows += [("v2", 13, index < 2, index) for index in range(4)]
    for version, hour, failed, index in rows:
        attributes = {
            attr.MODEL_NAME: "churn",
            attr.MODEL_VERSION: version,
            attr.INFERENCE_LATENCY_MS: float(10 + index),
        }
        if failed:
            attributes[attr.EXCEPTION_TYPE] = "TimeoutError"
        moment = MAY_1 + dt.timedelta(hours=hour, minutes=index)
        logger.emit(
            timestamp=int(moment.timestamp()) * 10**9,
            severity_number=SeverityNumber.INFO,
            attributes=attributes,
        )
    provider.shutdown()
    return path


def run_cli(monkeypatch, capsys, *arguments: str) -> tuple[int, str, str]:
    # The other subcommands are not needed here, so only summary is registered.
    monkeypatch.setattr(cli, "COMMAND_MODULES", SUMMARY_ONLY)
    code = cli.main(["summary", *arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_rows_have_count(monkeypatch, capsys, store):
    code, out, err = run_cli(
        monkeypatch,
        capsys,
        "--store",
        str(store),
        "--by",
        "model_version",
        "--window",
        "1h",
        "--now",
        NOW,
        "--format",
        "json",
    )

    assert code == 0
    assert err == ""
    rows = json.loads(out)
    assert [(r["model_version"], r["window_start"], r["count"]) for r in rows] == [
        ("v1", "2024-05-01T10:00:00+00:00", 6),
        ("v2", "2024-05-01T13:00:00+00:00", 4),
    ]
    assert rows[1]["error_count"] == 2
    assert rows[1]["error_rate"] == 0.5


def test_json_matches_client_summary(monkeypatch, capsys, store):
    code, out, _ = run_cli(
        monkeypatch,
        capsys,
        "--store",
        str(store),
        "--by",
        "model_name,model_version",
        "--window",
        "none",
        "--since",
        "none",
        "--format",
        "json",
    )
    expected = StoreClient(store).summary(
        by=("model_name", "model_version"), window=None
    )

    assert code == 0
    assert json.loads(out) == expected.to_pylist()


def test_filter_keeps_matching_rows(monkeypatch, capsys, store):
    code, out, _ = run_cli(
        monkeypatch,
        capsys,
        "--store",
        str(store),
        "--by",
        "model_version",
        "--window",
        "none",
        "--now",
        NOW,
        "--filter",
        "error_category=infrastructure_error",
        "--format",
        "json",
    )

    assert code == 0
    assert [(r["model_version"], r["count"]) for r in json.loads(out)] == [("v2", 2)]


def test_csv_has_header_and_rows(monkeypatch, capsys, store):
    code, out, _ = run_cli(
        monkeypatch,
        capsys,
        "--store",
        str(store),
        "--by",
        "model_version",
        "--window",
        "1d",
        "--now",
        NOW,
        "--format",
        "csv",
    )

    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["model_version"], r["count"], r["error_count"]) for r in rows] == [
        ("v1", "6", "0"),
        ("v2", "4", "2"),
    ]
    assert rows[0]["window_start"] == "2024-05-01T00:00:00+00:00"
    assert rows[0]["drift_rel_mean"] == ""


def test_table_aligns_columns(monkeypatch, capsys, store):
    code, out, _ = run_cli(
        monkeypatch,
        capsys,
        "--store",
        str(store),
        "--by",
        "model_version",
        "--window",
        "none",
        "--now",
        NOW,
    )

    assert code == 0
    header, rule, *rows = out.splitlines()
    assert header.split()[:3] == ["model_version", "count", "error_count"]
    assert set(rule.replace(" ", "")) == {"-"}
    assert [row.split()[:3] for row in rows] == [["v1", "6", "0"], ["v2", "4", "2"]]
    count_end = header.index("count") + len("count")
    for row in rows:
        assert row[count_end - 1] != " "
        assert row[count_end] == " "


def test_table_of_empty_range_says_so(monkeypatch, capsys, store):
    code, out, _ = run_cli(
        monkeypatch,
        capsys,
        "--store",
        str(store),
        "--since",
        "1h",
        "--now",
        NOW,
    )

    assert code == 0
    assert out.splitlines()[-1] == "(no rows)"


def test_parquet_to_output_file(monkeypatch, capsys, store, tmp_path):
    output = tmp_path / "summary.parquet"

    code, out, _ = run_cli(
        monkeypatch,
        capsys,
        "--store",
        str(store),
        "--by",
        "model_version",
        "--now",
        NOW,
        "--format",
        "parquet",
        "--output",
        str(output),
    )

    assert code == 0
    assert out == ""
    table = pq.read_table(output)
    assert table["count"].to_pylist() == [6, 4]


def test_parquet_to_standard_output(store):
    code = (
        "import sys\n"
        "from otel_mlbucket import cli\n"
        "cli.COMMAND_MODULES = ('summary',)\n"
        f"arguments = ['summary', '--store', {str(store)!r}, '--now', {NOW!r}]\n"
        "arguments += ['--by', 'model_version', '--format', 'parquet']\n"
        "sys.exit(cli.main(arguments))\n"
    )

    finished = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, timeout=120
    )

    assert finished.returncode == 0, finished.stderr
    table = pq.read_table(io.BytesIO(finished.stdout))
    assert table["model_version"].to_pylist() == ["v1", "v2"]


def test_json_to_output_file(monkeypatch, capsys, store, tmp_path):
    output = tmp_path / "summary.json"

    code, out, _ = run_cli(
        monkeypatch,
        capsys,
        "--store",
        str(store),
        "--now",
        NOW,
        "--format",
        "json",
        "--output",
        str(output),
    )

    assert code == 0
    assert out == ""
    assert all("count" in row for row in json.loads(output.read_text()))


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["--by", "modle_version"], "'modle_version'"),
        (["--by", ","], "','"),
        (["--window", "1x"], "'1x'"),
        (["--window", "0h"], "'0h'"),
        (["--since", "yesterday"], "'yesterday'"),
        (["--until", "soon"], "'soon'"),
        (["--now", "noon"], "'noon'"),
        (["--filter", "model_version"], "'model_version'"),
        (["--filter", "region=eu"], "'region'"),
        (["--spec", "/nonexistent/spec.yaml"], "/nonexistent/spec.yaml"),
    ],
)
def test_usage_error_names_value(monkeypatch, capsys, store, arguments, named):
    code, out, err = run_cli(monkeypatch, capsys, "--store", str(store), *arguments)

    assert code == 2
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith("Error: ")
    assert named in line


def test_bad_by_lists_valid_choices(monkeypatch, capsys, store):
    code, _, err = run_cli(monkeypatch, capsys, "--store", str(store), "--by", "nope")

    assert code == 2
    assert "Invalid --by value 'nope'" in err
    assert "Valid choices:" in err
    assert "model_version" in err


def test_bad_filter_names_option(monkeypatch, capsys, store):
    code, _, err = run_cli(
        monkeypatch, capsys, "--store", str(store), "--filter", "region=eu"
    )

    assert code == 2
    assert "Invalid --filter value 'region'" in err


def test_bad_window_lists_examples(monkeypatch, capsys, store):
    code, _, err = run_cli(monkeypatch, capsys, "--store", str(store), "--window", "5y")

    assert code == 2
    assert "15m, 1h, 6h, 1d, 1w" in err


def test_missing_store_is_usage_error(monkeypatch, capsys, tmp_path):
    missing = tmp_path / "nowhere"

    code, _, err = run_cli(monkeypatch, capsys, "--store", str(missing))

    assert code == 2
    assert str(missing) in err


def test_parquet_on_terminal_needs_output(monkeypatch, capsys, store):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)

    code, _, err = run_cli(
        monkeypatch, capsys, "--store", str(store), "--format", "parquet"
    )

    assert code == 2
    assert "--output" in err


def test_filter_value_outside_buckets_noted(monkeypatch, capsys, store):
    code, _, err = run_cli(
        monkeypatch, capsys, "--store", str(store), "--filter", "validation=bogus"
    )

    assert code == 0
    assert "'bogus' is not a bucket of validation" in err
