"""The bucketing `LogRecordProcessor`."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry._logs import SeverityNumber
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk.resources import Resource

from otel_mlbucket._compiled import compile_on_emit
from otel_mlbucket._spec import BucketSpec
from otel_mlbucket._stats import StatsSnapshot

_logger = logging.getLogger(__name__)

SPEC_ENV = "OTEL_MLBUCKET_SPEC"
_MAX_RESOURCES = 4096
_MAX_MEMO = 65536
_MAX_MEMO_KEY_CHARS = 1024
_WARNING_INTERVAL_SECONDS = 60.0
_MEMO_KEY_TYPES = frozenset({str, int, float, bool, type(None)})
_UNTYPED_KEY_TYPES = frozenset({str, type(None)})
_UNTYPED_SEVERITY_TYPES = frozenset({int, type(None)})
# Record attributes, resource bucket values, and the bucketed resource per base
# resource (by id, with the base kept to detect a reused id).
_Entry = tuple[dict[str, str], tuple[str, ...], dict[int, tuple[Any, Resource]]]
"""Memoized buckets: record attributes by name, and resource bucket values."""


def _has_bounded_attributes_internals() -> bool:
    """Return True when BoundedAttributes keeps `_dict`, `_lock` and `maxlen`.

    opentelemetry-sdk 1.39 to 1.45 do. Without them the processor falls back to the
    public mapping interface, which is slower and truncates long bucket values
    when OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT is set.
    """
    probe = BoundedAttributes(maxlen=1, immutable=False)
    return (
        isinstance(getattr(probe, "_dict", None), dict)
        and hasattr(probe, "_lock")
        and hasattr(probe, "maxlen")
    )


_FAST_ATTRIBUTES = _has_bounded_attributes_internals()


class _Quiet(threading.local):
    """Marks a thread while the processor logs a warning; the handler `configure`
    installs drops records logged on such a thread."""

    active = False


QUIET = _Quiet()


class BucketingProcessor(LogRecordProcessor):
    """Adds bucket attributes from one bucket spec to every log record.

    Register it on the LoggerProvider before any batch or simple processor. Those
    take the record's resource in their own `on_emit`, and the simple processor
    exports right there. A bucketing processor registered after them never gets its
    routing attributes to their exporter, and its record attributes reach it only if
    they win a race with the export.

    Per record it evaluates the dimensions that travel (placement "record" or
    "resource") and those they read. Dimensions with placement "store" are left for
    the store to derive. Record outputs are written as `<prefix>.<output>` attributes.
    Resource outputs replace the record's resource with a cached copy of it that also
    carries them, one cached resource per combination, so that the OTLP exporter sends
    one resource group per bucket.

    Attribute limits: bucket attributes never evict the record's own attributes and
    are never truncated. When the SDK's attribute count limit leaves room for only
    some of them, the first ones in spec order are written and the rest are counted
    in `stats().attributes_skipped`. Bucket values are short validated strings, so
    they bypass the SDK's value length limit.

    Memoization: the buckets of dimensions with discrete inputs (passthrough,
    validation, rules, severity) are memoized per combination of those inputs and
    their types. Results that counted an unbucketable or overflowed value are not
    memoized, so every occurrence is counted. Time, range, drift and feature type buckets are
    computed for every record.

    Contract: `on_emit` never raises and is safe to call from many threads at once.
    A record whose bucketing fails travels on unchanged and is counted in
    `stats().records_failed`. The processor starts no threads, and its locks are
    renewed in a forked child, so it keeps working after `os.fork()`. Its own
    warnings go to the `otel_mlbucket.processor` logger, rate-limited to one per
    minute per kind. The handler installed by `otel_mlbucket.configure` drops
    records of that logger and anything logged on a thread while such a warning is
    logged, so the processor never feeds back into the pipeline it sits in.

    Args:
        spec: The bucket spec. Defaults to the file named by OTEL_MLBUCKET_SPEC, or
            the shipped default spec.
        placements: Overrides of dimension placement, for example
            {"latency": "record"} to send the latency range on every record.
        feature_schema: Feature name to "categorical" or "numerical", merged into
            the feature_type dimension's schema.
    """

    def __init__(
        self,
        spec: BucketSpec | None = None,
        *,
        placements: Mapping[str, str] | None = None,
        feature_schema: Mapping[str, str] | None = None,
    ):
        spec = spec if spec is not None else _spec_from_environment()
        if feature_schema:
            spec = spec.with_feature_schema(feature_schema)
        if placements:
            spec = spec.with_placements(placements)

        self.spec = spec
        self._stats = spec.stats
        needed = _needed_dimensions(spec)
        self._direct_dimensions = tuple(d for d in needed if d.direct)
        self._direct = _direct_evaluator(
            tuple(d.fast_bucket() for d in self._direct_dimensions)
        )
        self._count_bucketed = spec.stats.bucketed_incrementer()
        self._severity_key = _severity_key
        self._types_of = _types_of
        self._memoized = tuple(d.compute for d in needed if not d.direct)
        self._key_sources = tuple(
            dict.fromkeys(s for d in needed if not d.direct for s in d.key_sources())
        )
        self._memo: dict[tuple[Any, ...], tuple[tuple[type, ...] | None, _Entry]] = {}
        self._record_attributes = tuple(
            (output, spec.attribute_name(output)) for output in spec.outputs("record")
        )
        self._resource_attributes = tuple(
            (output, spec.attribute_name(output)) for output in spec.outputs("resource")
        )
        self._resources: dict[
            tuple[int, tuple[str, ...]], tuple[Resource, Resource]
        ] = {}
        self._warned_at: dict[str, float] = {}
        if type(self).on_emit is BucketingProcessor.on_emit and (
            type(self)._bucket is BucketingProcessor._bucket
        ):
            # One function generated for this spec; `on_emit` and `_bucket` below
            # are the same logic written out, used by subclasses and as the tests'
            # reference.
            self.on_emit = compile_on_emit(self, _FAST_ATTRIBUTES)  # type: ignore[method-assign, assignment]

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        """Add bucket attributes to one record. Never raises."""
        try:
            self._bucket(log_record)
        except Exception as exc:  # noqa: BLE001 - on_emit must never raise
            self._bucketing_failed(exc)
        else:
            self._count_bucketed()

    def _bucketing_failed(self, exc: Exception) -> None:
        self._stats.count_failed()
        self._warn(
            "failed",
            "Bucketing a log record failed; the record travels on unbucketed: %r",
            exc,
        )

    def _bucket(self, log_record: ReadWriteLogRecord) -> None:
        record = log_record.log_record
        attributes = record.attributes
        values: Mapping[str, Any]
        if attributes.__class__ is BoundedAttributes and _FAST_ATTRIBUTES:
            values = attributes._dict
        else:
            values = attributes if attributes is not None else {}

        direct = self._direct(values, record)
        key = (
            tuple(map(values.get, self._key_sources)),
            _severity_key(record.severity_number),
            record.event_name,
            direct,
        )

        entry = self._memoized_entry(key)
        if entry is None:
            entry = self._evaluate(values, record, direct, key)

        record_attributes, resource_values, resources = entry
        if record_attributes:
            self._write_attributes(record, attributes, record_attributes)
        if resource_values:
            base = log_record.resource
            cached = resources.get(id(base))
            if cached is not None and cached[0] is base:
                log_record.resource = cached[1]
            else:
                resource = self._resource_for(base, resource_values)
                resources[id(base)] = (base, resource)
                log_record.resource = resource

    def _memoized_entry(self, key: tuple[Any, ...]) -> _Entry | None:
        """Return the memoized buckets of a key, or None to evaluate the record.

        1, 1.0 and True are equal and hash alike in Python but bucket differently,
        so an entry stored for a key with numbers or booleans also stores the types
        and matches only a key with the same types. Entries of keys with only
        strings, None and SeverityNumber members skip that check, because no value
        of another built-in type is equal to those.

        NOTE: an object whose `__eq__` claims equality with a stored string, such as
        `unittest.mock.ANY` or a str subclass that compares case-insensitively, can
        still hit such an entry and get that string's buckets. Checking the types on
        every hit would cost about 0.25 us per record.
        """
        try:
            cached = self._memo.get(key)
        except Exception:  # noqa: BLE001 - unhashable or uncomparable values
            return None

        if cached is None:
            return None

        types, entry = cached
        if types is not None and types != _types_of(key):
            return None
        return entry

    def _evaluate(
        self,
        values: Mapping[str, Any],
        record: Any,
        direct: tuple[Any, ...],
        key: tuple[Any, ...],
    ) -> _Entry:
        buckets: dict[str, str] = {}
        for dimension, result in zip(self._direct_dimensions, direct, strict=True):
            if len(dimension.outputs) == 1:
                buckets[dimension.name] = result
            else:
                buckets.update(zip(dimension.outputs, result, strict=True))

        events = self._stats.events
        for compute in self._memoized:
            compute(values, record, buckets)

        entry: _Entry = (
            {name: buckets[output] for output, name in self._record_attributes},
            tuple(buckets[output] for output, _ in self._resource_attributes),
            {},
        )
        # Results that counted an unbucketable or overflowed value are not memoized,
        # so that every occurrence is counted. Keys with long strings, NaN or values
        # of other types are not kept.
        if events == self._stats.events and _memoizable(key):
            if len(self._memo) >= _MAX_MEMO:
                self._memo.clear()
            self._memo.setdefault(key, (_typed_signature(key), entry))

        return entry

    def _write_attributes(
        self, record: Any, attributes: Any, new: dict[str, str]
    ) -> None:
        if not isinstance(attributes, BoundedAttributes):
            self._write_plain(record, attributes, new)
            return
        if not _FAST_ATTRIBUTES:
            self._write_public(attributes, new)
            return

        # BoundedAttributes.__setitem__ costs about 0.5 us a key (lock, value cleaning,
        # limit check). Bucket values are clean strings, so a dict update under the
        # same lock keeps the count limit and is several times cheaper. The internal
        # names (_dict, _lock, maxlen) are pinned by tests.
        store = attributes._dict
        maxlen = attributes.maxlen
        with attributes._lock:
            if maxlen is None or len(store) + len(new) <= maxlen:
                store.update(new)
                return
            self._write_limited(store, maxlen, new)

    def _write_limited(
        self, store: dict[str, Any], maxlen: int, new: dict[str, str]
    ) -> None:
        skipped = 0
        for name, value in new.items():
            if name in store or len(store) < maxlen:
                store[name] = value
            else:
                skipped += 1

        self._count_skipped(skipped, maxlen)

    def _write_public(self, attributes: BoundedAttributes, new: dict[str, str]) -> None:
        maxlen = attributes.maxlen
        skipped = 0
        for name, value in new.items():
            if maxlen is None or name in attributes or len(attributes) < maxlen:
                attributes[name] = value
            else:
                skipped += 1

        self._count_skipped(skipped, maxlen)

    def _count_skipped(self, skipped: int, maxlen: int | None) -> None:
        if not skipped:
            return

        self._stats.count_skipped(skipped)
        self._warn(
            "limit",
            "%d bucket attributes were not written because the record reached the attribute count limit of %d; raise OTEL_ATTRIBUTE_COUNT_LIMIT or move dimensions to the resource",
            skipped,
            maxlen,
        )

    def _write_plain(self, record: Any, attributes: Any, new: dict[str, str]) -> None:
        # `new` is a memoized entry shared by many records, so it is copied.
        if attributes is None:
            record.attributes = dict(new)
        elif isinstance(attributes, dict):
            attributes.update(new)
        else:
            record.attributes = {**attributes, **new}

    def _resource_for(
        self, base: Resource | None, bucket_values: tuple[str, ...]
    ) -> Resource:
        if base is None:
            base = Resource.get_empty()

        key = (id(base), bucket_values)
        cached = self._resources.get(key)
        if cached is not None and cached[0] is base:
            return cached[1]

        merged = dict(base.attributes)
        for (_, name), value in zip(
            self._resource_attributes, bucket_values, strict=True
        ):
            merged[name] = value
        resource = Resource(merged, base.schema_url)
        if len(self._resources) >= _MAX_RESOURCES:
            self._resources.clear()
        self._resources[key] = (base, resource)
        return resource

    def _warn(self, kind: str, message: str, *args: Any) -> None:
        now = time.monotonic()
        last = self._warned_at.get(kind)
        if last is not None and now - last < _WARNING_INTERVAL_SECONDS:
            return

        self._warned_at[kind] = now
        QUIET.active = True
        try:
            _logger.warning(message, *args)
        finally:
            QUIET.active = False

    def stats(self) -> StatsSnapshot:
        """Return the counts of bucketed records, unbucketable and overflowed values."""
        return self._stats.snapshot()

    def shutdown(self) -> None:
        """Do nothing, because the processor has no resources to release."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Return True; the processor buffers nothing."""
        return True


