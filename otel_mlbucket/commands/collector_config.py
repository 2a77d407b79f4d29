"""`otel-mlbucket collector-config`: render the collector and Loki configs from a spec."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from otel_mlbucket.cli import UsageError

BACKEND_CHOICES = ("loki", "victorialogs", "all")
DEFAULT_OUTPUT_DIR = "collector-config"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the collector-config subcommand and return its parser."""
    parser = subparsers.add_parser(
        "collector-config",
        help="Render the gateway collector and Loki configs from a bucket spec.",
        description=(
            "Render the gateway collector config for Loki and VictoriaLogs, and a "
            "Loki config, from a bucket spec. The gateway routes each team bucket "
            "to its own pipeline and the default bucket to the default pipeline."
        ),
    )
    parser.add_argument(
        "--spec",
        metavar="FILE",
        help="Bucket spec YAML file (default: the shipped default spec).",
    )
    parser.add_argument(
        "--backend",
        choices=BACKEND_CHOICES,
        default="all",
        help=(
            "Which gateway configs to render: loki (with loki-config.yaml), "
            "victorialogs, or all (default)."
        ),
    )
    parser.add_argument(
        "--output-dir",
        metavar="DIR",
        default=DEFAULT_OUTPUT_DIR,
        help=f"Directory to write the files into (default: {DEFAULT_OUTPUT_DIR}).",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help=(
            "Write nothing; exit 1 if a file in the directory differs from what "
            "would be rendered, or is missing."
        ),
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Render the configs, then write them or compare them with --check."""
    rendered = _render(args.spec, args.backend)
    output_dir = Path(args.output_dir)
    if args.check:
        return _check(output_dir, rendered)

    output_dir.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        path = output_dir / name
        path.write_text(text, encoding="utf-8")
        print(f"Wrote {path}")

    return 0


def _render(spec_path: str | None, backend: str) -> dict[str, str]:
    from otel_mlbucket._spec import BucketSpec, SpecError
    from otel_mlbucket.collector import (
        BACKENDS,
        DEFAULT_SOURCE,
        CollectorConfigError,
        render_files,
    )

    backends = BACKENDS if backend == "all" else (backend,)
    try:
        if spec_path is None:
            spec, source = BucketSpec.default(), DEFAULT_SOURCE
        else:
            spec = BucketSpec.from_file(spec_path)
            source = f"the bucket spec {Path(spec_path).name}"
        return render_files(spec, backends, source=source)
    except FileNotFoundError as exc:
        raise UsageError(
            f"Spec file not found: {spec_path}. Pass an existing YAML file to --spec."
        ) from exc
    except (SpecError, CollectorConfigError) as exc:
        raise UsageError(str(exc)) from exc


def _check(output_dir: Path, rendered: dict[str, str]) -> int:
    stale = []
    for name, text in rendered.items():
        path = output_dir / name
        if not path.is_file():
            stale.append(f"{path} is missing")
            continue

        current = path.read_text(encoding="utf-8")
        if current != text:
            changed = _changed_lines(current, text)
            stale.append(f"{path} differs from the rendered config ({changed} lines)")

    if not stale:
        print(f"{output_dir}: {len(rendered)} files up to date.")
        return 0

    for problem in stale:
        print(problem, file=sys.stderr)
    print(
        f"Regenerate with: otel-mlbucket collector-config --output-dir {output_dir} "
        "(with the same --spec and --backend).",
        file=sys.stderr,
    )
    return 1


def _changed_lines(current: str, rendered: str) -> int:
    diff = difflib.unified_diff(
        current.splitlines(), rendered.splitlines(), lineterm="", n=0
    )
    return sum(
        1 for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))
    )
