"""Hour, day and ISO week buckets across year ends, DST changes and odd offsets."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import numpy as np
import pytest
from opentelemetry._logs import LogRecord

from otel_mlbucket import BucketSpec

NANOS = 10**9


def _time_dimension(timezone="UTC"):
    spec = BucketSpec.from_dict(
        {"dimensions": {"time": {"kind": "time", "timezone": timezone}}}
    )
    return spec, spec.dimension_of("hour")


def _nanos(utc_text: str) -> int:
    moment = dt.datetime.fromisoformat(utc_text).replace(tzinfo=dt.timezone.utc)
    return int(moment.timestamp()) * NANOS


# (zone, UTC instant, local hour, day, ISO week)
CASES = [
    ("UTC", "2020-12-31T23:59:59", "2020-12-31T23", "2020-12-31", "2020-W53"),
    ("UTC", "2021-01-01T00:00:00", "2021-01-01T00", "2021-01-01", "2020-W53"),
    ("UTC", "2021-01-03T23:59:59", "2021-01-03T23", "2021-01-03", "2020-W53"),
    ("UTC", "2021-01-04T00:00:00", "2021-01-04T00", "2021-01-04", "2021-W01"),
    ("UTC", "2024-12-30T00:00:00", "2024-12-30T00", "2024-12-30", "2025-W01"),
    ("UTC", "2026-12-31T12:00:00", "2026-12-31T12", "2026-12-31", "2026-W53"),
    ("UTC", "2027-01-03T12:00:00", "2027-01-03T12", "2027-01-03", "2026-W53"),
    ("UTC", "2027-01-04T00:00:00", "2027-01-04T00", "2027-01-04", "2027-W01"),
    ("UTC", "1970-01-01T00:00:01", "1970-01-01T00", "1970-01-01", "1970-W01"),
    # Berlin: the year ends an hour earlier than in UTC.
    ("Europe/Berlin", "2020-12-31T22:59:59", "2020-12-31T23", "2020-12-31", "2020-W53"),
    ("Europe/Berlin", "2020-12-31T23:00:00", "2021-01-01T00", "2021-01-01", "2020-W53"),
    ("Europe/Berlin", "2021-01-03T23:00:00", "2021-01-04T00", "2021-01-04", "2021-W01"),
    # Berlin spring forward 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00 UTC.
    ("Europe/Berlin", "2026-03-29T00:59:59", "2026-03-29T01", "2026-03-29", "2026-W13"),
    ("Europe/Berlin", "2026-03-29T01:00:00", "2026-03-29T03", "2026-03-29", "2026-W13"),
    ("Europe/Berlin", "2026-03-29T21:59:59", "2026-03-29T23", "2026-03-29", "2026-W13"),
    ("Europe/Berlin", "2026-03-29T22:00:00", "2026-03-30T00", "2026-03-30", "2026-W14"),
    # Berlin fall back 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00 UTC, so the
    # local hour 02 happens twice and both share its label.
    ("Europe/Berlin", "2026-10-24T22:00:00", "2026-10-25T00", "2026-10-25", "2026-W43"),
    ("Europe/Berlin", "2026-10-25T00:00:00", "2026-10-25T02", "2026-10-25", "2026-W43"),
    ("Europe/Berlin", "2026-10-25T00:59:59", "2026-10-25T02", "2026-10-25", "2026-W43"),
    ("Europe/Berlin", "2026-10-25T01:00:00", "2026-10-25T02", "2026-10-25", "2026-W43"),
    ("Europe/Berlin", "2026-10-25T01:59:59", "2026-10-25T02", "2026-10-25", "2026-W43"),
    ("Europe/Berlin", "2026-10-25T02:00:00", "2026-10-25T03", "2026-10-25", "2026-W43"),
    ("Europe/Berlin", "2026-10-25T22:59:59", "2026-10-25T23", "2026-10-25", "2026-W43"),
    ("Europe/Berlin", "2026-10-25T23:00:00", "2026-10-26T00", "2026-10-26", "2026-W44"),
    # New York spring forward 2026-03-08 at 07:00 UTC, fall back 2026-11-01 at 06:00.
    (
        "America/New_York",
        "2026-03-08T06:59:59",
        "2026-03-08T01",
        "2026-03-08",
        "2026-W10",
    ),
    (
        "America/New_York",
        "2026-03-08T07:00:00",
        "2026-03-08T03",
        "2026-03-08",
        "2026-W10",
    ),
    (
        "America/New_York",
        "2026-11-01T05:59:59",
        "2026-11-01T01",
        "2026-11-01",
        "2026-W44",
    ),
    (
        "America/New_York",
        "2026-11-01T06:00:00",
        "2026-11-01T01",
        "2026-11-01",
        "2026-W44",
    ),
    (
        "America/New_York",
        "2026-11-01T07:00:00",
        "2026-11-01T02",
        "2026-11-01",
        "2026-W44",
    ),
    (
        "America/New_York",
        "2027-01-01T04:59:59",
        "2026-12-31T23",
        "2026-12-31",
        "2026-W53",
    ),
    (
        "America/New_York",
        "2027-01-01T05:00:00",
        "2027-01-01T00",
        "2027-01-01",
        "2026-W53",
    ),
    # Kolkata is +05:30 all year.
    ("Asia/Kolkata", "2026-01-04T18:29:59", "2026-01-04T23", "2026-01-04", "2026-W01"),
    ("Asia/Kolkata", "2026-01-04T18:30:00", "2026-01-05T00", "2026-01-05", "2026-W02"),
    ("Asia/Kolkata", "2026-06-01T00:29:59", "2026-06-01T05", "2026-06-01", "2026-W23"),
    ("Asia/Kolkata", "2026-06-01T00:30:00", "2026-06-01T06", "2026-06-01", "2026-W23"),
    # Kathmandu is +05:45 all year.
    (
        "Asia/Kathmandu",
        "2026-12-31T18:14:59",
        "2026-12-31T23",
        "2026-12-31",
        "2026-W53",
    ),
    (
        "Asia/Kathmandu",
        "2026-12-31T18:15:00",
        "2027-01-01T00",
        "2027-01-01",
        "2026-W53",
    ),
    (
        "Asia/Kathmandu",
        "2026-06-01T00:14:59",
        "2026-06-01T05",
        "2026-06-01",
        "2026-W23",
    ),
    (
        "Asia/Kathmandu",
        "2026-06-01T00:15:00",
        "2026-06-01T06",
        "2026-06-01",
        "2026-W23",
    ),
    # Monrovia was -00:44:30 until 1972, an offset that is no multiple of 15 minutes.
    (
        "Africa/Monrovia",
        "1971-06-01T00:40:00",
        "1971-05-31T23",
        "1971-05-31",
        "1971-W22",
    ),
    (
        "Africa/Monrovia",
        "1971-06-01T00:44:29",
        "1971-05-31T23",
        "1971-05-31",
        "1971-W22",
    ),
    (
        "Africa/Monrovia",
        "1971-06-01T00:44:30",
        "1971-06-01T00",
        "1971-06-01",
        "1971-W22",
    ),
]


@pytest.mark.parametrize(("zone", "utc", "hour", "day", "week"), CASES)
def test_time_labels(zone, utc, hour, day, week):
    _, time = _time_dimension(zone)

    assert time.labels_for(_nanos(utc)) == (hour, day, week)


@pytest.mark.parametrize(("zone", "utc", "hour", "day", "week"), CASES)
def test_time_labels_after_slot_cached(zone, utc, hour, day, week):
    _, time = _time_dimension(zone)
    slot_start = _nanos(utc) // (900 * NANOS) * (900 * NANOS)
    time.labels_for(slot_start)

    assert time.labels_for(_nanos(utc)) == (hour, day, week)


def _expected_labels(nanos: int, zone: str) -> tuple[str, str, str]:
    tz = dt.timezone.utc if zone == "UTC" else zoneinfo.ZoneInfo(zone)
    moment = dt.datetime.fromtimestamp(nanos // NANOS, tz)
    year, week, _ = moment.isocalendar()
    return (
        moment.strftime("%Y-%m-%dT%H"),
        moment.strftime("%Y-%m-%d"),
        f"{year:04d}-W{week:02d}",
    )


@pytest.mark.parametrize(
    ("zone", "first_day"),
    [
        ("UTC", "2020-12-31"),
        ("Europe/Berlin", "2026-03-28"),
        ("Europe/Berlin", "2026-10-24"),
        ("America/New_York", "2026-03-07"),
        ("America/New_York", "2026-10-31"),
        ("Asia/Kolkata", "2026-12-31"),
        ("Asia/Kathmandu", "2026-12-31"),
        ("Australia/Lord_Howe", "2026-04-04"),
        ("Pacific/Chatham", "2026-04-04"),
        ("Africa/Monrovia", "1971-12-31"),
    ],
)
def test_slot_cache_matches_direct_formatting(zone, first_day):
    _, time = _time_dimension(zone)
    start = _nanos(f"{first_day}T00:00:00")
    step = 7 * 60 * NANOS + 13 * NANOS

    mismatches = []
    for index in range(3 * 24 * 60 * 60 * NANOS // step):
        nanos = start + index * step
        if time.labels_for(nanos) != _expected_labels(nanos, zone):
            mismatches.append(nanos)

    assert mismatches == []


def test_slot_boundary_within_slot():
    _, time = _time_dimension("Asia/Kathmandu")
    slot_start = _nanos("2026-06-01T00:15:00")

    first = time.labels_for(slot_start)
    last = time.labels_for(slot_start + 900 * NANOS - 1)
    before = time.labels_for(slot_start - 1)

    assert first == last == ("2026-06-01T06", "2026-06-01", "2026-W23")
    assert before == ("2026-06-01T05", "2026-06-01", "2026-W23")


def test_granularities_subset():
    spec = BucketSpec.from_dict(
        {"dimensions": {"time": {"kind": "time", "granularities": ["week", "day"]}}}
    )

    buckets = spec.compute({}, LogRecord(timestamp=_nanos("2021-01-03T10:00:00")))

    assert buckets == {"week": "2020-W53", "day": "2021-01-03"}


def test_observed_timestamp_fallback():
    spec, _ = _time_dimension()
    record = LogRecord(observed_timestamp=_nanos("2021-01-04T00:00:00"))

    buckets = spec.compute({}, record)

    assert buckets["hour"] == "2021-01-04T00"


def test_record_timestamp_preferred():
    spec, _ = _time_dimension()
    record = LogRecord(
        timestamp=_nanos("2020-12-31T12:00:00"),
        observed_timestamp=_nanos("2021-01-04T00:00:00"),
    )

    assert spec.compute({}, record)["day"] == "2020-12-31"


def test_numpy_timestamp_accepted():
    _, time = _time_dimension()

    labels = time.labels_for(np.int64(_nanos("2021-01-04T00:00:00")))

    assert labels == ("2021-01-04T00", "2021-01-04", "2021-W01")


@pytest.mark.parametrize(
    "nanos", [None, 0, -1, True, 1.5e18, "1700000000000000000", 10**30]
)
def test_invalid_timestamp_counted(nanos):
    spec, time = _time_dimension()

    labels = time.labels_for(nanos)

    assert labels == ("invalid", "invalid", "invalid")
    assert spec.stats.snapshot().unbucketable == {"time": 1}


def test_missing_timestamps_invalid():
    spec, _ = _time_dimension()
    record = LogRecord()
    record.timestamp = None
    record.observed_timestamp = None

    assert spec.compute({}, record)["hour"] == "invalid"
    assert spec.stats.snapshot().unbucketable == {"time": 1}
