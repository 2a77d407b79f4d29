"""Bucket dimensions: each maps values read from one log record to bucket strings.

A dimension's `compute(attributes, log_record, buckets)` reads the record's attribute
dict and API log record, writes its outputs into `buckets` (output name to bucket
value) and never raises for any attribute value. Instances are built by
`otel_mlbucket._spec` from a validated spec and are safe to share between threads.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
import threading
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from otel_mlbucket._stats import BucketStats
from otel_mlbucket._values import INVALID, MISSING, to_float, to_text

EVENT_NAME = "event.name"
_NANOS_PER_SECOND = 1_000_000_000
_CACHE_SLOT_NANOS = 900 * _NANOS_PER_SECOND
_MAX_TIME_CACHE = 4096


def read_attribute(attributes: Mapping[str, Any], log_record: Any, name: str) -> Any:
    """Return attribute `name` of a record, reading `event.name` from the record too."""
    value = attributes.get(name)
    if value is None and name == EVENT_NAME:
        return getattr(log_record, "event_name", None)

    return value


class Dimension:
    """Base of all dimensions.

    Attributes:
        name: The dimension name, also the output name of single-output dimensions.
        placement: Where the dimension travels: "resource", "record" or "store".
        outputs: Names of the bucket values the dimension writes.
        depends_on: Names of dimensions whose outputs this one reads.
    """

    outputs: tuple[str, ...]
    depends_on: tuple[str, ...] = ()
    direct = False
    """True when the inputs are continuous, so results are not worth memoizing."""

    def __init__(
        self, name: str, placement: str, invalid_bucket: str, stats: BucketStats
    ):
        self.name = name
        self.placement = placement
        self.invalid_bucket = invalid_bucket
        self.outputs = (name,)
        self._stats = stats

    def compute(
        self, attributes: Mapping[str, Any], log_record: Any, buckets: dict[str, str]
    ) -> None:
        raise NotImplementedError

    def bucket_values(self) -> dict[str, tuple[str, ...] | None]:
        """Return each output's closed set of bucket values, or None when open."""
        return {output: None for output in self.outputs}

    def key_sources(self) -> tuple[str, ...]:
        """Return the attributes whose values decide the buckets of a memoized dimension."""
        return ()

    def _invalid(self) -> str:
        self._stats.count_unbucketable(self.name)
        return self.invalid_bucket


class TimeDimension(Dimension):
    """Hour, day and ISO week of the record's timestamp in one time zone."""

    direct = True

    _FORMATS: Mapping[str, Callable[[dt.datetime], str]] = {
        "hour": lambda moment: moment.strftime("%Y-%m-%dT%H"),
        "day": lambda moment: moment.strftime("%Y-%m-%d"),
        "week": lambda moment: "%04d-W%02d" % moment.isocalendar()[:2],
    }

    def __init__(
        self, name, placement, invalid_bucket, stats, *, granularities, timezone
    ):
        super().__init__(name, placement, invalid_bucket, stats)
        self.granularities = tuple(granularities)
        self.outputs = self.granularities
        self.timezone = timezone
        self._zone = (
            dt.timezone.utc if timezone == "UTC" else zoneinfo.ZoneInfo(timezone)
        )
        self._cache: dict[int, tuple[str, ...]] = {}

    def compute(self, attributes, log_record, buckets):
        nanos = log_record.timestamp or log_record.observed_timestamp
        labels = self.labels_for(nanos)
        for output, label in zip(self.granularities, labels):
            buckets[output] = label

    def labels_for(self, nanos: Any) -> tuple[str, ...]:
        """Return the bucket labels, one per granularity, of a Unix time in ns."""
        if not isinstance(nanos, int) or isinstance(nanos, bool) or nanos <= 0:
            return (self._invalid(),) * len(self.granularities)

        # Offsets of current time zones are whole multiples of 15 minutes, so every
        # instant in one 15-minute UTC slot has the same local hour, day and week.
        slot = nanos // _CACHE_SLOT_NANOS
        labels = self._cache.get(slot)
        if labels is None:
            labels = self._format(slot * _CACHE_SLOT_NANOS)
            if labels is None:
                return (self._invalid(),) * len(self.granularities)
            if len(self._cache) >= _MAX_TIME_CACHE:
                self._cache.clear()
            self._cache[slot] = labels

        return labels

    def _format(self, nanos: int) -> tuple[str, ...] | None:
        try:
            moment = dt.datetime.fromtimestamp(nanos / _NANOS_PER_SECOND, self._zone)
        except (OverflowError, OSError, ValueError):
            return None

        return tuple(self._FORMATS[grain](moment) for grain in self.granularities)


