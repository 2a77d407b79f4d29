"""A simulated week of production traffic for the demo's model service, in simulated time.

Version v1 serves alone on days 1 and 2. v2 rolls out as a canary from day 3 (10%,
then 30%, 60%) and serves all traffic on days 6 and 7. Every log record carries the
simulated time at which its event happened, so the store's time buckets are those of
the simulated week. One seed reproduces every record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from otel_mlbucket.demo._model import (
    VERSIONS,
    ForestModel,
    load_dataset,
    train_models,
)
from otel_mlbucket.demo._service import LatencyModel, ModelService, ServeCounts
from otel_mlbucket.demo._traffic import (
    SECONDS_PER_DAY,
    SimulatedFeatureStore,
    Traffic,
    allocate,
    daily_weights,
)

DAYS = 7
TICK_SECONDS = 600
"""Simulated time per batch; each version predicts one batch per tick."""
TICKS_PER_DAY = SECONDS_PER_DAY // TICK_SECONDS

DEFAULT_RECORDS = 300_000
DEFAULT_DRIFT_DAY = 4
DEFAULT_SLOW_VERSION = "v2"
DEFAULT_SEED = 7
DEFAULT_START = datetime(2025, 3, 3, tzinfo=timezone.utc)
MIN_RECORDS = 1_000

V2_SHARE_BY_DAY = (0.0, 0.0, 0.1, 0.3, 0.6, 1.0, 1.0)
"""Share of requests routed to v2 on each day number 1 to 7."""

LATENCY_BY_VERSION = {"v1": (14.0, 0.45), "v2": (16.0, 0.45)}
"""Median latency in ms and the sigma of its logarithm, per version."""
SLOWDOWN = 3.0
"""Latency factor of the slow version, a regression in its serving path."""


@dataclass(frozen=True)
class SimulationConfig:
    """Settings of one simulated week.

    Attributes:
        records: Requests to simulate; each writes exactly one log record.
        drift_day: Day number (2 to 7) on which input drift begins.
        slow_version: The version whose latency regressed, "v1" or "v2".
        seed: Seed of every random draw, including the forests' random_state.
        start: Start of day 1, timezone-aware.
    """

    records: int = DEFAULT_RECORDS
    drift_day: int = DEFAULT_DRIFT_DAY
    slow_version: str = DEFAULT_SLOW_VERSION
    seed: int = DEFAULT_SEED
    start: datetime = DEFAULT_START

    def __post_init__(self) -> None:
        if self.records < MIN_RECORDS:
            raise ValueError(
                f"records must be at least {MIN_RECORDS}, got {self.records}"
            )
        if not 2 <= self.drift_day <= DAYS:
            raise ValueError(
                f"drift_day must be a day number from 2 to {DAYS} (day 1 is the "
                f"baseline), got {self.drift_day}"
            )
        if self.slow_version not in VERSIONS:
            raise ValueError(
                f"slow_version must be one of {', '.join(VERSIONS)}, "
                f"got {self.slow_version!r}"
            )
        if self.start.tzinfo is None:
            raise ValueError(f"start must be timezone-aware, got {self.start}")


class SimulatedClock:
    """The simulated time, in seconds since the epoch, that stamps log records."""

    def __init__(self, now: float):
        self.now = now

    def set(self, now: float) -> None:
        """Move the clock to `now`."""
        self.now = now


class SimulatedTimeFilter(logging.Filter):
    """Stamps each record with the simulated clock's time.

    The OpenTelemetry logging handler takes a record's timestamp from
    `LogRecord.created`, so a logger filter that rewrites it (and `msecs`) before
    any handler runs moves the record into simulated time.
    """

    def __init__(self, clock: SimulatedClock):
        super().__init__()
        self._clock = clock

    def filter(self, record: logging.LogRecord) -> bool:
        now = self._clock.now
        record.created = now
        record.msecs = (now - int(now)) * 1000

        return True


@dataclass
class Progress:
    """The progress of a running simulation.

    Attributes:
        tick: Ticks finished so far, from 1 to `DAYS * TICKS_PER_DAY`.
        day: The day number of the finished tick.
        day_finished: The tick was the last of its day.
        counts: Records written so far, by outcome.
    """

    tick: int
    day: int
    day_finished: bool
    counts: ServeCounts = field(default_factory=ServeCounts)


class Simulation:
    """Trains v1 and v2, then serves a week of simulated traffic through them.

    Args:
        config: The settings.
        logger: The stdlib logger of the model service. The simulation adds a
            `SimulatedTimeFilter` to it while `run` runs.
    """

    def __init__(self, config: SimulationConfig, logger: logging.Logger):
        self.config = config
        self.logger = logger
        start = config.start.timestamp()
        self.clock = SimulatedClock(start)
        # Independent streams, so that routing draws do not shift the traffic draws.
        traffic_rng, router_rng, store_rng, latency_rng = np.random.default_rng(
            config.seed
        ).spawn(4)
        train, pool = load_dataset()
        self._traffic = Traffic(pool, traffic_rng, config.drift_day, start)
        self._router = router_rng
        feature_store = SimulatedFeatureStore(store_rng, start)
        models = train_models(train, config.seed)
        self.services = self._deploy(models, feature_store, latency_rng)

    def _deploy(
        self,
        models: dict[str, ForestModel],
        feature_store: SimulatedFeatureStore,
        rng: np.random.Generator,
    ) -> dict[str, ModelService]:
        services = {}
        for version, service_rng in zip(
            VERSIONS, rng.spawn(len(VERSIONS)), strict=True
        ):
            median_ms, sigma = LATENCY_BY_VERSION[version]
            slowdown = SLOWDOWN if version == self.config.slow_version else 1.0
            services[version] = ModelService(
                models[version],
                self.logger,
                latency=LatencyModel(median_ms, sigma, slowdown),
                feature_store=feature_store,
                rng=service_rng,
                set_event_time=self.clock.set,
            )

        return services

    def run(self, on_tick: Callable[[Progress], None] | None = None) -> ServeCounts:
        """Serve the whole week.

        Args:
            on_tick: Called after every tick with the progress so far.

        Returns:
            The records written, by outcome.
        """
        time_filter = SimulatedTimeFilter(self.clock)
        self.logger.addFilter(time_filter)
        try:
            return self._serve_week(on_tick)
        finally:
            self.logger.removeFilter(time_filter)

    def _serve_week(self, on_tick: Callable[[Progress], None] | None) -> ServeCounts:
        total = ServeCounts()
        weights = daily_weights(TICKS_PER_DAY, DAYS)
        start = self.config.start.timestamp()
        for tick, count in enumerate(allocate(self.config.records, weights).tolist()):
            day = tick // TICKS_PER_DAY + 1
            tick_start = start + tick * TICK_SECONDS
            total.add(self._serve_tick(tick_start, count, V2_SHARE_BY_DAY[day - 1]))
            if on_tick is not None:
                finished = (tick + 1) % TICKS_PER_DAY == 0
                on_tick(Progress(tick + 1, day, finished, total))

        return total

    def _serve_tick(
        self, tick_start: float, count: int, v2_share: float
    ) -> ServeCounts:
        counts = ServeCounts()
        requests = self._traffic.requests(tick_start, TICK_SECONDS, count)
        to_v2 = (self._router.random(len(requests)) < v2_share).tolist()
        for version, routed in (("v1", False), ("v2", True)):
            batch = [
                request
                for request, goes in zip(requests, to_v2, strict=True)
                if goes is routed
            ]
            if batch:
                counts.add(self.services[version].serve(batch))

        return counts
