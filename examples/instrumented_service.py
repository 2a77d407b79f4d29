"""Add bucket attributes to the ML logs of an OpenTelemetry-instrumented service.

The service below already has its own logs pipeline: a LoggerProvider, a
BatchLogRecordProcessor and an exporter (the console exporter here, so that nothing
goes over the network), and a logging handler on its logger. Bucketing joins that
pipeline as one more LogRecordProcessor, which must run before the batch processor
because the batch processor takes its copy of each record in its own `on_emit`.

Two ways, chosen with --mode:

    provider         build the provider with the BucketingProcessor first
                     (for services that build their own provider)
    add-to-provider  insert it into a provider that already exists, with
                     otel_mlbucket.add_to_provider(provider) (for providers built
                     by `opentelemetry-instrument` and other auto-instrumentation)

Run it with `python examples/instrumented_service.py --mode add-to-provider`; it
prints one JSON log record per line.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    ConsoleLogRecordExporter,
)
from opentelemetry.sdk.resources import Resource

import otel_mlbucket
from otel_mlbucket import BucketingProcessor
from otel_mlbucket.events import (
    log_prediction,
    log_prediction_error,
    log_validation_failure,
)

MODES = ("provider", "add-to-provider")
MODEL_NAME = "churn-score"

# The default spec sends only the routing dimensions (team, error_category,
# model_version), on the resource. These overrides also put drift, validation and
# latency on every record, so that the console output shows them.
PLACEMENTS = {"drift": "record", "validation": "record", "latency": "record"}


def build_exporting_provider() -> LoggerProvider:
    """Build the provider the service had before bucketing: batch plus console."""
    provider = LoggerProvider(resource=_resource())
    provider.add_log_record_processor(BatchLogRecordProcessor(_console_exporter()))

    return provider


def build_bucketing_provider() -> LoggerProvider:
    """Build a provider with the BucketingProcessor registered first."""
    provider = LoggerProvider(resource=_resource())
    provider.add_log_record_processor(BucketingProcessor(placements=PLACEMENTS))
    provider.add_log_record_processor(BatchLogRecordProcessor(_console_exporter()))

    return provider


def _resource() -> Resource:
    return Resource.create({"service.name": "churn-service"})


def _console_exporter() -> ConsoleLogRecordExporter:
    # One compact JSON object per line instead of the default indented JSON.
    return ConsoleLogRecordExporter(
        out=sys.stdout,
        formatter=lambda record: record.to_json(indent=None) + os.linesep,
    )


def score(features: dict[str, float]) -> float:
    """Return a churn probability from a fixed linear score, in place of a model."""
    value = 0.2 + 0.05 * features["support_tickets"] - 0.01 * features["tenure_months"]

    return min(max(value, 0.0), 1.0)


def handle_requests(logger: logging.Logger) -> None:
    """Serve three requests, then fail a fourth, logging each with the helpers."""
    requests = [
        {"tenure_months": 12.0, "support_tickets": 3.0},
        {"tenure_months": 2.0, "support_tickets": 9.0},
        {"tenure_months": 30.0},
    ]
    observed = [0.24, 0.30, None]
    for features, outcome in zip(requests, observed, strict=True):
        if "support_tickets" not in features:
            log_validation_failure(
                logger,
                model_name=MODEL_NAME,
                model_version="v3",
                reason="missing",
                feature_name="support_tickets",
                feature_type="numerical",
            )
            continue

        prediction = round(score(features), 4)
        log_prediction(
            logger,
            model_name=MODEL_NAME,
            model_version="v3",
            latency_ms=12.5,
            confidence=0.82,
            expected=outcome,
            actual=prediction,
        )

    log_prediction_error(
        logger,
        TimeoutError("feature store lookup timed out after 200 ms"),
        model_name=MODEL_NAME,
        model_version="v3",
        infrastructure=True,
    )


def main(argv: list[str] | None = None) -> int:
    """Build the pipeline in the chosen mode, serve requests and flush."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=MODES, default="provider")
    args = parser.parse_args(argv)

    if args.mode == "provider":
        provider = build_bucketing_provider()
    else:
        provider = build_exporting_provider()
        otel_mlbucket.add_to_provider(
            provider, BucketingProcessor(placements=PLACEMENTS)
        )

    logger = logging.getLogger("churn_service")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(LoggingHandler(logger_provider=provider))

    handle_requests(logger)
    provider.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
