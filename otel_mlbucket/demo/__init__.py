"""The demo: a scikit-learn model service, a simulated week of traffic, its findings.

`run_demo(SimulationConfig(...), store)` trains two versions of a model on the
diabetes dataset that ships with scikit-learn and serves a simulated week of
requests through them. Every outcome goes through stdlib logging into an
OpenTelemetry pipeline with bucketing and the embedded Parquet store. The demo then
queries the store for the findings. `otel-mlbucket demo` is its command line.

Needs the `demo` extra (scikit-learn and numpy).
"""

from otel_mlbucket.demo._findings import Findings, compute_findings, format_findings
from otel_mlbucket.demo._run import DEFAULT_STORE, DemoResult, run_demo
from otel_mlbucket.demo._simulator import (
    DAYS,
    DEFAULT_DRIFT_DAY,
    DEFAULT_RECORDS,
    DEFAULT_SEED,
    DEFAULT_SLOW_VERSION,
    MIN_RECORDS,
    SimulationConfig,
)
from otel_mlbucket.demo._store_dir import MARKER_NAME, StoreDirectoryError

__all__ = [
    "DAYS",
    "DEFAULT_DRIFT_DAY",
    "DEFAULT_RECORDS",
    "DEFAULT_SEED",
    "DEFAULT_SLOW_VERSION",
    "DEFAULT_STORE",
    "MARKER_NAME",
    "MIN_RECORDS",
    "DemoResult",
    "Findings",
    "SimulationConfig",
    "StoreDirectoryError",
    "compute_findings",
    "format_findings",
    "run_demo",
]
