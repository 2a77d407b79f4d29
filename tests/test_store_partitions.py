"""Partition value escaping, directory layout, hidden files and pruning."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

from otel_mlbucket import attributes as attr
from otel_mlbucket.processor import BucketingProcessor
from otel_mlbucket.query import StoreClient
from otel_mlbucket.store import (
    ParquetLogExporter,
    escape_partition_value,
    list_data_files,
    unescape_partition_value,
)

T0 = 1_714_564_800_000_000_000  # 2024-05-01T12:00:00Z in ns

ESCAPES = [
    ("plain", "none", "none"),
    ("date", "2024-05-01", "2024-05-01"),
    ("dots inside", "v1.2.0", "v1.2.0"),
    ("slash", "a/b", "a%2Fb"),
    ("backslash", "a\\b", "a%5Cb"),
    ("equals", "k=v", "k%3Dv"),
    ("dot dot", "..", "%2E."),
    ("single dot", ".", "%2E"),
    ("leading dot", ".hidden", "%2Ehidden"),
    ("leading underscore", "_x", "%5Fx"),
    (
        "null token as text",
        "__HIVE_DEFAULT_PARTITION__",
        "%5F_%48%49%56%45_%44%45%46%41%55%4C%54_%50%41%52%54%49%54%49%4F%4E__",
    ),
    ("empty token as text", "__empty__", "%5F_empty__"),
    ("percent", "100%", "100%25"),
    ("space", "a b", "a%20b"),
    ("unicode", "é🙂", "%C3%A9%F0%9F%99%82"),
    ("upper case", "Churn-V2", "%43hurn-%562"),
    ("upper case hex lookalike", "%4a", "%254a"),
    ("empty", "", "__empty__"),
    ("none", None, "__HIVE_DEFAULT_PARTITION__"),
]


@pytest.mark.parametrize(
    ("value", "escaped"),
    [(value, escaped) for _, value, escaped in ESCAPES],
    ids=[name for name, _, _ in ESCAPES],
)
def test_partition_value_escaping(value, escaped):
    assert escape_partition_value(value) == escaped
    assert unescape_partition_value(escaped) == value


def test_escaped_value_is_one_safe_segment():
    for _, value, _ in ESCAPES:
        escaped = escape_partition_value(value)

        assert "/" not in escaped
        assert "=" not in escaped
        assert escaped not in ("", ".", "..")
        assert not escaped.startswith((".", "_")) or escaped.startswith("__")


def test_long_value_becomes_digest():
    first = "é" * 100
    second = "é" * 99 + "e"

    escaped_first = escape_partition_value(first)
    escaped_second = escape_partition_value(second)

    assert escaped_first.startswith("__sha256_")
    assert escaped_first != escaped_second
    assert len(escaped_first) < 64
    with pytest.raises(ValueError, match="digest"):
        unescape_partition_value(escaped_first)


def test_surrogate_is_replaced_before_escaping():
    assert escape_partition_value("a\udcff") == "a%EF%BF%BD"


TRICKY_MODELS = ["a/b", "k=v", "..", "é🙂", "%41", "_x", ".", "x" * 120, "é" * 40]


def write_models(path: Path, models: list[str]) -> ParquetLogExporter:
    provider = LoggerProvider()
    processor = BucketingProcessor()
    provider.add_log_record_processor(processor)
    exporter = ParquetLogExporter(
        path, spec=processor.spec, partition_by=("model_name",), fsync=False
    )
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("test")
    for index, model in enumerate(models):
        logger.emit(
            timestamp=T0 + index,
            severity_number=SeverityNumber.INFO,
            attributes={attr.MODEL_NAME: model},
            body=model,
        )
    provider.shutdown()
    return exporter


def test_tricky_values_stay_inside_the_store(tmp_path):
    write_models(tmp_path, TRICKY_MODELS)

    directories = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    files = list_data_files(tmp_path)

    assert len(directories) == len(TRICKY_MODELS)
    assert all(d.name.startswith("model_name=") for d in directories)
    assert len(files) == len(TRICKY_MODELS)
    assert all(f.parent.parent == tmp_path for f in files)


def test_tricky_values_read_back(tmp_path):
    write_models(tmp_path, TRICKY_MODELS)
    client = StoreClient(tmp_path)

    table = client.read(["model_name", "body"])

    rows = sorted(
        zip(table["model_name"].to_pylist(), table["body"].to_pylist(), strict=True)
    )
    assert rows == sorted((model, model) for model in TRICKY_MODELS)


@pytest.mark.parametrize("model", TRICKY_MODELS)
def test_filter_prunes_tricky_partition(tmp_path, model):
    write_models(tmp_path, TRICKY_MODELS)
    client = StoreClient(tmp_path)

    table = client.read(["model_name"], filters={"model_name": model})

    assert table["model_name"].to_pylist() == [model]
    assert client.last_query_files == 1


def test_pyarrow_hive_reading_decodes_values(tmp_path):
    models = [
        m
        for m in TRICKY_MODELS
        if not escape_partition_value(m).startswith("__sha256_")
    ]
    write_models(tmp_path, models)
    partitioning = ds.partitioning(
        pa.schema([("model_name", pa.string())]), flavor="hive"
    )

    dataset = ds.dataset(tmp_path, format="parquet", partitioning=partitioning)

    assert sorted(
        dataset.to_table(columns=["model_name"])["model_name"].to_pylist()
    ) == sorted(models)


def test_readers_skip_hidden_names(tmp_path):
    write_models(tmp_path, ["m"])
    partition = tmp_path / "model_name=m"
    (partition / ".tmp-1-abc.parquet").write_bytes(b"PAR1 half a file")
    (partition / "_manifest-like.parquet").write_bytes(b"not parquet")
    (tmp_path / ".staging").mkdir()
    (tmp_path / ".staging" / "part-x.parquet").write_bytes(b"not parquet")
    (tmp_path / "_tmp").mkdir()
    (tmp_path / "_tmp" / "part-y.parquet").write_bytes(b"not parquet")

    files = list_data_files(tmp_path)
    table = StoreClient(tmp_path).read(["model_name"])

    assert [f.parent for f in files] == [partition]
    assert table["model_name"].to_pylist() == ["m"]


def test_default_layout_is_day_then_error_category(tmp_path):
    provider = LoggerProvider()
    processor = BucketingProcessor()
    provider.add_log_record_processor(processor)
    exporter = ParquetLogExporter(tmp_path, spec=processor.spec, fsync=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("test")

    logger.emit(timestamp=T0, attributes={attr.MODEL_NAME: "m"})
    logger.emit(
        timestamp=T0 + 86_400 * 10**9,
        attributes={attr.MODEL_NAME: "m", attr.EXCEPTION_TYPE: "TimeoutError"},
    )
    provider.shutdown()

    relative = sorted(
        str(f.parent.relative_to(tmp_path)) for f in list_data_files(tmp_path)
    )
    assert relative == [
        "day=2024-05-01/error_category=none",
        "day=2024-05-02/error_category=infrastructure_error",
    ]


def test_files_keep_partition_columns(tmp_path):
    write_models(tmp_path, ["a/b"])

    (path,) = list_data_files(tmp_path)
    table = pq.read_table(path)

    assert table["model_name"].to_pylist() == ["a/b"]
    assert path.name.startswith("part-")
    assert path.name.endswith(".parquet")


def test_predicate_prunes_directories(tmp_path):
    write_models(tmp_path, ["a", "b", "c"])

    files = list_data_files(tmp_path, {"model_name": {"a", "c"}.__contains__})

    assert sorted(f.parent.name for f in files) == ["model_name=a", "model_name=c"]


def test_escaped_values_differ_ignoring_case():
    values = ["a", "A", "Churn", "churn", "CHURN", "é", "É", "%41", "_a", "__empty__"]

    folded = {escape_partition_value(value).casefold() for value in values}

    assert len(folded) == len(values)
