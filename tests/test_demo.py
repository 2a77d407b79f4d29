"""The demo end to end: the findings read from the store follow the settings."""

from __future__ import annotations

import io

import pytest

from otel_mlbucket import cli
from otel_mlbucket.commands import demo as demo_command
from otel_mlbucket.demo import (
    DEFAULT_DRIFT_DAY,
    DEFAULT_RECORDS,
    DEFAULT_SEED,
    DEFAULT_SLOW_VERSION,
    DEFAULT_STORE,
    MARKER_NAME,
    SimulationConfig,
    StoreDirectoryError,
    run_demo,
)
from otel_mlbucket.demo._store_dir import prepare_store_directory
from otel_mlbucket.demo._traffic import allocate, daily_weights
from otel_mlbucket.query import StoreClient

RECORDS = 20_000


def _run(tmp_path, **settings):
    out, progress = io.StringIO(), io.StringIO()
    config = SimulationConfig(records=settings.pop("records", RECORDS), **settings)
    result = run_demo(
        config, tmp_path / "store", otlp=False, out=out, progress=progress
    )
    return result, out.getvalue(), progress.getvalue()


@pytest.mark.parametrize(("drift_day", "slow_version"), [(3, "v1"), (5, "v2")])
def test_demo_findings_follow_settings(tmp_path, drift_day, slow_version):
    result, printed, _ = _run(tmp_path, drift_day=drift_day, slow_version=slow_version)

    findings = result.findings
    assert findings.drift_day == drift_day
    assert findings.slowest_p95_version == slow_version
    assert f"Drift starts on day {drift_day} " in printed
    assert f"{slow_version} is the slowest at p95" in printed


@pytest.mark.parametrize(("drift_day", "slow_version"), [(3, "v1"), (5, "v2")])
def test_demo_stores_every_record(tmp_path, drift_day, slow_version):
    result, printed, _ = _run(tmp_path, drift_day=drift_day, slow_version=slow_version)

    assert result.emitted.total == RECORDS
    assert result.stored == RECORDS
    assert result.stats["queue_dropped"] == 0
    assert result.stats["export_dropped"] == 0
    assert result.stats["records_failed"] == 0
    assert result.complete
    assert f"Records stored:  {RECORDS:>9,}" in printed


def test_demo_reports_errors_and_validation(tmp_path):
    result, printed, progress = _run(tmp_path)

    findings = result.findings
    # v2's age bands end at 65, so it fails requests that v1 serves.
    assert findings.worst_error_version == "v2"
    assert set(findings.failures_by_reason) == {"missing", "corrupted", "misaligned"}
    assert (
        sum(findings.failures_by_reason.values()) == result.emitted.validation_failures
    )
    assert "v2 has the worst error rate" in printed
    assert "the most common reason is" in printed
    assert progress.count(" records so far ") == 7


def test_demo_without_drift_day_finds_day_two(tmp_path):
    result, _, _ = _run(tmp_path, records=5_000, drift_day=2)

    assert result.findings.drift_day == 2


def _stored_rows(store_path):
    # observed_time is the real export time, so it differs between runs.
    columns = ["time", "body", "model_version", "latency_ms", "prediction_actual"]
    table = StoreClient(store_path).read(columns)
    return table.sort_by([("time", "ascending"), ("body", "ascending")])


def test_demo_is_deterministic(tmp_path):
    first, _, _ = _run(tmp_path, records=3_000, seed=11)
    first_rows = _stored_rows(first.store_path)
    second, _, _ = _run(tmp_path, records=3_000, seed=11)

    assert first.emitted == second.emitted
    assert first_rows.num_rows == 3_000
    assert first_rows.equals(_stored_rows(second.store_path))


def test_demo_seed_changes_records(tmp_path):
    first, _, _ = _run(tmp_path, records=3_000, seed=11)
    first_rows = _stored_rows(first.store_path)
    second, _, _ = _run(tmp_path, records=3_000, seed=12)

    assert not first_rows.equals(_stored_rows(second.store_path))


