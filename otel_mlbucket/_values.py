"""Coercion of arbitrary attribute values into bucketable numbers and strings.

Every function here returns a sentinel instead of raising, because it runs inside
`on_emit` of every instrumented process.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Set
from typing import Any, Final

MISSING: Final = object()
"""The attribute is absent or None."""

INVALID: Final = object()
"""The attribute is present but has no bucketable value."""

_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_UNSAFE_IN_BUCKET: Final = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
_CONTAINERS: Final = (bytes, bytearray, list, tuple, Mapping, Set)


def is_bool(value: Any) -> bool:
    """Return True for Python and numpy booleans."""
    if isinstance(value, bool):
        return True

    cls = value.__class__
    return cls.__module__ == "numpy" and cls.__name__ in ("bool", "bool_")


def is_container(value: Any) -> bool:
    """Return True for bytes, sequences, mappings, sets and numpy arrays (ndim > 0)."""
    if isinstance(value, _CONTAINERS):
        return True

    try:
        return bool(getattr(value, "ndim", 0))
    except Exception:  # noqa: BLE001 - a foreign attribute may raise anything
        return True


def to_float(value: Any) -> Any:
    """Convert a value to a finite float, or return MISSING or INVALID.

    Accepts int, float, numeric scalars such as numpy's (through `__float__`) and
    numeric strings of at most 64 characters. NaN, infinities, ints beyond the float
    range, booleans (Python and numpy), bytes and containers are INVALID.
    """
    if value is None:
        return MISSING

    if value.__class__ is float:
        return value if math.isfinite(value) else INVALID

    if isinstance(value, bool):
        return INVALID

    if value.__class__ is int:
        try:
            return float(value)
        except OverflowError:
            return INVALID

    if isinstance(value, str):
        return _parse_float(value)

    if is_bool(value) or is_container(value):
        return INVALID

    return _float_from_scalar(value)


def _parse_float(text: str) -> Any:
    if not text or len(text) > 64:
        return INVALID if text else MISSING

    try:
        number = float(text)
    except ValueError:
        return INVALID

    return number if math.isfinite(number) else INVALID


def _float_from_scalar(value: Any) -> Any:
    try:
        number = float(value)
    except Exception:  # noqa: BLE001 - a foreign __float__ may raise anything
        return INVALID

    return number if math.isfinite(number) else INVALID


def to_text(value: Any, max_length: int) -> Any:
    """Convert a value to a clean string of at most max_length characters.

    Returns MISSING for None and the empty string, and INVALID for containers,
    non-finite numbers and values whose `str()` raises. Bytes are decoded as UTF-8
    with replacement. Control characters and lone surrogates become U+FFFD, because
    the result may become a label or a partition key and the OTLP encoder rejects
    strings that UTF-8 cannot encode.
    """
    if value is None:
        return MISSING

    if value.__class__ is str:
        text = value
    elif isinstance(value, str):
        # An exact copy, so that a subclass's __eq__ or __hash__ cannot make one
        # bucket value stand for another in the caches and labels.
        text = str.__str__(value)
    elif isinstance(value, (bytes, bytearray)):
        text = bytes(value[: max_length * 4]).decode("utf-8", "replace")
    elif is_container(value):
        return INVALID
    else:
        text = _str_of_scalar(value)
        if text is INVALID:
            return INVALID

    if not text:
        return MISSING

    if len(text) > max_length:
        text = text[:max_length]

    if text.isascii() and text.isprintable():
        return text

    return _UNSAFE_IN_BUCKET.sub("\ufffd", text)


def _str_of_scalar(value: Any) -> Any:
    if is_bool(value):
        return "true" if value else "false"

    if isinstance(value, float) and not math.isfinite(value):
        return INVALID

    try:
        text = str(value)
    except Exception:  # noqa: BLE001 - a foreign __str__ may raise anything
        return INVALID

    if text.lower() in ("nan", "-nan", "inf", "-inf", "infinity", "-infinity"):
        return INVALID

    return text


def repair_utf8(text: str) -> str:
    """Return text with characters that UTF-8 cannot encode replaced by U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)

    return text
