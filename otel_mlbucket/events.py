"""Helpers that log ML events with the attributes the default bucket spec reads.

Each helper takes either a stdlib `logging.Logger` (or `LoggerAdapter`), whose
records reach OpenTelemetry through the handler `configure` attaches, or an
OpenTelemetry logs API `Logger`, to which it emits directly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from opentelemetry._logs import SeverityNumber

from otel_mlbucket import attributes as attr

_SEVERITY_TEXT = {"WARNING": "WARN", "CRITICAL": "FATAL"}
_STACKLEVEL = 4
"""Frames from `Logger.log` up to the caller of a helper, for code attributes."""


def severity_of_level(level: int) -> SeverityNumber:
    """Map a stdlib level to a severity number as the OpenTelemetry handler does.

    Each named level maps to its severity (INFO to INFO, 9) and the levels between
    them to the next three numbers (21 to INFO2, 22 to INFO3, 23 to 29 to INFO4),
    so custom levels keep their place. Below 10 is UNSPECIFIED and above 53 FATAL4.
    """
    if level < logging.DEBUG:
        return SeverityNumber.UNSPECIFIED
    if level > logging.CRITICAL + 3:
        return SeverityNumber.FATAL4

    named, step = divmod(level, 10)
    base = {1: 5, 2: 9, 3: 13, 4: 17, 5: 21}[named]
    return SeverityNumber(base + min(step, 3))


def _severity_text(level: int) -> str:
    name = logging.getLevelName(level)
    return _SEVERITY_TEXT.get(name, name)


def _model(model_name: str, model_version: str | None) -> dict[str, Any]:
    found: dict[str, Any] = {attr.MODEL_NAME: model_name}
    if model_version is not None:
        found[attr.MODEL_VERSION] = model_version

    return found


def _without_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _log(
    logger: Any,
    level: int,
    event_name: str,
    message: str,
    attributes: dict[str, Any],
    exc_info: BaseException | None = None,
) -> None:
    if isinstance(logger, (logging.Logger, logging.LoggerAdapter)):
        extra = {attr.EVENT_NAME: event_name, **attributes}
        _log_stdlib(logger, level, message, extra, exc_info)
        return

    if exc_info is not None:
        attributes.setdefault(attr.EXCEPTION_TYPE, type(exc_info).__name__)
        attributes.setdefault(attr.EXCEPTION_MESSAGE, str(exc_info))
    logger.emit(
        timestamp=time.time_ns(),
        severity_number=severity_of_level(level),
        severity_text=_severity_text(level),
        body=message,
        attributes=attributes,
        event_name=event_name,
    )


def _log_stdlib(
    logger: logging.Logger | logging.LoggerAdapter,
    level: int,
    message: str,
    extra: dict[str, Any],
    exc_info: BaseException | None,
) -> None:
    # LoggerAdapter.process replaces `extra` with the adapter's own before Python
    # 3.13, so each adapter's extra is merged under the event's attributes here.
    while isinstance(logger, logging.LoggerAdapter):
        message, kwargs = logger.process(message, {"extra": extra})
        extra = {**(kwargs.get("extra") or {}), **extra}
        logger = logger.logger

    logger.log(level, message, extra=extra, exc_info=exc_info, stacklevel=_STACKLEVEL)


def log_prediction(
    logger: Any,
    *,
    model_name: str,
    model_version: str | None = None,
    latency_ms: float | None = None,
    confidence: float | None = None,
    expected: float | None = None,
    actual: float | None = None,
    message: str = "prediction",
    level: int = logging.INFO,
    **extra: Any,
) -> None:
    """Log one prediction as an `ml.prediction` event.

    Args:
        logger: A stdlib logger or an OpenTelemetry logs API logger.
        model_name: The model's name.
        model_version: The model's version.
        latency_ms: Inference latency in milliseconds.
        confidence: Prediction confidence in [0, 1].
        expected: The expected output (ground truth or reference), for drift.
        actual: The model's output, for drift.
        message: The log body.
        level: The stdlib level.
        **extra: More attributes, by their full names.
    """
    attributes = _model(model_name, model_version)
    attributes.update(
        _without_none(
            {
                attr.INFERENCE_LATENCY_MS: latency_ms,
                attr.PREDICTION_CONFIDENCE: confidence,
                attr.PREDICTION_EXPECTED: expected,
                attr.PREDICTION_ACTUAL: actual,
            }
        )
    )
    attributes.update(extra)
    _log(logger, level, attr.EVENT_PREDICTION, message, attributes)


def log_validation_failure(
    logger: Any,
    *,
    model_name: str,
    reason: str,
    model_version: str | None = None,
    feature_name: str | None = None,
    feature_type: str | None = None,
    message: str | None = None,
    level: int = logging.WARNING,
    **extra: Any,
) -> None:
    """Log one failed input validation as an `ml.validation.failure` event.

    Args:
        logger: A stdlib logger or an OpenTelemetry logs API logger.
        model_name: The model whose input failed.
        reason: The raw reason code, for example "missing", "out_of_range" or
            "schema_mismatch"; the spec maps it to a reason bucket.
        model_version: The model's version.
        feature_name: The failing feature.
        feature_type: "categorical" or "numerical", when known.
        message: The log body; defaults to a sentence naming the reason.
        level: The stdlib level.
        **extra: More attributes, by their full names.
    """
    attributes = _model(model_name, model_version)
    attributes[attr.VALIDATION_STATUS] = "failed"
    attributes[attr.VALIDATION_REASON] = reason
    attributes.update(
        _without_none(
            {attr.FEATURE_NAME: feature_name, attr.FEATURE_TYPE: feature_type}
        )
    )
    attributes.update(extra)
    body = message or f"input validation failed: {reason}"
    _log(logger, level, attr.EVENT_VALIDATION_FAILURE, body, attributes)


def log_prediction_error(
    logger: Any,
    error: BaseException,
    *,
    model_name: str,
    model_version: str | None = None,
    infrastructure: bool = False,
    message: str | None = None,
    level: int = logging.ERROR,
    **extra: Any,
) -> None:
    """Log a failed prediction with its exception.

    The event is `ml.prediction.error`, or `ml.infrastructure.error` when
    `infrastructure` is true (a timeout or an unreachable feature store, say).

    Args:
        logger: A stdlib logger or an OpenTelemetry logs API logger.
        error: The exception; its type becomes `exception.type`.
        model_name: The model that failed.
        model_version: The model's version.
        infrastructure: The failure lies outside the model.
        message: The log body; defaults to the exception's text.
        level: The stdlib level.
        **extra: More attributes, by their full names.
    """
    attributes = _model(model_name, model_version)
    attributes.update(extra)
    event = (
        attr.EVENT_INFRASTRUCTURE_ERROR
        if infrastructure
        else attr.EVENT_PREDICTION_ERROR
    )
    body = message or f"prediction failed: {type(error).__name__}: {error}"
    _log(logger, level, event, body, attributes, exc_info=error)
