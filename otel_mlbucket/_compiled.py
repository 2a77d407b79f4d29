"""Generation of a processor's per-record function from its spec.

A generic loop over dimension objects costs a Python call per dimension and per
helper. The processor instead runs one function generated for its spec, which
inlines the float fast paths of range and drift dimensions and the memo and
resource look-ups, the way `dataclasses` generates `__init__`. Any value off the
fast path goes to the dimension's own `bucket_of`, so both paths give the same
buckets; tests compare them.
"""

from __future__ import annotations

import bisect
import sys
from collections.abc import Callable
from typing import Any

from opentelemetry._logs import SeverityNumber
from opentelemetry.attributes import BoundedAttributes

from otel_mlbucket import _dimensions as dims

_FLOAT_MAX = sys.float_info.max


def compile_on_emit(processor: Any, fast_attributes: bool) -> Callable[[Any], None]:
    """Return `on_emit(log_record)` for a BucketingProcessor, specialised to its spec.

    The function counts the record as bucketed, or calls the processor's
    `_bucketing_failed(exc)` for any exception, so it never raises.

    Args:
        processor: The processor; its spec, memo and helper methods are bound in.
        fast_attributes: The SDK's BoundedAttributes has the internals the fast
            path reads.
    """
    namespace: dict[str, Any] = {
        "BoundedAttributes": BoundedAttributes,
        "FAST_ATTRIBUTES": fast_attributes,
        "EMPTY": {},
        "FLOAT_MAX": _FLOAT_MAX,
        "bisect_right": bisect.bisect_right,
        "SEVERITY_NUMBER": SeverityNumber,
        "SEVERITY_KEY": processor._severity_key,
        "MEMO_GET": processor._memo.get,
        "TYPES_OF": processor._types_of,
        "EVALUATE": processor._evaluate,
        "WRITE": processor._write_attributes,
        "RESOURCE_FOR": processor._resource_for,
        "COUNT_BUCKETED": processor._count_bucketed,
        "FAILED": processor._bucketing_failed,
    }
    lines = [
        "def bucket(log_record):",
        "    record = log_record.log_record",
        "    attributes = record.attributes",
        "    if attributes.__class__ is BoundedAttributes and FAST_ATTRIBUTES:",
        "        values = attributes._dict",
        "    else:",
        "        values = attributes if attributes is not None else EMPTY",
        "    get = values.get",
    ]
    names = []
    for index, dimension in enumerate(processor._direct_dimensions):
        names.append(f"d{index}")
        lines.extend(_direct_lines(index, dimension, namespace))

    direct = "(" + "".join(f"{name}, " for name in names) + ")"
    for index, source in enumerate(processor._key_sources):
        namespace[f"K{index}"] = source
    raw = (
        "(" + "".join(f"get(K{i}), " for i in range(len(processor._key_sources))) + ")"
    )
    lines.extend(
        [
            "    severity = record.severity_number",
            "    if severity.__class__ is SEVERITY_NUMBER:",
            "        severity = severity._value_",
            "    elif severity is not None and severity.__class__ is not int:",
            "        severity = SEVERITY_KEY(severity)",
            f"    direct = {direct}",
            f"    key = ({raw}, severity, record.event_name, direct)",
            "    try:",
            "        cached = MEMO_GET(key)",
            "    except Exception:",
            "        cached = None",
            "    if cached is not None and (cached[0] is None or cached[0] == TYPES_OF(key)):",
            "        entry = cached[1]",
            "    else:",
            "        entry = EVALUATE(values, record, direct, key)",
            "    record_attributes, resource_values, resources = entry",
            "    if record_attributes:",
            "        WRITE(record, attributes, record_attributes)",
            "    if resource_values:",
            "        base = log_record.resource",
            "        known = resources.get(id(base))",
            "        if known is not None and known[0] is base:",
            "            log_record.resource = known[1]",
            "        else:",
            "            resource = RESOURCE_FOR(base, resource_values)",
            "            resources[id(base)] = (base, resource)",
            "            log_record.resource = resource",
        ]
    )
    lines.extend(
        [
            "def on_emit(log_record):",
            "    try:",
            "        bucket(log_record)",
            "    except Exception as exc:",
            "        FAILED(exc)",
            "    else:",
            "        COUNT_BUCKETED()",
        ]
    )
    exec("\n".join(lines), namespace)
    return namespace["on_emit"]


def _direct_lines(index: int, dimension: Any, namespace: dict[str, Any]) -> list[str]:
    """Return the source lines that compute direct dimension `index` into d<index>."""
    prefix = f"D{index}_"
    if isinstance(dimension, dims.RangeDimension):
        namespace.update(
            {
                f"{prefix}SOURCE": dimension.source,
                f"{prefix}BOUNDS": dimension.boundaries,
                f"{prefix}BUCKETS": dimension.buckets,
                f"{prefix}LOW": dimension.min_value
                if dimension.min_value is not None
                else -_FLOAT_MAX,
                f"{prefix}HIGH": dimension.max_value
                if dimension.max_value is not None
                else _FLOAT_MAX,
                f"{prefix}SLOW": dimension.bucket_of,
            }
        )
        # The chained comparison is False for NaN and the infinities, which the
        # slow path counts as invalid.
        return [
            f"    value = get({prefix}SOURCE)",
            f"    if value.__class__ is float and {prefix}LOW <= value <= {prefix}HIGH:",
            f"        d{index} = {prefix}BUCKETS[bisect_right({prefix}BOUNDS, value)]",
            "    else:",
            f"        d{index} = {prefix}SLOW(value)",
        ]

    if isinstance(dimension, dims.DriftDimension):
        namespace.update(
            {
                f"{prefix}EXPECTED": dimension.expected_source,
                f"{prefix}ACTUAL": dimension.actual_source,
                f"{prefix}BOUNDS": dimension.boundaries,
                f"{prefix}BUCKETS": dimension.buckets,
                f"{prefix}EPSILON": dimension.epsilon,
                f"{prefix}SLOW": dimension.bucket_of,
            }
        )
        scale = (
            f"        difference /= max(abs(expected), {prefix}EPSILON)"
            if dimension.measure == "relative"
            else "        pass"
        )
        return [
            f"    expected = get({prefix}EXPECTED)",
            f"    actual = get({prefix}ACTUAL)",
            "    if expected.__class__ is float and actual.__class__ is float:",
            "        difference = abs(actual - expected)",
            scale,
            "    else:",
            "        difference = None",
            "    if difference is not None and difference <= FLOAT_MAX:",
            f"        d{index} = {prefix}BUCKETS[bisect_right({prefix}BOUNDS, difference)]",
            "    else:",
            f"        d{index} = {prefix}SLOW(expected, actual)",
        ]

    namespace[f"{prefix}FAST"] = dimension.fast_bucket()
    return [f"    d{index} = {prefix}FAST(values, record)"]