def test_demo_exports_over_otlp(tmp_path, http_receiver, monkeypatch):
    receiver, endpoint = http_receiver
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    progress = io.StringIO()
    config = SimulationConfig(records=2_000)

    result = run_demo(config, tmp_path / "store", out=io.StringIO(), progress=progress)

    records = receiver.records()
    assert f"Exporting over OTLP too, to {endpoint}" in progress.getvalue()
    assert result.stored == 2_000
    assert len(records) == 2_000
    teams = {record["resource"]["ml.bucket.team"] for record in records}
    assert "data_engineering" in teams


def test_store_directory_replaces_demo_store(tmp_path):
    store = prepare_store_directory(tmp_path / "store")
    (store / "day=2025-03-03").mkdir()

    again = prepare_store_directory(tmp_path / "store")

    assert again == store
    assert sorted(path.name for path in again.iterdir()) == [MARKER_NAME]


def test_store_directory_accepts_empty_directory(tmp_path):
    store = prepare_store_directory(tmp_path)

    assert (store / MARKER_NAME).is_file()


def test_store_directory_rejects_foreign_directory(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me", encoding="utf-8")

    with pytest.raises(StoreDirectoryError, match="is not a demo store"):
        prepare_store_directory(tmp_path)

    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_store_directory_rejects_file(tmp_path):
    path = tmp_path / "store"
    path.write_text("", encoding="utf-8")

    with pytest.raises(StoreDirectoryError, match="is not a directory"):
        prepare_store_directory(path)


def test_cli_demo_runs(tmp_path, capsys):
    store = tmp_path / "store"

    code = cli.main(["demo", "--store", str(store), "--records", "2000", "--no-otlp"])

    out = capsys.readouterr().out
    assert code == 0
    assert f"Store: {store}" in out
    assert "Records emitted:     2,000" in out
    assert "Records stored:      2,000" in out


def test_cli_demo_rejects_foreign_store(tmp_path, capsys):
    (tmp_path / "data.csv").write_text("a,b\n", encoding="utf-8")

    code = cli.main(["demo", "--store", str(tmp_path)])

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("Error: ")
    assert "is not a demo store" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("arguments", "option"),
    [
        (["--drift-day", "1"], "--drift-day"),
        (["--drift-day", "8"], "--drift-day"),
        (["--records", "999"], "--records"),
    ],
)
def test_cli_demo_rejects_setting(tmp_path, capsys, arguments, option):
    code = cli.main(["demo", "--store", str(tmp_path / "store"), *arguments])

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"Error: {option} must be")
    assert not (tmp_path / "store").exists()


def test_cli_defaults_match_demo():
    assert str(DEFAULT_STORE) == demo_command.DEFAULT_STORE
    assert demo_command.DEFAULT_RECORDS == DEFAULT_RECORDS
    assert demo_command.DEFAULT_DRIFT_DAY == DEFAULT_DRIFT_DAY
    assert demo_command.DEFAULT_SLOW_VERSION == DEFAULT_SLOW_VERSION
    assert demo_command.DEFAULT_SEED == DEFAULT_SEED


@pytest.mark.parametrize("total", [1_000, 20_000, 200_001])
def test_allocate_keeps_total(total):
    counts = allocate(total, daily_weights(144, 7))

    assert counts.sum() == total
    assert counts.min() >= 0
    assert len(counts) == 144 * 7


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("records", 10, "records must be at least"),
        ("drift_day", 1, "drift_day must be a day number"),
        ("drift_day", 8, "drift_day must be a day number"),
        ("slow_version", "v3", "slow_version must be one of v1, v2"),
    ],
)
def test_simulation_config_rejects(setting, value, message):
    with pytest.raises(ValueError, match=message):
        SimulationConfig(**{setting: value})