class PassthroughDimension(Dimension):
    """An attribute's own value, with a cap on the number of distinct values."""

    def __init__(
        self,
        name,
        placement,
        invalid_bucket,
        stats,
        *,
        source,
        max_distinct,
        max_length,
        overflow_bucket,
        missing_bucket,
    ):
        super().__init__(name, placement, invalid_bucket, stats)
        self.source = source
        self.max_distinct = max_distinct
        self.max_length = max_length
        self.overflow_bucket = overflow_bucket
        self.missing_bucket = missing_bucket
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def compute(self, attributes, log_record, buckets):
        buckets[self.name] = self.bucket_of(attributes.get(self.source))

    def key_sources(self):
        return (self.source,)

    def bucket_of(self, value: Any) -> str:
        """Return the bucket of one raw attribute value."""
        if value.__class__ is str and value in self._seen:
            return value

        text = to_text(value, self.max_length)
        if text is MISSING:
            return self.missing_bucket
        if text is INVALID:
            return self._invalid()
        if text in self._seen:
            return text

        return self._admit(text)

    def _admit(self, text: str) -> str:
        with self._lock:
            if text in self._seen:
                return text
            if len(self._seen) < self.max_distinct:
                self._seen.add(text)
                return text

        self._stats.count_overflowed(self.name)
        return self.overflow_bucket

    def reset(self) -> None:
        """Forget the admitted values."""
        with self._lock:
            self._seen.clear()


class RangeDimension(Dimension):
    """A number mapped to lower-inclusive ranges between boundaries."""

    direct = True

    def __init__(
        self,
        name,
        placement,
        invalid_bucket,
        stats,
        *,
        source,
        boundaries,
        buckets,
        missing_bucket,
        min_value=None,
        max_value=None,
    ):
        super().__init__(name, placement, invalid_bucket, stats)
        self.source = source
        self.boundaries = tuple(float(b) for b in boundaries)
        self.buckets = tuple(buckets)
        self.missing_bucket = missing_bucket
        self.min_value = min_value
        self.max_value = max_value

    def compute(self, attributes, log_record, buckets):
        buckets[self.name] = self.bucket_of(attributes.get(self.source))

    def bucket_of(self, value: Any) -> str:
        """Return the range bucket of one raw value; boundary values go up."""
        if value.__class__ is not float:
            value = to_float(value)
            if value is MISSING:
                return self.missing_bucket
            if value is INVALID:
                return self._invalid()
        elif value != value or value in (float("inf"), float("-inf")):
            return self._invalid()

        if self.min_value is not None and value < self.min_value:
            return self._invalid()
        if self.max_value is not None and value > self.max_value:
            return self._invalid()

        return self.buckets[bisect.bisect_right(self.boundaries, value)]

    def bucket_values(self):
        return {self.name: (*self.buckets, self.missing_bucket, self.invalid_bucket)}


class DriftDimension(Dimension):
    """Difference between expected and actual output, mapped to tolerance buckets."""

    direct = True

    def __init__(
        self,
        name,
        placement,
        invalid_bucket,
        stats,
        *,
        expected_source,
        actual_source,
        measure,
        epsilon,
        boundaries,
        buckets,
        missing_bucket,
    ):
        super().__init__(name, placement, invalid_bucket, stats)
        self.expected_source = expected_source
        self.actual_source = actual_source
        self.measure = measure
        self.epsilon = float(epsilon)
        self.boundaries = tuple(float(b) for b in boundaries)
        self.buckets = tuple(buckets)
        self.missing_bucket = missing_bucket

    def compute(self, attributes, log_record, buckets):
        buckets[self.name] = self.bucket_of(
            attributes.get(self.expected_source), attributes.get(self.actual_source)
        )

    def bucket_of(self, expected: Any, actual: Any) -> str:
        """Return the drift bucket of one expected and actual output."""
        if expected is None or actual is None:
            return self.missing_bucket

        difference = drift_of(expected, actual, self.measure, self.epsilon)
        if difference is None:
            return self._invalid()

        return self.buckets[bisect.bisect_right(self.boundaries, difference)]

    def bucket_values(self):
        return {self.name: (*self.buckets, self.missing_bucket, self.invalid_bucket)}