def _spec_from_environment() -> BucketSpec:
    path = os.environ.get(SPEC_ENV)
    return BucketSpec.from_file(path) if path else BucketSpec.default()


def _needed_dimensions(spec: BucketSpec) -> list[Any]:
    """Return the dimensions that travel and those they read, in evaluation order."""
    needed = {d.name for d in spec.dimensions if d.placement != "store"}
    for dimension in reversed(spec.dimensions):
        if dimension.name in needed:
            needed.update(
                spec.dimension_of(output).name for output in dimension.depends_on
            )

    return [d for d in spec.dimensions if d.name in needed]


def _severity_key(severity_number: Any) -> Any:
    """Return the memo key part of a severity number.

    SeverityNumber members become their int value, because Enum hashes in Python and
    the severity dimension buckets 9 and SeverityNumber.INFO alike. Exact ints and
    None stay. Any other type is paired with its type, so that 9.0 or True never
    equals the int 9 or 1 of another entry.
    """
    if severity_number.__class__ is SeverityNumber:
        return severity_number._value_
    if severity_number is None or severity_number.__class__ is int:
        return severity_number

    return (severity_number.__class__, severity_number)


def _types_of(key: tuple[Any, ...]) -> tuple[type, ...]:
    raw, severity_number, event_name, _ = key
    return (*map(type, raw), type(severity_number), type(event_name))


