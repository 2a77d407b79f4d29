"""Parsing of query windows and time bounds."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from otel_mlbucket.query._errors import InvalidQueryError

_WINDOW = re.compile(r"^([1-9][0-9]{0,5})([mhdw])$")
_RELATIVE = re.compile(r"^([0-9]{1,6}(?:\.[0-9]+)?)([smhdw])$")
_UNITS = {"m": "minute", "h": "hour", "d": "day", "w": "week"}
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

WINDOW_EXAMPLES = ("15m", "1h", "6h", "1d", "1w")
TIME_FORMS = (
    "a duration before now such as 30m, 24h or 7d",
    "an ISO 8601 time such as 2024-05-01T12:00:00Z",
    "a date such as 2024-05-01 (midnight UTC)",
)


@dataclass(frozen=True)
class Window:
    """A time window length: `multiple` units of minute, hour, day or week."""

    text: str
    multiple: int
    unit: str


def parse_window(text: str) -> Window:
    """Parse a window such as 15m, 1h, 1d or 1w.

    Raises:
        InvalidQueryError: The text is not a positive count followed by m, h, d or w.
    """
    match = _WINDOW.match(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidQueryError(
            "window",
            text,
            "a window is a positive whole number followed by m (minutes), h (hours), "
            "d (days) or w (ISO weeks, starting on Monday).",
            WINDOW_EXAMPLES,
        )

    return Window(text, int(match.group(1)), _UNITS[match.group(2)])


def resolve_now(now: dt.datetime | None) -> dt.datetime:
    """Return `now` as an aware UTC time; the current time when None."""
    if now is None:
        return dt.datetime.now(dt.timezone.utc)

    return _aware("now", now)


def parse_instant(
    parameter: str, value: str | dt.datetime | None, now: dt.datetime
) -> dt.datetime | None:
    """Parse a time bound: a relative duration before now, ISO 8601 or a datetime.

    Naive datetimes and ISO times without an offset are taken as UTC.

    Raises:
        InvalidQueryError: The value has none of the accepted forms.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return _aware(parameter, value)
    if not isinstance(value, str):
        raise InvalidQueryError(
            parameter, value, "it must be a string or a datetime.", TIME_FORMS
        )

    text = value.strip()
    relative = _RELATIVE.match(text)
    if relative is not None:
        seconds = float(relative.group(1)) * _SECONDS[relative.group(2)]
        return now - dt.timedelta(seconds=seconds)

    if text.endswith(("Z", "z")):
        # Python 3.10's fromisoformat does not accept the Z suffix.
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidQueryError(
            parameter, value, "it is not a time this query understands.", TIME_FORMS
        ) from None

    return _aware(parameter, parsed)


def _aware(parameter: str, moment: dt.datetime) -> dt.datetime:
    if not isinstance(moment, dt.datetime):
        raise InvalidQueryError(parameter, moment, "it must be a datetime.")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.timezone.utc)

    return moment.astimezone(dt.timezone.utc)


def to_nanos(moment: dt.datetime) -> int:
    """Return a Unix time in ns of an aware datetime, exact to the microsecond."""
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + (
        delta.microseconds * 1000
    )