def drift_of(expected: Any, actual: Any, measure: str, epsilon: float) -> float | None:
    """Return the absolute or relative difference, or None when not computable."""
    expected = to_float(expected)
    actual = to_float(actual)
    if expected.__class__ is not float or actual.__class__ is not float:
        return None

    difference = abs(actual - expected)
    if measure == "relative":
        difference /= max(abs(expected), epsilon)

    return difference if difference != float("inf") else None


class SeverityDimension(Dimension):
    """OpenTelemetry severity number mapped to named ranges."""

    def __init__(
        self, name, placement, invalid_bucket, stats, *, starts, missing_bucket
    ):
        super().__init__(name, placement, invalid_bucket, stats)
        ordered = sorted(starts.items(), key=lambda item: item[1])
        self.labels = tuple(label for label, _ in ordered)
        self.starts = tuple(start for _, start in ordered)
        self.missing_bucket = missing_bucket
        self._by_number = {n: self._label_of(n) for n in range(1, 25)}

    def _label_of(self, number: int) -> str:
        index = bisect.bisect_right(self.starts, number) - 1
        return self.labels[index] if index >= 0 else self.invalid_bucket

    def compute(self, attributes, log_record, buckets):
        buckets[self.name] = self.bucket_of(log_record.severity_number)

    def bucket_of(self, severity_number: Any) -> str:
        """Return the bucket of a severity number (an int or SeverityNumber)."""
        if severity_number is None:
            return self.missing_bucket

        number = getattr(severity_number, "value", severity_number)
        label = self._by_number.get(number) if isinstance(number, int) else None
        if label is None:
            return self.missing_bucket if number == 0 else self._invalid()

        return label

    def bucket_values(self):
        return {self.name: (*self.labels, self.missing_bucket, self.invalid_bucket)}


_CATEGORICAL_NAMES = frozenset({"categorical", "category", "nominal", "ordinal", "cat"})
_NUMERICAL_NAMES = frozenset({"numerical", "numeric", "number", "continuous", "num"})


class FeatureTypeDimension(Dimension):
    """Feature type from an explicit type, a feature schema, or the value's type."""

    VALUES = ("categorical", "numerical")

    def __init__(
        self,
        name,
        placement,
        invalid_bucket,
        stats,
        *,
        type_source,
        name_source,
        value_source,
        schema,
        missing_bucket,
    ):
        super().__init__(name, placement, invalid_bucket, stats)
        self.type_source = type_source
        self.name_source = name_source
        self.value_source = value_source
        self.schema = dict(schema)
        self.missing_bucket = missing_bucket

    def key_sources(self):
        return (self.type_source, self.name_source)

    def compute(self, attributes, log_record, buckets):
        buckets[self.name] = self.bucket_of(
            attributes.get(self.type_source),
            attributes.get(self.name_source),
            attributes.get(self.value_source),
        )

    def bucket_of(self, declared: Any, feature_name: Any, value: Any) -> str:
        """Return the feature type of one record."""
        if declared is not None:
            return self._from_declared(declared)

        if feature_name is not None and feature_name.__class__ is str:
            known = self.schema.get(feature_name)
            if known is not None:
                return known

        if value is None:
            return self.missing_bucket
        if isinstance(value, (str, bool)):
            return "categorical"
        if to_float(value).__class__ is float:
            return "numerical"

        return self._invalid()

    def _from_declared(self, declared: Any) -> str:
        text = to_text(declared, 32)
        if text.__class__ is not str:
            return self._invalid()

        lowered = text.lower()
        if lowered in _CATEGORICAL_NAMES:
            return "categorical"
        if lowered in _NUMERICAL_NAMES:
            return "numerical"

        return self._invalid()

    def bucket_values(self):
        return {self.name: (*self.VALUES, self.missing_bucket, self.invalid_bucket)}


_PASSED = frozenset({"passed", "pass", "ok", "valid", "success", "true"})
_FAILED = frozenset({"failed", "fail", "error", "invalid", "failure", "false"})