def _typed_signature(key: tuple[Any, ...]) -> tuple[type, ...] | None:
    """Return the key's types, or None when they need no check on lookup."""
    raw, severity, event_name, _ = key
    untyped = (
        _UNTYPED_KEY_TYPES.issuperset(map(type, raw))
        and type(severity) in _UNTYPED_SEVERITY_TYPES
        and type(event_name) in _UNTYPED_KEY_TYPES
    )
    return None if untyped else _types_of(key)


def _memoizable(key: tuple[Any, ...]) -> bool:
    """Return True for keys of short strings, finite numbers, None and severities."""
    if not _MEMO_KEY_TYPES.issuperset(_types_of(key)):
        return False

    total = 0
    for value in key[0]:
        if value.__class__ is str:
            total += len(value)
        elif value.__class__ is float and (value != value or value == 0.0):
            # NaN never equals itself, and -0.0 equals 0.0 but passes through
            # as different text, so neither is a usable memo key.
            return False

    return total <= _MAX_MEMO_KEY_CHARS


def _direct_evaluator(
    buckets: tuple[Callable[[Mapping[str, Any], Any], Any], ...],
) -> Callable[[Mapping[str, Any], Any], tuple[Any, ...]]:
    """Return one function that evaluates every direct dimension into a tuple."""
    if not buckets:
        return lambda values, record: ()
    if len(buckets) == 1:
        (first,) = buckets
        return lambda values, record: (first(values, record),)
    if len(buckets) == 2:
        first, second = buckets
        return lambda values, record: (first(values, record), second(values, record))

    return lambda values, record: tuple([bucket(values, record) for bucket in buckets])
