"""StoreClient: summaries against hand computations, pruning, helpers and errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

from otel_mlbucket import attributes as attr
from otel_mlbucket._spec import BucketSpec
from otel_mlbucket.processor import BucketingProcessor
from otel_mlbucket.query import (
    AlertRule,
    InvalidQueryError,
    QueryError,
    StoreClient,
    StoreNotFoundError,
)
from otel_mlbucket.store import ParquetLogExporter

UTC = dt.timezone.utc
MAY_1 = dt.datetime(2024, 5, 1, tzinfo=UTC)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
QUANTILE_RANK_TOLERANCE = 0.01
"""The 1% part of the documented t-digest bound; these groups meet it exactly."""


def nanos(moment: dt.datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def write_store(
    path: Path, records: list[dict], spec: BucketSpec | None = None
) -> None:
    """Write records (timestamp, attributes, severity) in one flush through the SDK."""
    provider = LoggerProvider()
    processor = BucketingProcessor(spec)
    provider.add_log_record_processor(processor)
    exporter = ParquetLogExporter(path, spec=processor.spec, fsync=False, compact=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("test")
    for record in records:
        logger.emit(
            timestamp=nanos(record["timestamp"]),
            severity_number=record.get("severity", SeverityNumber.INFO),
            attributes=record["attributes"],
            body=record.get("body", "event"),
        )
    provider.shutdown()


V1_LATENCIES = [float(value) for value in range(1, 201)]
V2_LATENCIES = [float(value) for value in range(1, 21)]
V2_DAY2_LATENCIES = [float(value) for value in range(100, 110)]


def known_records() -> list[dict]:
    """v1: 200 rows at 12:00 on May 1. v2: 20 rows at 13:00 (5 infrastructure errors,
    3 failed validations) and 10 rows at 09:00 on May 2."""
    records = []
    for index, latency in enumerate(V1_LATENCIES):
        records.append(
            {
                "timestamp": MAY_1 + 12 * HOUR + dt.timedelta(seconds=index),
                "attributes": {
                    attr.MODEL_NAME: "churn",
                    attr.MODEL_VERSION: "v1",
                    attr.INFERENCE_LATENCY_MS: latency,
                    attr.PREDICTION_EXPECTED: 10.0,
                    attr.PREDICTION_ACTUAL: 10.0 + index % 4,
                    attr.FEATURE_TYPE: "numerical",
                },
            }
        )
    reasons = {5: "missing", 6: "missing", 7: "out_of_range"}
    for index, latency in enumerate(V2_LATENCIES):
        attributes = {
            attr.MODEL_NAME: "churn",
            attr.MODEL_VERSION: "v2",
            attr.INFERENCE_LATENCY_MS: latency,
            attr.FEATURE_TYPE: "categorical" if index < 10 else "numerical",
        }
        if index < 5:
            attributes[attr.EXCEPTION_TYPE] = "TimeoutError"
        if index in reasons:
            attributes[attr.VALIDATION_STATUS] = "failed"
            attributes[attr.VALIDATION_REASON] = reasons[index]
        records.append(
            {
                "timestamp": MAY_1 + 13 * HOUR + dt.timedelta(seconds=index),
                "attributes": attributes,
            }
        )
    for index, latency in enumerate(V2_DAY2_LATENCIES):
        records.append(
            {
                "timestamp": MAY_1 + DAY + 9 * HOUR + dt.timedelta(seconds=index),
                "attributes": {
                    attr.MODEL_NAME: "churn",
                    attr.MODEL_VERSION: "v2",
                    attr.INFERENCE_LATENCY_MS: latency,
                    attr.FEATURE_TYPE: "numerical",
                },
            }
        )
    return records


@pytest.fixture
def store(tmp_path) -> Path:
    write_store(tmp_path, known_records())
    return tmp_path


def assert_quantile(estimate: float, values: list[float], q: float) -> None:
    """Check the estimate's rank is within the stated tolerance of q."""
    data = np.asarray(values)
    below = float(np.mean(data < estimate))
    at_most = float(np.mean(data <= estimate))
    assert below - QUANTILE_RANK_TOLERANCE <= q <= at_most + QUANTILE_RANK_TOLERANCE, (
        f"estimate {estimate} of q={q} has rank [{below}, {at_most}]"
    )


