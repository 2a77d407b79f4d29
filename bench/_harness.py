"""Interleaved timing: every variant runs once per round, rounds repeat, and each
result is the median over rounds, so machine noise hits all variants alike."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Mapping


def interleaved(
    variants: Mapping[str, Callable[[], int]], rounds: int = 7
) -> dict[str, float]:
    """Return each variant's median seconds per item over interleaved rounds.

    Args:
        variants: Name to a function that does one round of work and returns how
            many items it processed.
        rounds: Rounds to run; the first is a warm-up and is discarded.
    """
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for round_index in range(rounds + 1):
        for name, run in variants.items():
            gc.collect()
            started = time.perf_counter()
            items = run()
            elapsed = time.perf_counter() - started
            if round_index > 0:
                samples[name].append(elapsed / items)

    return {name: statistics.median(values) for name, values in samples.items()}
