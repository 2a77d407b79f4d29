"""The demo's findings, read back from the store with the query API alone.

Nothing here reads the simulation's settings: the drift day, the worst version and
the slowest version come from `StoreClient` summaries of the stored records.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from otel_mlbucket.query import DriftOnset, StoreClient

DRIFT_REL_THRESHOLD = 0.15
"""Rise of the daily mean relative error over the baseline day that counts as drift
onset, besides the query API's default rise of the drifted share (0.1)."""

BASELINE_DAYS = 1
"""Days at the start of the store that form the drift baseline."""


@dataclass(frozen=True)
class Findings:
    """The demo's findings, each computed from the store.

    Attributes:
        stored: Rows in the store.
        drift: The drift onset query's result, with one row per day.
        drift_day: Day number of the onset (1 is the store's first day), or None.
        versions: One row per model_version: count, error rate, latency quantiles.
        worst_error_version: The version with the highest error rate, or None.
        slowest_p95_version: The version with the highest p95 latency, or None.
        failures: Failed validations per reason bucket: count and share.
    """

    stored: int
    drift: DriftOnset
    drift_day: int | None
    versions: pa.Table
    worst_error_version: str | None
    slowest_p95_version: str | None
    failures: pa.Table

    @property
    def p95_by_version(self) -> dict[str, float]:
        """p95 latency in milliseconds per model_version."""
        return _column_by_version(self.versions, "latency_p95_ms")

    @property
    def error_rate_by_version(self) -> dict[str, float]:
        """Share of rows with an error category, per model_version."""
        return _column_by_version(self.versions, "error_rate")

    @property
    def failures_by_reason(self) -> dict[str, int]:
        """Failed validations per reason bucket."""
        return dict(
            zip(
                self.failures["validation_reason"].to_pylist(),
                self.failures["count"].to_pylist(),
                strict=True,
            )
        )


def compute_findings(store_path: Path) -> Findings:
    """Query the store for the drift onset, the versions and validation failures."""
    client = StoreClient(store_path)
    totals = client.summary(by=(), window=None)
    stored = sum(count or 0 for count in totals["count"].to_pylist())

    drift = client.drift_onset(
        window="1d", rel_threshold=DRIFT_REL_THRESHOLD, baseline_windows=BASELINE_DAYS
    )
    versions = client.compare_versions().sort_by("model_version")

    return Findings(
        stored=stored,
        drift=drift,
        drift_day=_day_number(drift),
        versions=versions,
        worst_error_version=_version_with_max(versions, "error_rate"),
        slowest_p95_version=_version_with_max(versions, "latency_p95_ms"),
        failures=client.validation_failures(by=("validation_reason",)),
    )


def _day_number(drift: DriftOnset) -> int | None:
    if drift.window_start is None:
        return None

    first = drift.windows["window_start"][0].as_py()
    return (drift.window_start.date() - first.date()).days + 1


def _column_by_version(versions: pa.Table, column: str) -> dict[str, float]:
    return dict(
        zip(
            versions["model_version"].to_pylist(),
            versions[column].to_pylist(),
            strict=True,
        )
    )


def _version_with_max(versions: pa.Table, column: str) -> str | None:
    values = {
        version: value
        for version, value in _column_by_version(versions, column).items()
        if value is not None
    }
    if not values:
        return None

    return max(values, key=values.__getitem__)


def format_findings(findings: Findings) -> str:
    """Return the findings as short tables with one sentence each."""
    sections = [
        "Findings (queried from the store)",
        _drift_section(findings),
        _versions_section(findings),
        _failures_section(findings),
    ]
    return "\n\n".join(sections)


def _drift_section(findings: Findings) -> str:
    drift = findings.drift
    first: dt.datetime | None = None
    rows = []
    for window in drift.windows.to_pylist():
        first = first or window["window_start"]
        day = (window["window_start"].date() - first.date()).days + 1
        rows.append(
            (
                str(day),
                f"{window['window_start']:%Y-%m-%d}",
                f"{window['count']:,}",
                _number(window["drift_rel_mean"], "{:.2f}"),
                _number(window["drifted_share"], "{:.1%}"),
            )
        )

    table = format_table(
        ("day", "date", "records", "mean rel. error", "moderate+severe"),
        rows,
        align="rlrrr",
    )
    return f"Drift by day\n{table}\n{_drift_sentence(findings)}"


