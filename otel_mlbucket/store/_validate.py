"""Validation of `ParquetLogExporter` arguments."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa


@dataclass(frozen=True)
class Settings:
    """The validated layout arguments."""

    partition_by: tuple[str, ...]
    sort_by: tuple[str, ...]


def validated_settings(
    *,
    path: Any,
    schema: pa.Schema,
    spec_outputs: Sequence[str],
    partition_by: Any,
    sort_by: Any,
    explicit_sort: bool,
    max_buffered_rows: Any,
    max_buffer_age_millis: Any,
    row_group_rows: Any,
    compact_min_files: Any,
    compact_target_rows: Any,
    compression: Any,
    compressions: Sequence[str],
    clock: Any,
) -> Settings:
    """Return the validated layout arguments.

    Raises:
        ValueError: An argument is invalid; the message names the parameter, the
            value and the valid choices.
    """
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise ValueError(
            f"Invalid path {path!r}: it must be a non-empty str or os.PathLike "
            "naming the store directory."
        )

    partitions = _names(
        "partition_by", partition_by, spec_outputs, "a bucket output of the spec"
    )
    if explicit_sort:
        sorts = _names("sort_by", sort_by, schema.names, "a column of the store")
    else:
        sorts = tuple(name for name in sort_by if name in schema.names)

    _positive_int("max_buffered_rows", max_buffered_rows, 1)
    _positive_number("max_buffer_age_millis", max_buffer_age_millis)
    _positive_int("row_group_rows", row_group_rows, 1)
    _positive_int("compact_min_files", compact_min_files, 2)
    _positive_int("compact_target_rows", compact_target_rows, 1)
    if compression not in compressions:
        raise ValueError(
            f"Invalid compression {compression!r}: use one of "
            f"{', '.join(compressions)}."
        )
    if not callable(clock):
        raise ValueError(
            f"Invalid clock {clock!r}: it must be a callable that returns seconds, "
            "such as time.monotonic."
        )

    return Settings(partitions, sorts)


def _names(
    parameter: str, value: Any, choices: Sequence[str], kind: str
) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(
            f"Invalid {parameter} {value!r}: it must be a sequence of column names, "
            f"such as ('day', 'error_category'). Valid choices: {', '.join(choices)}."
        )

    for name in value:
        if name not in choices:
            raise ValueError(
                f"Invalid {parameter} entry {name!r}: it is not {kind}. "
                f"Valid choices: {', '.join(choices)}."
            )
    if len(set(value)) != len(value):
        raise ValueError(
            f"Invalid {parameter} {tuple(value)!r}: a name appears more than once."
        )

    return tuple(value)


def _positive_int(parameter: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"Invalid {parameter} {value!r}: it must be an integer of at least "
            f"{minimum}."
        )


def _positive_number(parameter: str, value: Any) -> None:
    valid = (
        not isinstance(value, bool) and isinstance(value, (int, float)) and value > 0
    )
    if not valid or value != value:
        raise ValueError(
            f"Invalid {parameter} {value!r}: it must be a positive number."
        )