class ValidationDimension(Dimension):
    """Validation outcome (passed, failed, not_validated) and the failure's reason."""

    OUTCOMES = ("passed", "failed", "not_validated")

    def __init__(
        self,
        name,
        placement,
        invalid_bucket,
        stats,
        *,
        status_source,
        reason_source,
        reasons,
    ):
        super().__init__(name, placement, invalid_bucket, stats)
        self.status_source = status_source
        self.reason_source = reason_source
        self.reason_output = f"{name}_reason"
        self.outputs = (name, self.reason_output)
        self.reason_buckets = tuple(reasons)
        self._reason_of = {
            code.lower(): bucket for bucket, codes in reasons.items() for code in codes
        }

    def key_sources(self):
        return (self.status_source, self.reason_source)

    def compute(self, attributes, log_record, buckets):
        outcome, reason = self.bucket_of(
            attributes.get(self.status_source), attributes.get(self.reason_source)
        )
        buckets[self.name] = outcome
        buckets[self.reason_output] = reason

    def bucket_of(self, status: Any, reason: Any) -> tuple[str, str]:
        """Return the (outcome, reason) buckets of one record."""
        outcome = self._outcome_of(status, reason)
        if outcome != "failed":
            return outcome, "none"

        return outcome, self._reason_bucket(reason)

    def _outcome_of(self, status: Any, reason: Any) -> str:
        if status is None:
            return "not_validated" if reason is None else "failed"
        if status is True:
            return "passed"
        if status is False:
            return "failed"

        text = to_text(status, 32)
        if text.__class__ is str:
            lowered = text.lower()
            if lowered in _PASSED:
                return "passed"
            if lowered in _FAILED:
                return "failed"

        return self._invalid()

    def _reason_bucket(self, reason: Any) -> str:
        text = to_text(reason, 64)
        if text.__class__ is not str:
            return "other"

        return self._reason_of.get(text.lower(), "other")

    def bucket_values(self):
        return {
            self.name: (*self.OUTCOMES, self.invalid_bucket),
            self.reason_output: ("none", *self.reason_buckets, "other"),
        }


Condition = Callable[[Mapping[str, Any], Any, Mapping[str, str]], bool]


class RuleDimension(Dimension):
    """First matching rule wins; no match gives the default bucket."""

    def __init__(
        self,
        name,
        placement,
        invalid_bucket,
        stats,
        *,
        rules: Sequence[tuple[str, Condition]],
        default: str,
        depends_on: Sequence[str],
        attribute_sources: Sequence[str],
    ):
        super().__init__(name, placement, invalid_bucket, stats)
        self.rules = tuple(rules)
        self.default = default
        self.depends_on = tuple(depends_on)
        self.attribute_sources = tuple(attribute_sources)

    def key_sources(self):
        return self.attribute_sources

    def compute(self, attributes, log_record, buckets):
        for bucket, condition in self.rules:
            if condition(attributes, log_record, buckets):
                buckets[self.name] = bucket
                return

        buckets[self.name] = self.default

    def bucket_values(self):
        values = dict.fromkeys(bucket for bucket, _ in self.rules)
        values[self.default] = None
        return {self.name: tuple(values)}


def build_condition(
    source_kind: str, source: str, operator: str, operand: Any
) -> Condition:
    """Return a condition over one attribute or one computed dimension output."""
    test = _build_test(operator, operand)
    if source_kind == "dimension":
        return lambda attributes, log_record, buckets: test(buckets.get(source))

    def over_attribute(attributes, log_record, buckets):
        return test(read_attribute(attributes, log_record, source))

    return over_attribute


def _build_test(operator: str, operand: Any) -> Callable[[Any], bool]:
    if operator == "exists":
        return (lambda value: value is not None) if operand else (lambda v: v is None)

    if operator == "equals":
        expected = str(operand)
        return lambda value: value is not None and _as_text(value) == expected

    if operator == "in":
        choices = frozenset(str(item) for item in operand)
        return lambda value: value is not None and _as_text(value) in choices

    pattern = re.compile(operand)
    return lambda value: (
        value is not None and pattern.search(_as_text(value)) is not None
    )


def _as_text(value: Any) -> str:
    if value.__class__ is str:
        return value

    text = to_text(value, 256)
    return text if text.__class__ is str else ""
