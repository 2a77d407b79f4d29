"""The demo end to end: simulate a week into a fresh store, then read the findings back."""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from otel_mlbucket.demo._findings import Findings, compute_findings, format_findings
from otel_mlbucket.demo._service import SERVICE_LOGGER, ServeCounts
from otel_mlbucket.demo._simulator import (
    DAYS,
    Progress,
    Simulation,
    SimulationConfig,
)
from otel_mlbucket.demo._store_dir import prepare_store_directory
from otel_mlbucket.setup import BucketedLogging, configure

DEFAULT_STORE = Path("mlbucket-demo-store")
SERVICE_NAME = "diabetes-progression-service"

FLUSH_EVERY_RECORDS = 8192
"""Records after which the demo waits for the batch queues to drain. The simulation
emits records as fast as the CPU allows, and whether the batch thread keeps up
depends on the machine. The wait keeps the queue (65536 records by default) from
filling and dropping records on a slow one."""


@dataclass
class DemoResult:
    """The counts, stats and findings of one demo run.

    Attributes:
        store_path: The absolute path of the store it wrote.
        emitted: Log records the simulated service wrote, by outcome.
        stored: Rows the store holds, counted by a query of the store.
        stats: `BucketedLogging.stats()` after shutdown.
        findings: The findings read back from the store.
        seconds: Wall time of the simulation, in seconds.
    """

    store_path: Path
    emitted: ServeCounts
    stored: int
    stats: dict[str, Any]
    findings: Findings
    seconds: float

    @property
    def complete(self) -> bool:
        """Every emitted record was stored and no queue dropped one."""
        return (
            self.emitted.total == self.stored
            and self.stats["queue_dropped"] == 0
            and self.stats["export_dropped"] == 0
        )


def run_demo(
    config: SimulationConfig,
    store: str | Path = DEFAULT_STORE,
    *,
    otlp: bool | None = None,
    out: TextIO | None = None,
    progress: TextIO | None = None,
) -> DemoResult:
    """Simulate a week of traffic into a fresh store and print what the store shows.

    Args:
        config: The simulation settings.
        store: The store directory. A previous demo store there is replaced; any
            other non-empty directory raises StoreDirectoryError.
        otlp: Also export over OTLP. None exports when OTEL_EXPORTER_OTLP_ENDPOINT
            or OTEL_EXPORTER_OTLP_LOGS_ENDPOINT is set.
        out: Where the summary and findings go; stdout when None.
        progress: Where the per-day progress goes; stderr when None.

    Returns:
        The counts, the stats and the findings.

    Raises:
        StoreDirectoryError: The store path exists and is not a demo store.
    """
    out = out or sys.stdout
    progress = progress or sys.stderr
    store_path = prepare_store_directory(Path(store))
    print(f"Store: {store_path}", file=out)

    started = time.perf_counter()
    emitted, stats = _simulate(config, store_path, otlp, progress)
    seconds = time.perf_counter() - started

    findings = compute_findings(store_path)
    result = DemoResult(store_path, emitted, findings.stored, stats, findings, seconds)
    print(format_summary(result), file=out)
    print(format_findings(findings), file=out)
    print(
        "\nAsk the store more: otel-mlbucket summary --store "
        f"{store_path} --since none --by model_version,drift --window 1d",
        file=out,
    )
    return result


def _simulate(
    config: SimulationConfig, store_path: Path, otlp: bool | None, progress: TextIO
) -> tuple[ServeCounts, dict[str, Any]]:
    logger = logging.getLogger(SERVICE_LOGGER)
    # The service's records go to OpenTelemetry only, not to the root logger's
    # handlers (a console handler would print every record).
    propagate = logger.propagate
    logger.propagate = False
    built = configure(
        SERVICE_NAME,
        store_path=store_path,
        otlp=otlp,
        attach_to=logger,
        set_global=False,
    )
    try:
        if len(built.exporters) > 1:
            print(f"Exporting over OTLP too, to {_otlp_endpoint()}", file=progress)
        simulation = Simulation(config, logger)
        print(
            f"Simulating {config.records:,} requests over {DAYS} days "
            f"(seed {config.seed}, drift from day {config.drift_day}, "
            f"slow version {config.slow_version})",
            file=progress,
        )
        emitted = simulation.run(_ProgressPrinter(built, config, progress))
    finally:
        built.shutdown()
        logger.propagate = propagate

    return emitted, built.stats()


def _otlp_endpoint() -> str:
    return (
        os.environ.get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or "the exporter's default endpoint"
    )


class _ProgressPrinter:
    """Prints a line per simulated day and drains the queues every few records."""

    def __init__(self, built: BucketedLogging, config: SimulationConfig, out: TextIO):
        self._built = built
        self._config = config
        self._out = out
        self._started = time.perf_counter()
        self._flushed_at = 0

    def __call__(self, progress: Progress) -> None:
        total = progress.counts.total
        if total - self._flushed_at >= FLUSH_EVERY_RECORDS:
            self._built.force_flush()
            self._flushed_at = total

        if progress.day_finished:
            elapsed = time.perf_counter() - self._started
            print(
                f"  day {progress.day}/{DAYS}: {total:>9,} records so far "
                f"({elapsed:5.1f} s)",
                file=self._out,
                flush=True,
            )


def format_summary(result: DemoResult) -> str:
    """Return the emitted, stored and bucketing counts as printed lines."""
    stats = result.stats
    emitted = result.emitted
    lines = [
        "",
        f"Records emitted: {emitted.total:>9,}  (predictions {emitted.predictions:,}, "
        f"validation failures {emitted.validation_failures:,}, prediction errors "
        f"{emitted.prediction_errors:,}, infrastructure errors "
        f"{emitted.infrastructure_errors:,})",
        f"Records stored:  {result.stored:>9,}",
        f"Bucketing: {stats['records_bucketed']:,} bucketed, "
        f"{stats['records_failed']:,} failed; queue drops {stats['queue_dropped']:,}, "
        f"export drops {stats['export_dropped']:,}",
        f"Simulated in {result.seconds:.1f} s",
        "",
    ]
    if not result.complete:
        lines.insert(
            -1,
            "Records were lost between the service and the store: "
            "emitted and stored differ, or a queue dropped records.",
        )

    return "\n".join(lines)
