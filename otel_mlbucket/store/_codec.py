"""Lossless JSON encoding of OpenTelemetry attribute values.

Values that JSON represents exactly are plain JSON: None, bool, int (any size), finite
float, str, lists (tuples become lists) and dicts with string keys. Other values
become a JSON object with exactly one key, a tag that starts with "$":

    {"$bytes": "<base64>"}          bytes
    {"$float": "nan" | "inf" | "-inf"}  a non-finite float
    {"$map": {...}}                 a dict with one key that starts with "$", so that
                                    it cannot be read back as a tag
    {"$repr": "<repr>"}             a value of any other type, kept as its repr

Strings that UTF-8 cannot encode (lone surrogates) are stored with U+FFFD in their
place, because Parquet strings are UTF-8; that repair is the only change a round
trip makes besides tuples becoming lists.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from typing import Any

from otel_mlbucket._values import repair_utf8

_MAX_DEPTH = 64
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def encode_value(value: Any) -> Any:
    """Convert an attribute value into a JSON-compatible tagged value."""
    return _encode(value, 0)


def _encode(value: Any, depth: int) -> Any:
    cls = value.__class__
    if value is None or cls in (bool, int):
        return value
    if cls is str:
        return value if value.isascii() else repair_utf8(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else _non_finite(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if depth >= _MAX_DEPTH:
        return {"$repr": repair_utf8(repr(value))}
    if isinstance(value, (list, tuple)):
        return [_encode(item, depth + 1) for item in value]
    if isinstance(value, Mapping):
        return _encode_mapping(value, depth)
    if isinstance(value, int):
        return int(value)

    return {"$repr": repair_utf8(repr(value))}


def _non_finite(value: float) -> dict[str, str]:
    if value != value:
        return {"$float": "nan"}

    return {"$float": "inf" if value > 0 else "-inf"}


def _encode_mapping(value: Mapping[Any, Any], depth: int) -> Any:
    encoded = {
        repair_utf8(str(key)): _encode(item, depth + 1) for key, item in value.items()
    }
    if len(encoded) == 1 and next(iter(encoded)).startswith("$"):
        return {"$map": encoded}

    return encoded


def decode_value(value: Any) -> Any:
    """Convert a tagged JSON value back into the attribute value."""
    if isinstance(value, list):
        return [decode_value(item) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((tag, inner),) = value.items()
        if tag == "$bytes":
            return base64.b64decode(inner)
        if tag == "$float":
            return _NON_FINITE[inner]
        if tag == "$map":
            return {key: decode_value(item) for key, item in inner.items()}
        if tag == "$repr":
            return inner

    return {key: decode_value(item) for key, item in value.items()}


def encode_attributes(attributes: Mapping[str, Any]) -> str | None:
    """Encode an attribute mapping as a JSON object, or None when it is empty."""
    if not attributes:
        return None

    encoded = {
        repair_utf8(str(key)): _encode(value, 1) for key, value in attributes.items()
    }
    return json.dumps(encoded, ensure_ascii=False, separators=(",", ":"))


def decode_attributes(text: str | None) -> dict[str, Any]:
    """Decode an `attributes` or `resource` column value into a dict.

    Raises:
        ValueError: The text is not a JSON object written by `encode_attributes`.
    """
    if text is None:
        return {}

    loaded = json.loads(text)
    if not isinstance(loaded, dict):
        raise ValueError(
            f"Invalid attributes column value {text[:80]!r}: expected a JSON object."
        )

    return {key: decode_value(value) for key, value in loaded.items()}


def encode_body(body: Any) -> str | None:
    """Return a string body as it is and any other body as tagged JSON text."""
    if body is None:
        return None
    if body.__class__ is str:
        return body if body.isascii() else repair_utf8(body)

    return json.dumps(encode_value(body), ensure_ascii=False, separators=(",", ":"))
