"""Throughput of the real collector path: OTLP/gRPC in, routing, file and
OTLP/HTTP out, bucketed against unbucketed records.

The measurement itself is `tests/_collector_throughput.py` (its docstring gives the
method): a fresh built collector per run with the shipped gateway-loki.yaml, every
team's backend a loopback sink, requests pre-serialized as the SDK sends them, so
that the Python sender is not what is measured. Variants alternate for ROUNDS
rounds, and each figure is the median.
"""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent.parent / "tests"
RECORDS = 200_000
ROUNDS = 3


def run(rounds: int = ROUNDS) -> dict[str, Any]:
    """Return median records/s and records per collector CPU-second of each variant."""
    binary = os.environ.get("OTELCOL_BIN")
    if not binary:
        return {
            "skipped": "OTELCOL_BIN is not set; run `make bench`, which builds the collector"
        }

    sys.path.insert(0, str(TESTS))
    from _collector_throughput import measure

    runs: dict[str, list[dict[str, float]]] = {"bucketed": [], "unbucketed": []}
    for _ in range(rounds):
        for variant in runs:
            runs[variant].append(measure(Path(binary), variant == "bucketed", RECORDS))

    medians = {
        variant: {
            key: statistics.median(result[key] for result in results)
            for key in ("records_per_second", "records_per_cpu_second")
        }
        for variant, results in runs.items()
    }
    return {
        "records_per_run": RECORDS,
        "rounds": rounds,
        "median": medians,
        "ratio_records_per_second": medians["bucketed"]["records_per_second"]
        / medians["unbucketed"]["records_per_second"],
        "ratio_per_cpu_second": medians["bucketed"]["records_per_cpu_second"]
        / medians["unbucketed"]["records_per_cpu_second"],
        "runs": runs,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
