"""Thread-safe counters of what the bucketing processor did."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from dataclasses import dataclass, field


def _read(counter: itertools.count) -> int:
    # itertools.count pickles as (count, (next_value,)); reading it that way does
    # not advance it, and next() on it is atomic under the GIL.
    return counter.__reduce__()[1][0]


@dataclass(frozen=True)
class StatsSnapshot:
    """Counts since the processor was created.

    Attributes:
        records_bucketed: Records that got their bucket attributes.
        records_failed: Records left unbucketed because bucketing raised; they still
            travel on to the exporters.
        unbucketable: Per dimension, values that were present but had no bucket and
            got the spec's invalid bucket.
        overflowed: Per dimension, values that went to the overflow bucket because
            the dimension's cap on distinct values was reached.
        attributes_skipped: Bucket attributes not written because the record had
            reached the SDK's attribute count limit.
    """

    records_bucketed: int
    records_failed: int
    unbucketable: dict[str, int] = field(default_factory=dict)
    overflowed: dict[str, int] = field(default_factory=dict)
    attributes_skipped: int = 0


class BucketStats:
    """Counters shared by a processor and its dimensions."""

    def __init__(self) -> None:
        self._bucketed = itertools.count()
        self._failed = itertools.count()
        self._skipped = itertools.count()
        self._lock = threading.Lock()
        self._unbucketable: Counter[str] = Counter()
        self._overflowed: Counter[str] = Counter()
        self.events = 0
        """Number of unbucketable and overflowed values counted so far."""

    def count_bucketed(self) -> None:
        next(self._bucketed)

    def count_failed(self) -> None:
        next(self._failed)

    def count_skipped(self, attributes: int) -> None:
        for _ in range(attributes):
            next(self._skipped)

    def count_unbucketable(self, dimension: str) -> None:
        with self._lock:
            self._unbucketable[dimension] += 1
            self.events += 1

    def count_overflowed(self, dimension: str) -> None:
        with self._lock:
            self._overflowed[dimension] += 1
            self.events += 1

    def snapshot(self) -> StatsSnapshot:
        """Return a consistent copy of the counters."""
        with self._lock:
            unbucketable = dict(self._unbucketable)
            overflowed = dict(self._overflowed)

        return StatsSnapshot(
            records_bucketed=_read(self._bucketed),
            records_failed=_read(self._failed),
            unbucketable=unbucketable,
            overflowed=overflowed,
            attributes_skipped=_read(self._skipped),
        )
