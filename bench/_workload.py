"""A deterministic mix of ML log records, shaped like a model server's traffic."""

from __future__ import annotations

import random
from typing import Any

from otel_mlbucket import attributes as attr


def ml_records(count: int, seed: int = 7) -> list[tuple[dict[str, Any], str, int]]:
    """Return (attributes, event name, severity number) for `count` records.

    About 90% predictions, 5% validation failures, 3% prediction errors and 2%
    infrastructure errors, over two model versions, with continuous latency,
    confidence and outputs, so that numeric inputs rarely repeat.
    """
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        version = "v2" if rng.random() < 0.4 else "v1"
        base = {attr.MODEL_NAME: "diabetes-progression", attr.MODEL_VERSION: version}
        draw = rng.random()
        if draw < 0.90:
            expected = rng.uniform(25, 350)
            base.update(
                {
                    attr.INFERENCE_LATENCY_MS: rng.lognormvariate(3.3, 0.6),
                    attr.PREDICTION_CONFIDENCE: rng.random(),
                    attr.PREDICTION_EXPECTED: expected,
                    attr.PREDICTION_ACTUAL: expected * rng.gauss(1.0, 0.15),
                }
            )
            rows.append((base, attr.EVENT_PREDICTION, 9))
        elif draw < 0.95:
            base.update(
                {
                    attr.VALIDATION_STATUS: "failed",
                    attr.VALIDATION_REASON: rng.choice(
                        ["missing", "out_of_range", "schema_mismatch"]
                    ),
                    attr.FEATURE_NAME: rng.choice(["age", "bmi", "bp", "sex"]),
                }
            )
            rows.append((base, attr.EVENT_VALIDATION_FAILURE, 13))
        elif draw < 0.98:
            base.update(
                {
                    attr.EXCEPTION_TYPE: "ValueError",
                    attr.EXCEPTION_MESSAGE: "bad output",
                }
            )
            rows.append((base, attr.EVENT_PREDICTION_ERROR, 17))
        else:
            base.update(
                {
                    attr.EXCEPTION_TYPE: "TimeoutError",
                    attr.EXCEPTION_MESSAGE: "feature store",
                }
            )
            rows.append((base, attr.EVENT_INFRASTRUCTURE_ERROR, 17))

    return rows