def python_rows(table) -> list[dict]:
    """Return rows with window_start as UTC datetimes, exact for whole minutes."""
    if "window_start" in table.schema.names:
        index = table.schema.get_field_index("window_start")
        starts = table["window_start"].cast(pa.timestamp("us", tz="UTC"))
        table = table.set_column(index, "window_start", starts)

    return table.to_pylist()


def rows_by(table, *keys) -> dict:
    return {tuple(row[k] for k in keys): row for row in python_rows(table)}


def test_summary_matches_hand_computation(store):
    client = StoreClient(store)

    table = client.summary(by=("model_version",), window="1h")

    rows = rows_by(table, "model_version", "window_start")
    assert list(rows) == [
        ("v1", MAY_1 + 12 * HOUR),
        ("v2", MAY_1 + 13 * HOUR),
        ("v2", MAY_1 + DAY + 9 * HOUR),
    ]
    v1 = rows[("v1", MAY_1 + 12 * HOUR)]
    assert v1["count"] == 200
    assert v1["error_count"] == 0
    assert v1["error_rate"] == 0.0
    assert v1["drift_abs_mean"] == pytest.approx(1.5)
    assert v1["drift_rel_mean"] == pytest.approx(0.15)
    assert v1["validation_failed_count"] == 0
    for column, q in (
        ("latency_p50_ms", 0.5),
        ("latency_p95_ms", 0.95),
        ("latency_p99_ms", 0.99),
    ):
        assert_quantile(v1[column], V1_LATENCIES, q)
    assert_quantile(v1["drift_rel_p95"], [(i % 4) / 10 for i in range(200)], 0.95)

    v2 = rows[("v2", MAY_1 + 13 * HOUR)]
    assert v2["count"] == 20
    assert v2["error_count"] == 8
    assert v2["error_rate"] == pytest.approx(0.4)
    assert v2["drift_abs_mean"] is None
    assert v2["drift_rel_p95"] is None
    assert v2["validation_failed_count"] == 3
    assert v2["validation_missing_count"] == 2
    assert v2["validation_corrupted_count"] == 1
    assert v2["validation_misaligned_count"] == 0
    assert v2["validation_other_count"] == 0
    for column, q in (
        ("latency_p50_ms", 0.5),
        ("latency_p95_ms", 0.95),
        ("latency_p99_ms", 0.99),
    ):
        assert_quantile(v2[column], V2_LATENCIES, q)

    day2 = rows[("v2", MAY_1 + DAY + 9 * HOUR)]
    assert day2["count"] == 10
    assert_quantile(day2["latency_p50_ms"], V2_DAY2_LATENCIES, 0.5)


def test_summary_columns_and_types(store):
    table = StoreClient(store).summary(by=("model_name", "model_version"), window="1d")

    assert table.schema.names == [
        "model_name",
        "model_version",
        "window_start",
        "count",
        "error_count",
        "error_rate",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "drift_abs_mean",
        "drift_rel_mean",
        "drift_rel_p95",
        "validation_failed_count",
        "validation_missing_count",
        "validation_corrupted_count",
        "validation_misaligned_count",
        "validation_other_count",
    ]
    assert str(table.schema.field("window_start").type) == "timestamp[ns, tz=UTC]"
    assert str(table.schema.field("count").type) == "int64"


def test_summary_without_window_or_dimensions(store):
    table = StoreClient(store).summary(by=(), window=None)

    (row,) = table.to_pylist()
    assert row["count"] == 230
    assert row["error_count"] == 8
    assert row["error_rate"] == pytest.approx(8 / 230)
    assert_quantile(
        row["latency_p50_ms"], V1_LATENCIES + V2_LATENCIES + V2_DAY2_LATENCIES, 0.5
    )


