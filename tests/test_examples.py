"""The examples run as standalone programs and print bucketed records."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parent.parent / "examples" / "instrumented_service.py"


def _run_example(mode: str) -> list[dict]:
    completed = subprocess.run(
        [sys.executable, str(EXAMPLE), "--mode", mode],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return [json.loads(line) for line in completed.stdout.splitlines() if line]


def _by_event(records: list[dict], event_name: str) -> list[dict]:
    return [record for record in records if record["event_name"] == event_name]


@pytest.mark.parametrize("mode", ["provider", "add-to-provider"])
def test_example_prints_bucketed_records(mode):
    records = _run_example(mode)

    assert len(records) == 4
    for record in records:
        resource = record["resource"]["attributes"]
        assert resource["service.name"] == "churn-service"
        assert resource["ml.bucket.model_version"] == "v3"
        assert "ml.bucket.team" in resource


@pytest.mark.parametrize("mode", ["provider", "add-to-provider"])
def test_example_buckets_each_event(mode):
    records = _run_example(mode)

    close, far = _by_event(records, "ml.prediction")
    assert close["attributes"]["ml.bucket.drift"] == "within_tolerance"
    assert far["attributes"]["ml.bucket.drift"] == "severe"
    assert far["resource"]["attributes"]["ml.bucket.team"] == "modelling"

    (failure,) = _by_event(records, "ml.validation.failure")
    assert failure["attributes"]["ml.bucket.validation_reason"] == "missing"
    assert failure["resource"]["attributes"]["ml.bucket.team"] == "data_engineering"

    (timeout,) = _by_event(records, "ml.infrastructure.error")
    resource = timeout["resource"]["attributes"]
    assert resource["ml.bucket.error_category"] == "infrastructure_error"
    assert resource["ml.bucket.team"] == "infrastructure"
