"""The simulated world: traffic volume, input drift, defective requests, outages.

Requests are the held-out patients of the diabetes dataset, drawn with replacement,
with small measurement noise on the numerical features. Their outcomes stay the
patients' true targets. From the drift day on, the served bmi, bp and s5 shift
upward by a growing share of their standard deviation, as an upstream calibration
fault would shift them. The model then receives patients who look sicker than they
are, so its prediction error grows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from otel_mlbucket.demo._model import FEATURES, Dataset
from otel_mlbucket.demo._service import Request

SECONDS_PER_DAY = 86400

JITTER_STD = 0.03
"""Measurement noise on numerical features, as a share of each feature's std."""

DRIFT_FEATURES = ("bmi", "bp", "s5")
DRIFT_START_STD = 1.0
"""Shift of the drifting features on the drift day's first tick, in feature stds."""
DRIFT_GROWTH_STD_PER_DAY = 0.3

INVALID_SHARE = 0.03
"""Share of requests with a defect: a missing, corrupted or misaligned feature."""

FEATURE_STORE_TIMEOUT_MS = 200.0
TIMEOUT_SHARE = 0.003
"""Share of feature lookups that time out outside the outage."""
OUTAGE_DAY = 2
OUTAGE_START_SECONDS = 14 * 3600
OUTAGE_SECONDS = 45 * 60
OUTAGE_TIMEOUT_SHARE = 0.3

_SEX = FEATURES.index("sex")
_DRIFT_COLUMNS = [FEATURES.index(name) for name in DRIFT_FEATURES]


def daily_weights(ticks_per_day: int, days: int) -> np.ndarray:
    """Return the relative request volume per tick: a daily peak at 15:00 UTC."""
    hours = (np.arange(ticks_per_day * days) % ticks_per_day) * 24 / ticks_per_day
    weights = 1.0 + 0.6 * np.sin(2 * math.pi * (hours - 9) / 24)

    return weights / weights.sum()


def allocate(total: int, weights: np.ndarray) -> np.ndarray:
    """Split `total` into integer counts proportional to `weights` (largest remainder)."""
    exact = weights * total
    counts = np.floor(exact).astype(np.int64)
    short = total - int(counts.sum())
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:short]] += 1

    return counts


def drift_shift_std(day_offset: float, drift_day: int) -> float:
    """Return the drift shift in feature stds at a time, 0.0 before the drift day.

    Args:
        day_offset: Days since the simulation start; day number 1 is [0, 1).
        drift_day: The day number on which drift begins.
    """
    since = day_offset - (drift_day - 1)
    if since < 0:
        return 0.0

    return DRIFT_START_STD + DRIFT_GROWTH_STD_PER_DAY * since


def _defect_missing_column(columns: list[str], values: list[Any], index: int) -> None:
    del columns[index]
    del values[index]


def _defect_null(columns: list[str], values: list[Any], index: int) -> None:
    values[index] = None


def _defect_nan(columns: list[str], values: list[Any], index: int) -> None:
    values[index] = math.nan


def _defect_inf(columns: list[str], values: list[Any], index: int) -> None:
    values[index] = -math.inf if index % 2 else math.inf


def _defect_unit_error(columns: list[str], values: list[Any], index: int) -> None:
    values[index] = values[index] * 100


def _defect_swapped(columns: list[str], values: list[Any], index: int) -> None:
    other = (index + 1) % len(columns)
    columns[index], columns[other] = columns[other], columns[index]
    values[index], values[other] = values[other], values[index]


def _defect_truncated(columns: list[str], values: list[Any], index: int) -> None:
    del values[-1]


def _defect_text(columns: list[str], values: list[Any], index: int) -> None:
    values[index] = f"{values[index]:g}"


def _defect_extra_column(columns: list[str], values: list[Any], index: int) -> None:
    columns.insert(index, "patient_id")
    values.insert(index, float(index))


