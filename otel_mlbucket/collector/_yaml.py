"""A small YAML writer that keeps comments, for the generated collector configs.

PyYAML drops comments, and the generated files explain themselves in comments, so
this writer emits block-style YAML from plain dicts, lists and scalars, with
`Commented` values whose text goes above their key or list item.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

_PLAIN = re.compile(r"^[A-Za-z0-9_./-]+$")
_INDENT = "  "


@dataclass(frozen=True)
class Commented:
    """A value with comment text that the writer puts above its key or item.

    Attributes:
        comment: One or more lines, without the leading "# ".
        value: The value itself.
    """

    comment: str
    value: Any


@dataclass(frozen=True)
class Raw:
    """A scalar written exactly as given, such as a `${VAR:-default}` reference that
    must stay unquoted so that its expansion is read as a number."""

    text: str


def dump(document: Mapping[str, Any], header: str = "") -> str:
    """Return `document` as block-style YAML, with `header` as leading comments."""
    lines = _comment_lines(header, 0) if header else []
    if lines:
        lines.append("")

    _mapping(document, 0, lines, top_level=True)
    return "\n".join(lines) + "\n"


def strip_comments(value: Any) -> Any:
    """Return `value` with every `Commented` wrapper replaced by its value."""
    if isinstance(value, Commented):
        return strip_comments(value.value)
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Mapping):
        return {key: strip_comments(item) for key, item in value.items()}
    if isinstance(value, list):
        return [strip_comments(item) for item in value]

    return value


def scalar(value: Any) -> str:
    """Return one scalar as YAML: plain when that reads back equal, else quoted."""
    if isinstance(value, Raw):
        return value.text
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if not isinstance(value, str):
        raise TypeError(f"Cannot write {type(value).__name__} {value!r} as YAML.")

    if _PLAIN.match(value) and yaml.safe_load(value) == value:
        return value

    return "'" + value.replace("'", "''") + "'"


def _comment_lines(text: str, depth: int) -> list[str]:
    prefix = _INDENT * depth
    return [f"{prefix}# {line}".rstrip() for line in text.splitlines()]


def _mapping(
    mapping: Mapping[str, Any], depth: int, lines: list[str], top_level: bool = False
) -> None:
    for index, (key, value) in enumerate(mapping.items()):
        if top_level and index:
            lines.append("")
        if isinstance(value, Commented):
            lines.extend(_comment_lines(value.comment, depth))
            value = value.value

        _entry(f"{_INDENT * depth}{scalar(key)}:", value, depth, lines)


def _entry(lead: str, value: Any, depth: int, lines: list[str]) -> None:
    if isinstance(value, Mapping) and value:
        lines.append(lead)
        _mapping(value, depth + 1, lines)
    elif isinstance(value, Mapping):
        lines.append(f"{lead} {{}}")
    elif isinstance(value, list) and _all_scalars(value):
        items = ", ".join(scalar(item) for item in value)
        lines.append(f"{lead} [{items}]")
    elif isinstance(value, list):
        lines.append(lead)
        _sequence(value, depth + 1, lines)
    else:
        lines.append(f"{lead} {scalar(value)}")


def _sequence(items: list[Any], depth: int, lines: list[str]) -> None:
    prefix = _INDENT * depth
    for item in items:
        if isinstance(item, Commented):
            lines.extend(_comment_lines(item.comment, depth))
            item = item.value
        if not isinstance(item, Mapping) or not item:
            raise TypeError(f"Sequences of {item!r} are not supported by this writer.")

        # The first key goes on the dash line and the rest line up under it. A
        # comment on the first key goes above the dash.
        nested: list[str] = []
        _mapping(item, depth + 1, nested)
        first = next(i for i, line in enumerate(nested) if not _is_comment(line))
        lines.extend(nested[:first])
        lines.append(f"{prefix}- {nested[first].lstrip()}")
        lines.extend(nested[first + 1 :])


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _all_scalars(items: list[Any]) -> bool:
    return all(not isinstance(item, (Mapping, list, Commented)) for item in items)
