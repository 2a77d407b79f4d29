"""Random records through the SDK into the store, checked against plain Python.

Each record's error category, validation outcome and reason are known from how it
was generated, so the expected summaries are computed without the spec. Counts must
match exactly. Latency quantiles must lie in the range that the documented t-digest
accuracy allows (rank error under 1% of the group size, and between the two
neighbouring values for groups of 50 or fewer). Drift means must match within 1e-9
relative.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import defaultdict
from fractions import Fraction
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

from otel_mlbucket import BucketingProcessor
from otel_mlbucket import attributes as attr
from otel_mlbucket.query import StoreClient
from otel_mlbucket.store import ParquetLogExporter, list_data_files

SEED = 7_2026
RECORDS = 3000
COMPACTED_RECORDS = 1500
DAY_NANOS = 86_400 * 1_000_000_000
MARCH_1 = 1_772_323_200_000_000_000  # 2026-03-01T00:00:00Z
DAYS = 5
EPSILON = 1e-9
DRIFT_TOLERANCE = 1e-9
QUANTILES = {
    "latency_p50_ms": Fraction(1, 2),
    "latency_p95_ms": Fraction(95, 100),
    "latency_p99_ms": Fraction(99, 100),
}
RANK_TOLERANCE = Fraction(1, 100)
# The documented bound is max(1% of the group size, 3 ranks): pyarrow 26's tdigest
# misses 1% by up to 3 ranks for groups of about 100 to 300 rows.
EXTRA_RANKS = 3
EXACT_GROUP_ROWS = 50

VERSIONS = ["v1", "v2", "v3", "v4"]
MODEL_NAMES = ["churn", "fraud"]
REASON_CODES = {
    "missing": ["missing", "NULL", "missing_feature", "Empty"],
    "corrupted": ["corrupted", "out_of_range", "TYPE_ERROR", "inf"],
    "misaligned": ["schema_mismatch", "wrong_shape", "Format"],
    "other": ["drifted", "unknown_code"],
}
PASSED_STATUSES = ["passed", "ok", "VALID", True]
FAILED_STATUSES = ["failed", "FAIL", "error", False]
# Exception types with the error category the default spec's rules give them.
EXCEPTIONS = {
    "TimeoutError": "infrastructure_error",
    "requests.exceptions.ConnectionError": "infrastructure_error",
    "grpc.RpcError": "infrastructure_error",
    "pydantic.ValidationError": "data_validation_error",
    "MySchemaError": "data_validation_error",
    "ValueError": "prediction_error",
    "KeyError": "prediction_error",
}
EVENTS = {
    "ml.validation.failure": "data_validation_error",
    "ml.infrastructure.error": "infrastructure_error",
    "ml.prediction.error": "prediction_error",
    "ml.prediction": None,
}
NO_ERROR = "none"


def _day_label(nanos: int) -> str:
    moment = dt.datetime.fromtimestamp(nanos // 10**9, dt.timezone.utc)
    return moment.strftime("%Y-%m-%d")


def _validation(rng: random.Random, attributes: dict[str, Any]) -> tuple[str, str]:
    """Set validation attributes and return the expected (outcome, reason)."""
    kind = rng.choice(["absent", "passed", "failed", "reason_only", "unknown"])
    reason_bucket = rng.choice(list(REASON_CODES))
    code = rng.choice(REASON_CODES[reason_bucket])
    if kind == "absent":
        return "not_validated", "none"
    if kind == "passed":
        attributes[attr.VALIDATION_STATUS] = rng.choice(PASSED_STATUSES)
        if rng.random() < 0.3:
            attributes[attr.VALIDATION_REASON] = code
        return "passed", "none"
    if kind == "unknown":
        attributes[attr.VALIDATION_STATUS] = "maybe"
        return "invalid", "none"
    if kind == "failed":
        attributes[attr.VALIDATION_STATUS] = rng.choice(FAILED_STATUSES)
    if kind == "failed" and rng.random() < 0.2:
        return "failed", "other"
    attributes[attr.VALIDATION_REASON] = code
    return "failed", reason_bucket


def _error_category(
    outcome: str, event_name: str | None, exception_type: str | None
) -> str:
    """Return the default spec's error category, by its documented precedence."""
    if outcome == "failed" or event_name == "ml.validation.failure":
        return "data_validation_error"
    if event_name == "ml.infrastructure.error":
        return "infrastructure_error"
    by_exception = EXCEPTIONS.get(exception_type)
    if by_exception in ("infrastructure_error", "data_validation_error"):
        return by_exception
    if event_name == "ml.prediction.error" or exception_type is not None:
        return "prediction_error"
    return NO_ERROR


