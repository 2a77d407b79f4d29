"""Bucket dimensions: each maps values read from one log record to bucket strings.

A dimension's `compute(attributes, log_record, buckets)` reads the record's attribute
dict and API log record, writes its outputs into `buckets` (output name to bucket
value) and never raises for any attribute value. Instances are built by
`otel_mlbucket._spec` from a validated spec and are safe to share between threads.
"""

from __future__ import annotations

import bisect
import datetime as dt
import operator
import re
import sys
import threading
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from otel_mlbucket._stats import BucketStats, renew_lock_after_fork
from otel_mlbucket._values import INVALID, MISSING, is_bool, to_float, to_text

EVENT_NAME = "event.name"
_FLOAT_MAX = sys.float_info.max
_NANOS_PER_SECOND = 1_000_000_000
_CACHE_SLOT_SECONDS = 900
_CACHE_SLOT_NANOS = _CACHE_SLOT_SECONDS * _NANOS_PER_SECOND
_MAX_TIME_CACHE = 4096
_MAX_MATCH_CHARS = 1024
"""Rules compare and search at most this many leading characters of a value."""


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

    def fast_bucket(self) -> Callable[[Mapping[str, Any], Any], Any]:
        """Return a function of (attributes, log_record) giving the bucket, or the
        tuple of the outputs' buckets when the dimension has several.

        Direct dimensions override it with a fast path; this default goes through
        `compute`.
        """
        compute, outputs = self.compute, self.outputs

        def bucket(attributes, log_record):
            buckets: dict[str, str] = {}
            compute(attributes, log_record, buckets)
            if len(outputs) == 1:
                return buckets[outputs[0]]
            return tuple(buckets[output] for output in outputs)

        return bucket

    def key_sources(self) -> tuple[str, ...]:
        """Return the attributes whose values decide the buckets of a memoized dimension."""
        return ()

    def _invalid(self) -> str:
        self._stats.count_unbucketable(self.name)
        return self.invalid_bucket


