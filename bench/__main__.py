"""Run every benchmark and write bench/results/latest.json.

Usage: python -m bench [NAME ...], NAME among processor_cost, otlp_export,
store_query, collector_path. Results are ratios inside one run; see
docs/benchmarks.md for the method.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path

BENCHMARKS = ("processor_cost", "otlp_export", "store_query", "collector_path")
RESULTS = Path(__file__).parent / "results" / "latest.json"


def main(argv: list[str]) -> int:
    """Run the named benchmarks (all when none) and print their results as JSON."""
    names = argv or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(
            f"Error: unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)}",
            file=sys.stderr,
        )
        return 2

    results: dict[str, object] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        module = importlib.import_module(f"bench.{name}")
        started = time.perf_counter()
        results[name] = module.run()
        print(
            f"  {name} took {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