# Defect, share among defective requests. Missing: 40%, corrupted: 35%,
# misaligned: 25%.
DEFECTS: tuple[tuple[Callable[[list[str], list[Any], int], None], float], ...] = (
    (_defect_missing_column, 0.25),
    (_defect_null, 0.15),
    (_defect_nan, 0.10),
    (_defect_inf, 0.05),
    (_defect_unit_error, 0.20),
    (_defect_swapped, 0.10),
    (_defect_truncated, 0.05),
    (_defect_text, 0.05),
    (_defect_extra_column, 0.05),
)


@dataclass
class Traffic:
    """Draws the requests of each tick from the held-out patients.

    Args:
        pool: The held-out patients.
        rng: The generator for rows, noise and defects.
        drift_day: The day number on which drift begins.
        start: The simulation start, in seconds since the epoch.
    """

    pool: Dataset
    rng: np.random.Generator
    drift_day: int
    start: float

    def __post_init__(self) -> None:
        self._std = self.pool.features.std(axis=0)
        self._noise_scale = JITTER_STD * self._std
        self._noise_scale[_SEX] = 0.0
        self._next_id = 1
        weights = np.array([share for _, share in DEFECTS])
        self._defect_shares = weights / weights.sum()

    def requests(
        self, tick_start: float, tick_seconds: float, count: int
    ) -> list[Request]:
        """Draw `count` requests arriving within one tick, in arrival order."""
        rng = self.rng
        rows = rng.integers(0, len(self.pool.targets), size=count)
        features = (
            self.pool.features[rows]
            + rng.normal(size=(count, len(FEATURES))) * self._noise_scale
        )
        shift = drift_shift_std(
            (tick_start - self.start) / SECONDS_PER_DAY, self.drift_day
        )
        if shift:
            features[:, _DRIFT_COLUMNS] += shift * self._std[_DRIFT_COLUMNS]
        features = np.round(features, 4)
        arrivals = np.sort(tick_start + rng.uniform(0, tick_seconds, size=count))
        defective = rng.random(count) < INVALID_SHARE

        return list(self._build(features, self.pool.targets[rows], arrivals, defective))

    def _build(
        self,
        features: np.ndarray,
        outcomes: np.ndarray,
        arrivals: np.ndarray,
        defective: np.ndarray,
    ) -> Iterator[Request]:
        for values, outcome, arrived_at, broken in zip(
            features.tolist(),
            outcomes.tolist(),
            arrivals.tolist(),
            defective.tolist(),
            strict=True,
        ):
            columns: tuple[str, ...] = FEATURES
            if broken:
                columns, values = self._break(values)
            yield Request(self._next_id, arrived_at, columns, tuple(values), outcome)
            self._next_id += 1

    def _break(self, values: list[Any]) -> tuple[tuple[str, ...], list[Any]]:
        defect_index = self.rng.choice(len(DEFECTS), p=self._defect_shares)
        defect = DEFECTS[defect_index][0]
        columns = list(FEATURES)
        defect(columns, values, int(self.rng.integers(0, len(FEATURES))))

        return tuple(columns), values


class SimulatedFeatureStore:
    """A feature lookup that times out at a scheduled rate and otherwise returns.

    The request already carries every feature, so the lookup only adds the failures
    a remote feature store brings: a low steady rate of timeouts and one outage.

    Args:
        rng: The generator that decides each lookup.
        start: The simulation start, in seconds since the epoch.
    """

    timeout_ms = FEATURE_STORE_TIMEOUT_MS

    def __init__(self, rng: np.random.Generator, start: float):
        self._rng = rng
        self._outage_start = (
            start + (OUTAGE_DAY - 1) * SECONDS_PER_DAY + OUTAGE_START_SECONDS
        )
        self._outage_end = self._outage_start + OUTAGE_SECONDS

    def lookup(self, request: Request) -> None:
        """Return, or raise TimeoutError for a timed-out lookup."""
        in_outage = self._outage_start <= request.arrived_at < self._outage_end
        share = OUTAGE_TIMEOUT_SHARE if in_outage else TIMEOUT_SHARE
        if self._rng.random() < share:
            raise TimeoutError(
                f"feature store lookup timed out after {self.timeout_ms:g} ms"
            )
