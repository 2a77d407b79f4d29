"""Names of the record attributes the default bucket spec reads.

`exception.type`, `exception.message` and `event.name` are OpenTelemetry semantic
conventions. The `ml.*` names have no semantic convention yet; these are the
project's own.
"""

from typing import Final

EVENT_NAME: Final = "event.name"
EXCEPTION_TYPE: Final = "exception.type"
EXCEPTION_MESSAGE: Final = "exception.message"

MODEL_NAME: Final = "ml.model.name"
MODEL_VERSION: Final = "ml.model.version"
FEATURE_NAME: Final = "ml.feature.name"
FEATURE_TYPE: Final = "ml.feature.type"
FEATURE_VALUE: Final = "ml.feature.value"
VALIDATION_STATUS: Final = "ml.validation.status"
VALIDATION_REASON: Final = "ml.validation.reason"
PREDICTION_EXPECTED: Final = "ml.prediction.expected"
PREDICTION_ACTUAL: Final = "ml.prediction.actual"
PREDICTION_CONFIDENCE: Final = "ml.prediction.confidence"
INFERENCE_LATENCY_MS: Final = "ml.inference.latency_ms"
"""Inference latency in milliseconds."""

EVENT_PREDICTION: Final = "ml.prediction"
EVENT_VALIDATION_FAILURE: Final = "ml.validation.failure"
EVENT_PREDICTION_ERROR: Final = "ml.prediction.error"
EVENT_INFRASTRUCTURE_ERROR: Final = "ml.infrastructure.error"