def _drift_sentence(findings: Findings) -> str:
    drift = findings.drift
    if drift.window_start is None:
        return (
            "No drift onset: no day rose above the baseline day by "
            f"{drift.threshold:.0%} in drifted share or by {DRIFT_REL_THRESHOLD} in "
            "mean relative error."
        )

    return (
        f"Drift starts on day {findings.drift_day} ({drift.window_start:%Y-%m-%d}): "
        f"the mean relative error rose from {drift.baseline_drift_rel_mean:.2f} on "
        f"the baseline day to {drift.drift_rel_mean:.2f}, and the share of moderate "
        f"or severe drift from {drift.baseline_drifted_share:.0%} to "
        f"{drift.drifted_share:.0%}."
    )


def _versions_section(findings: Findings) -> str:
    rows = [
        (
            row["model_version"],
            f"{row['count']:,}",
            _number(row["error_rate"], "{:.2%}"),
            _number(row["latency_p50_ms"], "{:.1f}"),
            _number(row["latency_p95_ms"], "{:.1f}"),
            _number(row["latency_p99_ms"], "{:.1f}"),
        )
        for row in findings.versions.to_pylist()
    ]
    table = format_table(
        ("version", "records", "error rate", "p50 ms", "p95 ms", "p99 ms"), rows
    )
    sentences = [
        _max_sentence(
            findings.worst_error_version,
            findings.error_rate_by_version,
            "has the worst error rate",
            "{:.2%}",
        ),
        _max_sentence(
            findings.slowest_p95_version,
            findings.p95_by_version,
            "is the slowest at p95",
            "{:.1f} ms",
        ),
    ]
    return f"Versions\n{table}\n" + "\n".join(sentences)


def _max_sentence(
    version: str | None, values: dict[str, float], claim: str, shape: str
) -> str:
    if version is None:
        return "The store has no rows with both a model_version and this value."

    others = [
        f"{shape.format(value)} for {other}"
        for other, value in values.items()
        if other != version and value is not None
    ]
    against = f", against {', '.join(others)}" if others else ""
    return f"{version} {claim}: {shape.format(values[version])}{against}."


def _failures_section(findings: Findings) -> str:
    rows = [
        (row["validation_reason"], f"{row['count']:,}", f"{row['share']:.1%}")
        for row in findings.failures.to_pylist()
    ]
    table = format_table(("reason", "failures", "share"), rows)
    total = sum(findings.failures_by_reason.values())
    if not rows:
        return f"Validation failures by reason\n{table}\nNo request failed validation."

    top = findings.failures.to_pylist()[0]
    share_of_all = total / findings.stored if findings.stored else 0.0
    sentence = (
        f"Validation rejected {total:,} requests ({share_of_all:.1%} of all requests); "
        f"the most common reason is {top['validation_reason']} ({top['share']:.0%})."
    )
    return f"Validation failures by reason\n{table}\n{sentence}"


def _number(value: float | None, shape: str) -> str:
    return "-" if value is None else shape.format(value)


def format_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], align: str | None = None
) -> str:
    """Return an aligned text table, indented by two spaces.

    Args:
        headers: The column titles.
        rows: The cells, already formatted as strings.
        align: One letter per column, "l" (left) or "r" (right); by default the
            first column is left-aligned and the others right-aligned.
    """
    align = align or "l" + "r" * (len(headers) - 1)
    widths = [
        max(len(cells[i]) for cells in (headers, *rows)) for i in range(len(headers))
    ]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.ljust(width) if side == "l" else cell.rjust(width)
            for cell, width, side in zip(cells, widths, align, strict=True)
        ]
        return "  " + "  ".join(padded).rstrip()

    return "\n".join(line(cells) for cells in (headers, *rows))
