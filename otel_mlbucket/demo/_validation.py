"""Input validation of the demo's model service.

A request carries its column names and values, as a row of a CSV or JSON payload
does. The model reads a positional array, so the columns must arrive complete and in
training order: a reordered header is rejected rather than silently realigned,
because realigning would hide the upstream schema change that caused it.

The reason codes are raw codes that the default bucket spec maps to the reason
buckets: "missing" to missing; "non_finite", "out_of_range" and "invalid_value" to
corrupted; "wrong_shape", "extra_feature", "column_order" and "schema_mismatch" to
misaligned.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from otel_mlbucket.demo._model import CATEGORICAL_FEATURES, FEATURES

# Plausible ranges in the dataset's raw units (years, kg/m2, mm Hg, mg/dL, log of
# mg/dL for s5). They are wider than the dataset's own ranges, so drifted but
# physically possible values pass.
NUMERIC_RANGES: dict[str, tuple[float, float]] = {
    "age": (0.0, 120.0),
    "bmi": (10.0, 70.0),
    "bp": (40.0, 250.0),
    "s1": (50.0, 500.0),
    "s2": (10.0, 400.0),
    "s3": (5.0, 200.0),
    "s4": (0.5, 20.0),
    "s5": (2.0, 8.0),
    "s6": (30.0, 400.0),
}
CATEGORIES: dict[str, frozenset[float]] = {"sex": frozenset({1.0, 2.0})}


def _column_rule(name: str) -> tuple[float, float, frozenset[float] | None]:
    categories = CATEGORIES.get(name)
    if categories is None:
        return (*NUMERIC_RANGES[name], None)

    return min(categories), max(categories), categories


# Per column in FEATURES order: the accepted range and, for a categorical feature,
# its categories. The range of a categorical feature spans its categories.
_COLUMN_RULES = tuple(_column_rule(name) for name in FEATURES)


@dataclass(frozen=True)
class ValidationFailure:
    """The reason a request was rejected.

    Attributes:
        reason: The raw reason code, such as "missing" or "column_order".
        message: A sentence naming the feature and the value.
        feature_name: The failing feature, or None for whole-row failures.
        feature_type: "categorical" or "numerical", or None with no feature.
    """

    reason: str
    message: str
    feature_name: str | None = None
    feature_type: str | None = None


def feature_type_of(name: str) -> str:
    """Return "categorical" or "numerical" for a feature name."""
    return "categorical" if name in CATEGORICAL_FEATURES else "numerical"


def validate(columns: Sequence[str], values: Sequence[Any]) -> ValidationFailure | None:
    """Check one request's columns and values, returning the first failure or None.

    Args:
        columns: The column names the request sent, in its order.
        values: The values, one per column.

    Returns:
        None for a valid request, otherwise the failure.
    """
    failure = _check_columns(columns, values)
    if failure is not None:
        return failure

    for name, value, (low, high, allowed) in zip(
        FEATURES, values, _COLUMN_RULES, strict=True
    ):
        # A float in range passes without the detailed checks; NaN and infinities
        # fail the range comparison and take the detailed path.
        if (
            value.__class__ is float
            and low <= value <= high
            and (allowed is None or value in allowed)
        ):
            continue
        failure = _check_value(name, value)
        if failure is not None:
            return failure

    return None


def _check_columns(
    columns: Sequence[str], values: Sequence[Any]
) -> ValidationFailure | None:
    if len(columns) != len(values):
        return ValidationFailure(
            "wrong_shape",
            f"the request has {len(columns)} column names but {len(values)} values",
        )

    if tuple(columns) == FEATURES:
        return None

    sent = set(columns)
    absent = [name for name in FEATURES if name not in sent]
    if absent:
        return _feature_failure("missing", absent[0], "is missing from the request")

    extra = [name for name in columns if name not in FEATURES]
    if extra or len(columns) != len(FEATURES):
        shown = extra[0] if extra else "a repeated column"
        return ValidationFailure(
            "extra_feature", f"the request has an unexpected column: {shown}"
        )

    return ValidationFailure(
        "column_order",
        f"the columns arrived as {', '.join(columns)}; expected {', '.join(FEATURES)}",
    )


def _check_value(name: str, value: Any) -> ValidationFailure | None:
    if value is None:
        return _feature_failure("missing", name, "has no value")

    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _feature_failure(
            "schema_mismatch",
            name,
            f"is {type(value).__name__} {value!r}, not a number",
        )

    if not math.isfinite(value):
        return _feature_failure("non_finite", name, f"is {value}")

    allowed = CATEGORIES.get(name)
    if allowed is not None:
        if value in allowed:
            return None
        choices = ", ".join(f"{category:g}" for category in sorted(allowed))
        return _feature_failure(
            "invalid_value", name, f"is {value!r}, not one of {choices}"
        )

    low, high = NUMERIC_RANGES[name]
    if low <= value <= high:
        return None

    return _feature_failure(
        "out_of_range", name, f"is {value:g}, outside [{low:g}, {high:g}]"
    )


def _feature_failure(reason: str, name: str, problem: str) -> ValidationFailure:
    return ValidationFailure(
        reason, f"feature {name} {problem}", name, feature_type_of(name)
    )
