"""The demo's model service: validate, look up features, predict and log each request.

Every outcome is one stdlib log record written with the `otel_mlbucket.events`
helpers: a prediction, a validation failure, a model prediction error or an
infrastructure error. The records reach OpenTelemetry through whatever handler the
service's logger has, as in any instrumented service.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from otel_mlbucket.demo._model import ForestModel
from otel_mlbucket.demo._validation import ValidationFailure, validate
from otel_mlbucket.events import (
    log_prediction,
    log_prediction_error,
    log_validation_failure,
)

SERVICE_LOGGER = "mlbucket_demo.service"
"""The service's logger. It is deliberately outside the `otel_mlbucket` namespace,
whose records the handler that `otel_mlbucket.configure` attaches drops."""

INFRASTRUCTURE_ERRORS = (TimeoutError, ConnectionError)


@dataclass(frozen=True)
class Request:
    """One prediction request.

    Attributes:
        request_id: The request's id, unique within a run.
        arrived_at: Arrival time in seconds since the epoch.
        columns: The column names the client sent, in its order.
        values: The values, one per column.
        outcome: The patient's true target. A production service would join it
            later; the simulation sends it along so that every prediction can be
            logged with its expected value.
    """

    request_id: int
    arrived_at: float
    columns: tuple[str, ...]
    values: tuple[Any, ...]
    outcome: float


@dataclass(frozen=True)
class LatencyModel:
    """Log-normal serving latency of one deployed version.

    Latency is simulated rather than measured, so that one seed reproduces every
    record; the model stands for feature lookup plus inference.

    Attributes:
        median_ms: The median latency in milliseconds.
        sigma: The standard deviation of the latency's logarithm.
        slowdown: Factor applied to every sample, 1.0 for no regression.
    """

    median_ms: float
    sigma: float
    slowdown: float = 1.0

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draw `size` latencies in milliseconds."""
        draws = rng.lognormal(math.log(self.median_ms), self.sigma, size)

        return draws * self.slowdown


class FeatureStore(Protocol):
    """The feature lookup the service makes before it predicts."""

    timeout_ms: float

    def lookup(self, request: Request) -> None:
        """Fetch the request's stored features.

        Raises:
            TimeoutError: The lookup timed out.
            ConnectionError: The store is unreachable.
        """


@dataclass
class ServeCounts:
    """Log records the service wrote, by outcome."""

    predictions: int = 0
    validation_failures: int = 0
    prediction_errors: int = 0
    infrastructure_errors: int = 0

    @property
    def total(self) -> int:
        """Every record written."""
        return (
            self.predictions
            + self.validation_failures
            + self.prediction_errors
            + self.infrastructure_errors
        )

    def add(self, other: ServeCounts) -> None:
        """Add another count to this one."""
        self.predictions += other.predictions
        self.validation_failures += other.validation_failures
        self.prediction_errors += other.prediction_errors
        self.infrastructure_errors += other.infrastructure_errors


class ModelService:
    """One deployed model version serving batches of requests.

    Args:
        model: The model this deployment serves.
        logger: The stdlib logger every outcome is written to.
        latency: The latency of this deployment.
        feature_store: The feature lookup made for every valid request.
        rng: The generator that draws latencies.
        set_event_time: Called with each event's time, in seconds since the epoch,
            just before the event is logged. The simulation uses it to stamp
            records with simulated time. None keeps the records' real creation
            time.
    """

    def __init__(
        self,
        model: ForestModel,
        logger: logging.Logger,
        *,
        latency: LatencyModel,
        feature_store: FeatureStore,
        rng: np.random.Generator,
        set_event_time: Callable[[float], None] | None = None,
    ):
        self.model = model
        self.latency = latency
        self._logger = logger
        self._feature_store = feature_store
        self._rng = rng
        self._set_event_time = set_event_time

    def serve(self, requests: Sequence[Request]) -> ServeCounts:
        """Validate, look up and predict a batch, logging one record per request.

        Args:
            requests: The requests routed to this deployment, in arrival order.

        Returns:
            The records written, by outcome.
        """
        counts = ServeCounts()
        latencies = self.latency.sample(self._rng, len(requests))
        accepted: list[tuple[Request, float]] = []
        for request, latency_ms in zip(requests, latencies.tolist(), strict=True):
            if self._admit(request, counts):
                accepted.append((request, latency_ms))

        if accepted:
            self._predict(accepted, counts)

        return counts

    def _admit(self, request: Request, counts: ServeCounts) -> bool:
        failure = validate(request.columns, request.values)
        if failure is not None:
            self._log_failure(request, failure)
            counts.validation_failures += 1
            return False

        try:
            self._feature_store.lookup(request)
        except INFRASTRUCTURE_ERRORS as exc:
            self._stamp(request.arrived_at + self._feature_store.timeout_ms / 1000)
            log_prediction_error(
                self._logger,
                exc,
                model_name=self.model.name,
                model_version=self.model.version,
                infrastructure=True,
                message=f"feature lookup failed for request {request.request_id}: "
                f"{type(exc).__name__}: {exc}",
            )
            counts.infrastructure_errors += 1
            return False

        return True

    def _log_failure(self, request: Request, failure: ValidationFailure) -> None:
        self._stamp(request.arrived_at)
        log_validation_failure(
            self._logger,
            model_name=self.model.name,
            model_version=self.model.version,
            reason=failure.reason,
            feature_name=failure.feature_name,
            feature_type=failure.feature_type,
            message=f"request {request.request_id} rejected: {failure.message}",
        )

    def _predict(
        self, accepted: list[tuple[Request, float]], counts: ServeCounts
    ) -> None:
        features = np.array([request.values for request, _ in accepted], dtype=float)
        result = self.model.predict(features)
        values = result.values.tolist()
        confidences = result.confidences.tolist()
        for row, (request, latency_ms) in enumerate(accepted):
            self._stamp(request.arrived_at + latency_ms / 1000)
            error = result.errors.get(row)
            if error is not None:
                self._log_model_error(request, error)
                counts.prediction_errors += 1
                continue

            log_prediction(
                self._logger,
                model_name=self.model.name,
                model_version=self.model.version,
                latency_ms=round(latency_ms, 3),
                confidence=round(confidences[row], 4),
                expected=request.outcome,
                actual=round(values[row], 3),
            )
            counts.predictions += 1

    def _log_model_error(self, request: Request, error: Exception) -> None:
        log_prediction_error(
            self._logger,
            error,
            model_name=self.model.name,
            model_version=self.model.version,
            message=f"prediction failed for request {request.request_id}: "
            f"{type(error).__name__}: {error}",
        )

    def _stamp(self, event_time: float) -> None:
        if self._set_event_time is not None:
            self._set_event_time(event_time)
