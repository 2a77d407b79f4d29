"""otel-mlbucket: bucket attributes for ML model logs, added inside OpenTelemetry.

Importing this package is cheap: the store, query and CLI modules (which need
pyarrow and httpx) load only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "BucketSpec",
    "BucketedLogging",
    "BucketingProcessor",
    "SpecError",
    "StatsSnapshot",
    "add_to_provider",
    "configure",
    "log_prediction",
    "log_prediction_error",
    "log_validation_failure",
]

_LAZY = {
    "BucketSpec": "otel_mlbucket._spec",
    "SpecError": "otel_mlbucket._spec",
    "StatsSnapshot": "otel_mlbucket._stats",
    "BucketingProcessor": "otel_mlbucket.processor",
    "BucketedLogging": "otel_mlbucket.setup",
    "configure": "otel_mlbucket.setup",
    "add_to_provider": "otel_mlbucket.setup",
    "log_prediction": "otel_mlbucket.events",
    "log_prediction_error": "otel_mlbucket.events",
    "log_validation_failure": "otel_mlbucket.events",
}

if TYPE_CHECKING:
    from otel_mlbucket._spec import BucketSpec, SpecError
    from otel_mlbucket._stats import StatsSnapshot
    from otel_mlbucket.events import (
        log_prediction,
        log_prediction_error,
        log_validation_failure,
    )
    from otel_mlbucket.processor import BucketingProcessor
    from otel_mlbucket.setup import BucketedLogging, add_to_provider, configure


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'otel_mlbucket' has no attribute {name!r}")

    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value