def test_summary_windows_align_to_window_length(store):
    table = StoreClient(store).summary(by=(), window="15m")
    daily = StoreClient(store).summary(by=(), window="1d")
    weekly = StoreClient(store).summary(by=(), window="1w")

    starts = list(rows_by(table, "window_start"))
    assert starts == [
        (MAY_1 + 12 * HOUR,),
        (MAY_1 + 13 * HOUR,),
        (MAY_1 + DAY + 9 * HOUR,),
    ]
    assert [k for (k,) in rows_by(daily, "window_start")] == [MAY_1, MAY_1 + DAY]
    assert [k for (k,) in rows_by(weekly, "window_start")] == [
        dt.datetime(2024, 4, 29, tzinfo=UTC)
    ]


def test_daily_windows_follow_spec_timezone(tmp_path):
    source = BucketSpec.default().source
    source["dimensions"]["time"]["timezone"] = "Europe/Berlin"
    spec = BucketSpec.from_dict(source)
    late_evening = (
        MAY_1 + 22 * HOUR + dt.timedelta(minutes=30)
    )  # 00:30 on May 2 in Berlin
    write_store(
        tmp_path,
        [{"timestamp": late_evening, "attributes": {attr.MODEL_NAME: "m"}}],
        spec=BucketSpec.from_dict(source),
    )

    table = StoreClient(tmp_path, spec=spec).summary(by=("day",), window="1d")

    (row,) = python_rows(table)
    assert row["day"] == "2024-05-02"
    assert row["window_start"] == dt.datetime(2024, 5, 1, 22, tzinfo=UTC)
    assert (
        str(table.schema.field("window_start").type)
        == "timestamp[ns, tz=Europe/Berlin]"
    )


@pytest.mark.parametrize(
    ("query", "files"),
    [
        ({}, 4),
        ({"since": MAY_1 + DAY}, 1),
        ({"until": MAY_1 + DAY}, 3),
        ({"since": MAY_1 + 12 * HOUR, "until": MAY_1 + 13 * HOUR}, 3),
        ({"filters": {"error_category": "none"}}, 2),
        ({"filters": {"error_category": ["none", "infrastructure_error"]}}, 3),
        ({"since": MAY_1 + DAY, "filters": {"error_category": "none"}}, 1),
        (
            {
                "since": MAY_1 + DAY,
                "filters": {"error_category": "infrastructure_error"},
            },
            0,
        ),
        ({"filters": {"day": "2024-05-01"}}, 3),
        ({"filters": {"model_version": "v2"}}, 4),
    ],
)
def test_filtered_summary_opens_fewer_files(store, query, files):
    client = StoreClient(store)

    client.summary(by=("model_version",), window="1h", **query)

    assert client.last_query_files == files


@pytest.mark.parametrize(
    ("query", "count"),
    [
        ({}, 230),
        ({"since": MAY_1 + DAY}, 10),
        ({"since": "2024-05-01T13:00:00Z", "until": "2024-05-02"}, 20),
        ({"since": "12h", "now": MAY_1 + DAY + 12 * HOUR}, 10),
        ({"filters": {"error_category": "none"}}, 222),
        (
            {
                "filters": {
                    "model_version": "v2",
                    "error_category": "infrastructure_error",
                }
            },
            5,
        ),
        (
            {
                "since": MAY_1 + DAY,
                "filters": {"error_category": "infrastructure_error"},
            },
            0,
        ),
    ],
)
def test_filtered_summary_counts_rows(store, query, count):
    client = StoreClient(store)

    table = client.summary(by=(), window=None, **query)

    assert sum(table["count"].to_pylist()) == count
    assert client.last_query.rows_read == count


def test_empty_range_gives_empty_table(store):
    table = StoreClient(store).summary(by=("model_version",), since=MAY_1 + 10 * DAY)

    assert table.num_rows == 0
    assert "window_start" in table.schema.names
    assert "count" in table.schema.names


def test_empty_store_gives_empty_table(tmp_path):
    client = StoreClient(tmp_path)

    table = client.summary(by=("model_version",))

    assert table.num_rows == 0
    assert client.last_query_files == 0


def test_missing_store_names_path(tmp_path):
    missing = tmp_path / "nowhere"

    with pytest.raises(StoreNotFoundError) as raised:
        StoreClient(missing)

    assert str(missing) in str(raised.value)
    assert raised.value.path == str(missing)
    assert isinstance(raised.value, QueryError)
    assert isinstance(raised.value, FileNotFoundError)


