"""Coercion of arbitrary attribute values into bucketable numbers and strings.

Every function here returns a sentinel instead of raising, because it runs inside
`on_emit` of every instrumented process.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

MISSING: Final = object()
"""The attribute is absent or None."""

INVALID: Final = object()
"""The attribute is present but has no bucketable value."""

_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def to_float(value: Any) -> Any:
    """Convert a value to a finite float, or return MISSING or INVALID.

    Accepts int, float, bool-free numeric scalars (numpy included, through
    `__float__`) and numeric strings. NaN, infinities, bools, bytes and containers
    are INVALID.
    """
    if value is None:
        return MISSING

    if isinstance(value, float):
        return value if math.isfinite(value) else INVALID

    if isinstance(value, bool):
        return INVALID

    if isinstance(value, int):
        return float(value)

    if isinstance(value, str):
        return _parse_float(value)

    if isinstance(value, (bytes, bytearray, dict, list, tuple, set)):
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
    except (TypeError, ValueError, OverflowError):
        return INVALID
    except Exception:  # noqa: BLE001 - a foreign __float__ may raise anything
        return INVALID

    return number if math.isfinite(number) else INVALID


def to_text(value: Any, max_length: int) -> Any:
    """Convert a value to a clean UTF-8 string of at most max_length characters.

    Returns MISSING for None and the empty string, INVALID for containers and for
    values whose `str()` raises. Bytes are decoded as UTF-8 with replacement, and
    strings that cannot be encoded as UTF-8 (lone surrogates) are repaired, since the
    OTLP encoder rejects them and would fail the whole batch.
    """
    if value is None:
        return MISSING

    if isinstance(value, str):
        text = value
    elif isinstance(value, (bytes, bytearray)):
        text = bytes(value[: max_length * 4]).decode("utf-8", "replace")
    elif isinstance(value, (dict, list, tuple, set)):
        return INVALID
    else:
        text = _str_of_scalar(value)
        if text is INVALID:
            return INVALID

    if not text:
        return MISSING

    if len(text) > max_length:
        text = text[:max_length]

    return text if text.isascii() else repair_utf8(text)


def _str_of_scalar(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"

    if isinstance(value, float) and not math.isfinite(value):
        return INVALID

    try:
        return str(value)
    except Exception:  # noqa: BLE001 - a foreign __str__ may raise anything
        return INVALID


def repair_utf8(text: str) -> str:
    """Return text with characters that UTF-8 cannot encode replaced by U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)

    return text