class TimeDimension(Dimension):
    """Hour, day and ISO week of the record's timestamp in one time zone.

    Labels are local wall-clock time: at a DST change back, the repeated local hour
    has one hour label that covers two UTC hours.
    """

    direct = True

    _FORMATS: Mapping[str, Callable[[dt.datetime], str]] = {
        "hour": lambda moment: moment.strftime("%Y-%m-%dT%H"),
        "day": lambda moment: moment.strftime("%Y-%m-%d"),
        "week": lambda moment: "{:04d}-W{:02d}".format(*moment.isocalendar()[:2]),
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
        for output, label in zip(self.granularities, labels, strict=True):
            buckets[output] = label

    def fast_bucket(self):
        labels_for = self.labels_for

        def bucket(attributes, log_record):
            return labels_for(log_record.timestamp or log_record.observed_timestamp)

        return bucket

    def labels_for(self, nanos: Any) -> tuple[str, ...]:
        """Return the bucket labels, one per granularity, of a Unix time in ns."""
        nanos = _positive_int(nanos)
        if nanos is None:
            return (self._invalid(),) * len(self.granularities)

        slot = nanos // _CACHE_SLOT_NANOS
        labels = self._cache.get(slot)
        if labels is not None:
            return labels

        labels = self._format(nanos // _NANOS_PER_SECOND)
        if labels is None:
            return (self._invalid(),) * len(self.granularities)
        if self._slot_is_uniform(slot):
            if len(self._cache) >= _MAX_TIME_CACHE:
                self._cache.clear()
            self._cache[slot] = labels

        return labels

    def _slot_is_uniform(self, slot: int) -> bool:
        """Return True when every instant of a 15-minute UTC slot has the same labels.

        That holds when the zone's UTC offset is the same at both ends of the slot
        and is a whole multiple of 15 minutes, as the offsets of all current zones
        are (Asia/Kathmandu is +05:45). Historical local mean time offsets, such as
        Europe/Berlin's +00:53:28 before 1893, are not, and are never cached.
        """
        if self._zone is dt.timezone.utc:
            return True

        start = slot * _CACHE_SLOT_SECONDS
        first = self._offset_seconds(start)
        last = self._offset_seconds(start + _CACHE_SLOT_SECONDS - 1)
        return first is not None and first == last and first % _CACHE_SLOT_SECONDS == 0

    def _offset_seconds(self, seconds: int) -> float | None:
        try:
            offset = dt.datetime.fromtimestamp(seconds, self._zone).utcoffset()
        except (OverflowError, OSError, ValueError):
            return None

        return offset.total_seconds() if offset is not None else None

    def _format(self, seconds: int) -> tuple[str, ...] | None:
        try:
            moment = dt.datetime.fromtimestamp(seconds, self._zone)
        except (OverflowError, OSError, ValueError):
            return None

        return tuple(self._FORMATS[grain](moment) for grain in self.granularities)


def _positive_int(value: Any) -> int | None:
    """Return a positive integer (numpy integers included), or None."""
    if value.__class__ is not int:
        if value is None or is_bool(value):
            return None
        try:
            value = operator.index(value)
        except Exception:  # noqa: BLE001 - a foreign __index__ may raise anything
            return None

    return value if value > 0 else None


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
        renew_lock_after_fork(self)

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

    def fast_bucket(self):
        source, boundaries, buckets = self.source, self.boundaries, self.buckets
        low = self.min_value if self.min_value is not None else -_FLOAT_MAX
        high = self.max_value if self.max_value is not None else _FLOAT_MAX
        slow = self.bucket_of
        bisect_right = bisect.bisect_right

        def bucket(attributes, log_record):
            value = attributes.get(source)
            # The chained comparison is False for NaN and the infinities, which
            # take the slow path and are counted there.
            if value.__class__ is float and low <= value <= high:
                return buckets[bisect_right(boundaries, value)]
            return slow(value)

        return bucket

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

    def fast_bucket(self):
        expected_source, actual_source = self.expected_source, self.actual_source
        boundaries, buckets, epsilon = self.boundaries, self.buckets, self.epsilon
        relative = self.measure == "relative"
        slow = self.bucket_of
        bisect_right = bisect.bisect_right

        def bucket(attributes, log_record):
            expected = attributes.get(expected_source)
            actual = attributes.get(actual_source)
            if expected.__class__ is float and actual.__class__ is float:
                difference = abs(actual - expected)
                if relative:
                    difference /= max(abs(expected), epsilon)
                # False for NaN and infinity, which the slow path counts as invalid.
                if difference <= _FLOAT_MAX:
                    return buckets[bisect_right(boundaries, difference)]
            return slow(expected, actual)

        return bucket

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
        if number.__class__ is not int:
            number = _integer(number)
        label = self._by_number.get(number)
        if label is None:
            return self.missing_bucket if number == 0 else self._invalid()

        return label

    def bucket_values(self):
        return {self.name: (*self.labels, self.missing_bucket, self.invalid_bucket)}


def _integer(value: Any) -> int | None:
    """Return an integer (numpy integers included) other than a boolean, or None."""
    if is_bool(value):
        return None
    try:
        return operator.index(value)
    except Exception:  # noqa: BLE001 - a foreign __index__ may raise anything
        return None


_CATEGORICAL_NAMES = frozenset({"categorical", "category", "nominal", "ordinal", "cat"})
_NUMERICAL_NAMES = frozenset({"numerical", "numeric", "number", "continuous", "num"})


class FeatureTypeDimension(Dimension):
    """Feature type from an explicit type, a feature schema, or the value's type."""

    VALUES = ("categorical", "numerical")
    direct = True
    """The bucket can depend on the type of a continuous feature value."""

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
        if isinstance(value, str) or is_bool(value):
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
        if is_bool(status):
            return "passed" if status else "failed"

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
        dimension_operands: Sequence[tuple[str, str, list[Any]]] = (),
    ):
        super().__init__(name, placement, invalid_bucket, stats)
        self.rules = tuple(rules)
        self.default = default
        self.depends_on = tuple(depends_on)
        self.attribute_sources = tuple(attribute_sources)
        self.dimension_operands = tuple(dimension_operands)
        """(spec key, output, operands) of equals and in conditions over outputs."""

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
    test = build_value_test(operator, operand)
    if source_kind == "dimension":
        return lambda attributes, log_record, buckets: test(buckets.get(source))

    def over_attribute(attributes, log_record, buckets):
        return test(read_attribute(attributes, log_record, source))

    return over_attribute


def build_value_test(operator: str, operand: Any) -> Callable[[Any], bool]:
    """Return the test of one condition operator against one value."""
    if operator == "exists":
        return (lambda value: value is not None) if operand else (lambda v: v is None)

    if operator in ("equals", "in"):
        choices = operand if operator == "in" else [operand]
        texts = frozenset(_as_text(item) for item in choices if not _is_number(item))
        numbers = frozenset(float(item) for item in choices if _is_number(item))
        return lambda value: (
            value is not None
            and (
                _as_text(value) in texts
                or (bool(numbers) and to_float(value) in numbers)
            )
        )

    pattern = re.compile(operand)
    return lambda value: (
        value is not None and pattern.search(_as_text(value)) is not None
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_text(value: Any) -> str:
    """Return the text rules compare: booleans as true/false, at most 1024 chars."""
    if value.__class__ is str and len(value) <= _MAX_MATCH_CHARS:
        return value

    text = to_text(value, _MAX_MATCH_CHARS)
    return text if text.__class__ is str else ""