def test_unknown_dimension_lists_choices(store):
    with pytest.raises(InvalidQueryError) as raised:
        StoreClient(store).summary(by=("model",))

    assert raised.value.parameter == "by"
    assert raised.value.value == "model"
    assert "model_version" in raised.value.choices
    assert "'model'" in str(raised.value)
    assert "model_version" in str(raised.value)


@pytest.mark.parametrize("window", ["1x", "0h", "h", "1.5h", "", "15", "-1h", "1H"])
def test_invalid_window_names_value(store, window):
    with pytest.raises(InvalidQueryError) as raised:
        StoreClient(store).summary(by=("model_version",), window=window)

    assert raised.value.parameter == "window"
    assert repr(window) in str(raised.value)
    assert "15m" in str(raised.value)


@pytest.mark.parametrize("since", ["yesterday", "24", "2024-13-01", 5])
def test_invalid_since_names_value(store, since):
    with pytest.raises(InvalidQueryError) as raised:
        StoreClient(store).summary(by=("model_version",), since=since)

    assert raised.value.parameter == "since"
    assert repr(since) in str(raised.value)


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [
        ({"since": MAY_1 + DAY, "until": MAY_1}, "since"),
        ({"filters": {"model_version": 2}}, "filters['model_version']"),
        ({"filters": {"model_version": []}}, "filters['model_version']"),
        ({"filters": {"nope": "x"}}, "filters"),
        ({"by": "model_version"}, "by"),
        ({"by": ("model_version", "model_version")}, "by"),
    ],
)
def test_invalid_arguments_are_named(store, arguments, parameter):
    arguments = {"by": ("model_version",), **arguments}

    with pytest.raises(InvalidQueryError) as raised:
        StoreClient(store).summary(**arguments)

    assert raised.value.parameter == parameter


def test_read_returns_requested_columns(store):
    client = StoreClient(store)

    table = client.read(
        ["model_version", "latency_ms"],
        filters={"error_category": "infrastructure_error"},
    )

    assert table.schema.names == ["model_version", "latency_ms"]
    assert sorted(table["latency_ms"].to_pylist()) == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert client.last_query_files == 1


def test_dimensions_include_spec_outputs(store):
    dimensions = StoreClient(store).dimensions()

    for output in BucketSpec.default().outputs():
        assert output in dimensions
    assert "service_name" in dimensions
    assert "body" not in dimensions
    assert "attributes" not in dimensions


def test_compare_versions(store):
    table = StoreClient(store).compare_versions()

    rows = {row["model_version"]: row for row in table.to_pylist()}
    assert list(rows) == ["v1", "v2"]
    assert rows["v1"]["count"] == 200
    assert rows["v1"]["error_rate"] == 0.0
    assert rows["v2"]["count"] == 30
    assert rows["v2"]["error_rate"] == pytest.approx(8 / 30)
    assert rows["v1"]["drift_rel_mean"] == pytest.approx(0.15)
    assert_quantile(
        rows["v2"]["latency_p95_ms"], V2_LATENCIES + V2_DAY2_LATENCIES, 0.95
    )


def test_validation_failures(store):
    table = StoreClient(store).validation_failures()

    assert table.to_pylist() == [
        {"validation_reason": "missing", "count": 2, "share": pytest.approx(2 / 3)},
        {"validation_reason": "corrupted", "count": 1, "share": pytest.approx(1 / 3)},
    ]


def test_alerts_per_bucket(store):
    client = StoreClient(store)
    rules = [
        AlertRule("error_rate", 0.2, by=("model_version",)),
        AlertRule("latency_p95_ms", 150.0, by=("model_version",)),
        AlertRule("error_rate", 0.2, by=("model_version",), window="1h", min_count=15),
    ]

    found = client.alerts(rules)

    summary = [(a.rule.metric, a.bucket, a.window_start, a.count) for a in found]
    assert summary == [
        ("error_rate", {"model_version": "v2"}, None, 30),
        ("latency_p95_ms", {"model_version": "v1"}, None, 200),
        ("error_rate", {"model_version": "v2"}, MAY_1 + 13 * HOUR, 20),
    ]
    assert found[0].value == pytest.approx(8 / 30)