def _latency(rng: random.Random) -> tuple[Any, float | None]:
    """Return a latency attribute and the value the percentiles should see."""
    choice = rng.random()
    if choice < 0.05:
        return None, None
    if choice < 0.08:
        return -rng.uniform(0.1, 50.0), None
    if choice < 0.10:
        return math.nan, None
    if choice < 0.20:
        value = rng.randrange(1, 2000)
        return value, float(value)
    value = round(rng.lognormvariate(3.5, 1.2), 1)
    return value, value


def _drift(rng: random.Random, attributes: dict[str, Any]) -> tuple | None:
    if rng.random() < 0.3:
        return None
    expected = rng.choice([0.0, rng.uniform(-5.0, 5.0), rng.uniform(0.5, 100.0)])
    actual = expected + rng.gauss(0.0, 0.3) * max(abs(expected), 1.0)
    attributes[attr.PREDICTION_EXPECTED] = expected
    attributes[attr.PREDICTION_ACTUAL] = actual
    difference = abs(actual - expected)
    return difference, difference / max(abs(expected), EPSILON)


def random_record(rng: random.Random) -> dict[str, Any]:
    """Return one record to emit and the values the summaries should count."""
    timestamp = MARCH_1 + rng.randrange(DAYS * DAY_NANOS)
    attributes: dict[str, Any] = {
        attr.MODEL_NAME: rng.choice(MODEL_NAMES),
        attr.MODEL_VERSION: rng.choice(VERSIONS),
    }
    latency, valid_latency = _latency(rng)
    if latency is not None:
        attributes[attr.INFERENCE_LATENCY_MS] = latency
    drift = _drift(rng, attributes)
    outcome, reason = _validation(rng, attributes)

    exception_type = rng.choice(list(EXCEPTIONS)) if rng.random() < 0.2 else None
    if exception_type is not None:
        attributes[attr.EXCEPTION_TYPE] = exception_type
    event_name = rng.choice(list(EVENTS)) if rng.random() < 0.2 else None
    as_attribute = event_name is not None and rng.random() < 0.5
    if as_attribute:
        attributes[attr.EVENT_NAME] = event_name

    return {
        "timestamp": timestamp,
        "attributes": attributes,
        "event_name": None if as_attribute else event_name,
        "severity": rng.choice([SeverityNumber.INFO, SeverityNumber.WARN, 17]),
        # Expected values, by the column names the summaries group by.
        "day": _day_label(timestamp),
        "window_start": timestamp - timestamp % DAY_NANOS,
        "model_name": attributes[attr.MODEL_NAME],
        "model_version": attributes[attr.MODEL_VERSION],
        "validation": outcome,
        "validation_reason": reason,
        "error_category": _error_category(outcome, event_name, exception_type),
        "latency": valid_latency,
        "drift": drift,
    }


def random_records(seed: int, count: int = RECORDS) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [random_record(rng) for _ in range(count)]


def write_store(
    path: Path, records: list[dict[str, Any]], flush_every: int, **options
) -> ParquetLogExporter:
    """Emit records through the SDK, flushing every `flush_every` records."""
    provider = LoggerProvider(shutdown_on_exit=False)
    processor = BucketingProcessor()
    provider.add_log_record_processor(processor)
    exporter = ParquetLogExporter(path, spec=processor.spec, fsync=False, **options)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("properties")
    for index, record in enumerate(records, start=1):
        logger.emit(
            timestamp=record["timestamp"],
            body="prediction",
            severity_number=record["severity"],
            attributes=record["attributes"],
            event_name=record["event_name"],
        )
        if index % flush_every == 0:
            exporter.force_flush()
    exporter.force_flush()
    assert processor.stats().records_failed == 0
    return exporter


