"""Thread-safe counters of what the bucketing processor did."""

from __future__ import annotations

import itertools
import os
import threading
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_LOCK_OWNERS: weakref.WeakSet[Any] = weakref.WeakSet()


def renew_lock_after_fork(owner: Any) -> None:
    """Give `owner` a new `_lock` in a forked child.

    A lock that another thread held at the moment of `os.fork()` stays locked in the
    child forever, because that thread does not exist there. Owners registered here
    get a fresh `threading.Lock` in the child before it runs any other code.
    """
    _LOCK_OWNERS.add(owner)


def _renew_locks_in_child() -> None:
    for owner in list(_LOCK_OWNERS):
        owner._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_locks_in_child)


class AtomicCounter:
    """An integer counter that threads can increment concurrently without losses.

    `next()` on an `itertools.count` is one C call that holds the GIL, so no
    increment is lost and the hot path takes no lock.
    NOTE: free-threaded CPython builds (3.13t) do not promise that.
    """

    def __init__(self) -> None:
        self._count = itertools.count()

    def increment(self) -> None:
        next(self._count)

    def incrementer(self) -> Callable[[], object]:
        """Return the count's bound `__next__`: one C call per increment."""
        return self._count.__next__

    def add(self, amount: int) -> None:
        for _ in range(amount):
            next(self._count)

    @property
    def value(self) -> int:
        # The repr of a count with the default step is "count(N)", where N is the
        # next value, which is the number of increments so far.
        return int(repr(self._count)[6:-1])


@dataclass(frozen=True)
class StatsSnapshot:
    """Counts since the processor was created (a forked child inherits them).

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
        self._bucketed = AtomicCounter()
        self._failed = AtomicCounter()
        self._skipped = AtomicCounter()
        self._lock = threading.Lock()
        self._unbucketable: Counter[str] = Counter()
        self._overflowed: Counter[str] = Counter()
        self.events = 0
        """Number of unbucketable and overflowed values counted so far."""
        renew_lock_after_fork(self)

    def count_bucketed(self) -> None:
        self._bucketed.increment()

    def bucketed_incrementer(self) -> Callable[[], object]:
        """Return a function that counts one bucketed record with one C call."""
        return self._bucketed.incrementer()

    def count_failed(self) -> None:
        self._failed.increment()

    def count_skipped(self, attributes: int) -> None:
        self._skipped.add(attributes)

    def count_unbucketable(self, dimension: str) -> None:
        with self._lock:
            self._unbucketable[dimension] += 1
            self.events += 1

    def count_overflowed(self, dimension: str) -> None:
        with self._lock:
            self._overflowed[dimension] += 1
            self.events += 1

    def snapshot(self) -> StatsSnapshot:
        """Return a copy of the counters.

        The per-dimension counts are consistent with each other. The record counts
        are read without the lock, so while other threads emit they may be a few
        records ahead of or behind the per-dimension counts.
        """
        with self._lock:
            unbucketable = dict(self._unbucketable)
            overflowed = dict(self._overflowed)

        return StatsSnapshot(
            records_bucketed=self._bucketed.value,
            records_failed=self._failed.value,
            unbucketable=unbucketable,
            overflowed=overflowed,
            attributes_skipped=self._skipped.value,
        )