def test_alert_rule_rejects_unknown_metric(store):
    with pytest.raises(InvalidQueryError) as raised:
        StoreClient(store).alerts([AlertRule("p95", 1.0)])

    assert raised.value.parameter == "metric"
    assert "latency_p95_ms" in raised.value.choices


def test_root_cause_hints_lift(store):
    table = StoreClient(store).root_cause_hints({"model_version": "v2"})

    rows = {(row["dimension"], row["value"]): row for row in table.to_pylist()}
    categorical = rows[("feature_type", "categorical")]
    assert categorical["error_count"] == 8
    assert categorical["count"] == 10
    assert categorical["error_share"] == pytest.approx(1.0)
    assert categorical["baseline_share"] == pytest.approx(10 / 30)
    assert categorical["lift"] == pytest.approx(3.0)
    failed = rows[("validation", "failed")]
    assert failed["lift"] == pytest.approx((3 / 8) / (3 / 30))
    lifts = table["lift"].to_pylist()
    assert lifts == sorted(lifts, reverse=True)
    dimensions = set(table["dimension"].to_pylist())
    assert dimensions.isdisjoint(
        {"error_category", "team", "model_version", "day", "severity"}
    )


def test_root_cause_hints_without_errors(store):
    table = StoreClient(store).root_cause_hints({"model_version": "v1"})

    assert table.num_rows == 0
    assert "lift" in table.schema.names


def drift_records() -> list[dict]:
    """Five days of 20 rows: 1% drift, 1%, 10% (minor), half at 20% (moderate), 40%."""
    drifts = [
        [0.01] * 20,
        [0.01] * 20,
        [0.10] * 20,
        [0.20] * 10 + [0.01] * 10,
        [0.40] * 20,
    ]
    records = []
    for day, values in enumerate(drifts):
        for index, drift in enumerate(values):
            records.append(
                {
                    "timestamp": MAY_1 + day * DAY + dt.timedelta(minutes=index),
                    "attributes": {
                        attr.MODEL_NAME: "m",
                        attr.PREDICTION_EXPECTED: 100.0,
                        attr.PREDICTION_ACTUAL: 100.0 * (1 + drift),
                    },
                }
            )
    return records


def test_drift_onset_by_drifted_share(tmp_path):
    write_store(tmp_path, drift_records())

    onset = StoreClient(tmp_path).drift_onset(window="1d", threshold=0.1)

    assert onset.detected
    assert onset.window_start == MAY_1 + 3 * DAY
    assert onset.drifted_share == pytest.approx(0.5)
    assert onset.baseline_drifted_share == 0.0
    assert onset.baseline_drift_rel_mean == pytest.approx(0.01)
    assert onset.windows.num_rows == 5
    assert onset.windows["drifted"].to_pylist() == [0, 0, 0, 10, 20]


def test_drift_onset_by_mean_relative_drift(tmp_path):
    write_store(tmp_path, drift_records())

    onset = StoreClient(tmp_path).drift_onset(
        window="1d", threshold=0.9, rel_threshold=0.05
    )

    assert onset.window_start == MAY_1 + 2 * DAY
    assert onset.drift_rel_mean == pytest.approx(0.10)


def test_drift_onset_not_detected(tmp_path):
    write_store(tmp_path, drift_records()[:60])

    onset = StoreClient(tmp_path).drift_onset(window="1d")

    assert not onset.detected
    assert onset.window_start is None
    assert onset.baseline_drifted_share == 0.0


def test_invalid_latencies_left_out_of_percentiles(tmp_path):
    moment = dt.datetime(2026, 5, 1, 12, tzinfo=dt.timezone.utc)
    latencies = [5.0, 5.0, 5.0, -1000.0, -1000.0, float("nan")]
    records = [
        {"timestamp": moment, "attributes": {attr.INFERENCE_LATENCY_MS: value}}
        for value in latencies
    ]
    write_store(tmp_path, records)

    table = StoreClient(tmp_path).summary(by=[], window=None)

    assert table.column("count").to_pylist() == [6]
    assert table.column("latency_p50_ms").to_pylist() == [5.0]
    assert table.column("latency_p99_ms").to_pylist() == [5.0]