def _accepts(record: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    return all(record[name] in values for name, values in filters.items())


def expected_summary(
    records: list[dict[str, Any]],
    by: list[str],
    window: bool,
    filters: dict[str, list[str]],
) -> dict[tuple, list[dict[str, Any]]]:
    """Return the records of each group that summary() should return."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        if not _accepts(record, filters):
            continue
        key = tuple(record[name] for name in by)
        if window:
            key += (record["window_start"],)
        groups[key].append(record)
    return groups


def allowed_quantile_range(
    values: list[float], q: Fraction, extra_ranks: int = 0
) -> tuple[float, float]:
    """Return the lowest and highest estimate that the documented accuracy allows.

    An estimate x has rank [count(v < x), count(v <= x)] / n. It is allowed when
    that range comes within the tolerance of q (or within `extra_ranks` / n, if
    larger), which bounds x by two order statistics of the sorted values.
    """
    ordered = sorted(values)
    n = len(ordered)
    if n <= EXACT_GROUP_ROWS:
        slack = Fraction(0)
    else:
        slack = max(RANK_TOLERANCE * n, Fraction(extra_ranks))
    low_rank = math.ceil(q * n - slack)
    high_rank = math.floor(q * n + slack)
    low = ordered[min(max(low_rank - 1, 0), n - 1)]
    high = ordered[min(high_rank, n - 1)]
    return low, high


def _mean(values: list[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def _close(actual: float | None, expected: float | None) -> bool:
    if actual is None or expected is None:
        return actual is expected
    return math.isclose(actual, expected, rel_tol=DRIFT_TOLERANCE, abs_tol=1e-300)


def compare_summary(
    client: StoreClient,
    records: list[dict[str, Any]],
    by: list[str],
    window: str | None,
    filters: dict[str, list[str]],
) -> list[str]:
    """Return one message per difference between summary() and plain Python."""
    table = client.summary(by=by, window=window, filters=filters or None)
    if "window_start" in table.schema.names:
        starts = table["window_start"].cast(pa.int64())
        table = table.set_column(
            table.schema.get_field_index("window_start"), "window_start", starts
        )
    groups = expected_summary(records, by, window is not None, filters)
    key_names = [*by, "window_start"] if window is not None else by

    problems = []
    rows = {tuple(row[name] for name in key_names): row for row in table.to_pylist()}
    if set(rows) != set(groups):
        problems.append(f"groups differ: {sorted(set(rows) ^ set(groups))[:5]}")
    for key in set(rows) & set(groups):
        problems.extend(_compare_group(key, rows[key], groups[key]))
    return problems


def _compare_group(
    key: tuple, row: dict[str, Any], group: list[dict[str, Any]]
) -> list[str]:
    failed = [r for r in group if r["validation"] == "failed"]
    exact = {
        "count": len(group),
        "error_count": sum(r["error_category"] != NO_ERROR for r in group),
        "validation_failed_count": len(failed),
    }
    for reason in REASON_CODES:
        exact[f"validation_{reason}_count"] = sum(
            r["validation_reason"] == reason for r in failed
        )
    problems = [
        f"{key} {name}: {row[name]} != {value}"
        for name, value in exact.items()
        if row[name] != value
    ]

    latencies = [r["latency"] for r in group if r["latency"] is not None]
    for name, q in QUANTILES.items():
        if not latencies:
            if row[name] is not None:
                problems.append(f"{key} {name}: {row[name]} without latencies")
            continue
        low, high = allowed_quantile_range(latencies, q, EXTRA_RANKS)
        if row[name] is None or not low <= row[name] <= high:
            problems.append(
                f"{key} {name}: {row[name]} outside [{low}, {high}], n={len(latencies)}"
            )

    drifts = [r["drift"] for r in group if r["drift"] is not None]
    for name, index in (("drift_abs_mean", 0), ("drift_rel_mean", 1)):
        expected = _mean([drift[index] for drift in drifts])
        if not _close(row[name], expected):
            problems.append(f"{key} {name}: {row[name]} != {expected}")
    return problems


QUERIES = [
    (["model_version"], "1d", {}),
    (["error_category"], None, {}),
    ([], None, {}),
    (["model_name", "validation_reason"], None, {"day": ["2026-03-02", "2026-03-04"]}),
    (["model_name"], "1d", {"error_category": ["data_validation_error"]}),
    (["day"], None, {"model_version": ["v1", "v3"]}),
    (
        ["model_version", "validation"],
        "1d",
        {"error_category": ["none", "prediction_error"], "model_name": ["fraud"]},
    ),
    (
        ["error_category", "model_name"],
        None,
        {"day": ["2026-03-03"], "validation": ["failed"]},
    ),
]


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return random_records(SEED)


@pytest.fixture(scope="module")
def small_files_store(tmp_path_factory, records) -> tuple[Path, ParquetLogExporter]:
    path = tmp_path_factory.mktemp("small-files")
    exporter = write_store(path, records, flush_every=211, compact=False)
    return path, exporter


def _duckdb_counts(path: Path, columns: list[str]) -> dict[tuple, int]:
    """Return row counts per group, read with DuckDB from the files' own columns."""
    names = ", ".join(columns)
    query = (
        f"SELECT {names}, count(*) FROM read_parquet(?, hive_partitioning = false) "
        f"GROUP BY {names}"
    )
    pattern = str(path / "**" / "*.parquet")
    rows = duckdb.execute(query, [pattern]).fetchall()
    return {tuple(row[:-1]): row[-1] for row in rows}


def _python_counts(records: list[dict[str, Any]], columns: list[str]) -> dict:
    counts: dict[tuple, int] = defaultdict(int)
    for record in records:
        counts[tuple(record[name] for name in columns)] += 1
    return dict(counts)


@pytest.mark.parametrize(("by", "window", "filters"), QUERIES, ids=repr)
def test_summary_matches_python(small_files_store, records, by, window, filters):
    path, _ = small_files_store
    client = StoreClient(path)

    assert compare_summary(client, records, by, window, filters) == []


def test_store_rows_written(small_files_store, records):
    _, exporter = small_files_store

    assert exporter.rows_written == RECORDS
    assert exporter.rows_failed == 0


@pytest.mark.parametrize(
    "columns",
    [["day", "error_category"], ["model_version", "validation", "validation_reason"]],
    ids=repr,
)
def test_duckdb_counts_match(small_files_store, records, columns):
    path, _ = small_files_store

    assert _duckdb_counts(path, columns) == _python_counts(records, columns)


def test_summary_after_compact(tmp_path, records):
    records = records[:COMPACTED_RECORDS]
    exporter = write_store(tmp_path, records, flush_every=150, compact=False)
    files_before = len(list_data_files(tmp_path))

    results = exporter.compact()
    files_after = len(list_data_files(tmp_path))
    client = StoreClient(tmp_path)

    assert results
    assert files_after < files_before
    for by, window, filters in QUERIES:
        assert compare_summary(client, records, by, window, filters) == []
    assert _duckdb_counts(tmp_path, ["day", "error_category"]) == _python_counts(
        records, ["day", "error_category"]
    )


def test_summary_with_auto_compaction(tmp_path, records):
    records = records[:COMPACTED_RECORDS]
    exporter = write_store(
        tmp_path, records, flush_every=150, compact=True, compact_min_files=3
    )
    client = StoreClient(tmp_path)

    assert exporter.rows_written == COMPACTED_RECORDS
    assert exporter.rows_failed == 0
    assert len(list_data_files(tmp_path)) < exporter.files_written
    for by, window, filters in QUERIES:
        assert compare_summary(client, records, by, window, filters) == []
    assert _duckdb_counts(tmp_path, ["model_version", "validation"]) == _python_counts(
        records, ["model_version", "validation"]
    )


def _hundred_latencies() -> list[float]:
    """Return 100 latencies whose t-digest median pyarrow 26 puts 2 ranks off."""
    rng = random.Random(36)
    return [float(rng.randrange(1, 1000)) for _ in range(100)]


def test_quantile_rank_hundred_rows(tmp_path):
    latencies = _hundred_latencies()
    records = []
    for index, latency in enumerate(latencies):
        timestamp = MARCH_1 + index * 10**9
        records.append(
            {
                "timestamp": timestamp,
                "attributes": {attr.INFERENCE_LATENCY_MS: latency},
                "event_name": None,
                "severity": SeverityNumber.INFO,
            }
        )
    write_store(tmp_path, records, flush_every=len(records), compact=False)
    low, high = allowed_quantile_range(
        latencies, QUANTILES["latency_p50_ms"], EXTRA_RANKS
    )

    table = StoreClient(tmp_path).summary(by=[], window=None)
    median = table["latency_p50_ms"][0].as_py()
    again = StoreClient(tmp_path).summary(by=[], window=None)

    assert low <= median <= high
    assert again["latency_p50_ms"][0].as_py() == median
