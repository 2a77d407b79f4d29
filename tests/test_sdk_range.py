"""otel-mlbucket works at both ends of the supported opentelemetry-sdk range.

Each end gets its own virtual environment under
${XDG_CACHE_HOME:-$HOME/.cache}/otel-mlbucket/sdk-venvs/<version>, built once with
pip from PyPI and reused while its requirements stay the same. The check script
tests/_sdk_range_check.py then runs in it against this repository's code.

The oldest end is opentelemetry-sdk 1.39.0, the first release whose
`LogRecordProcessor.on_emit` takes a `ReadWriteLogRecord` (1.38.0 passes a
`LogData`). Its opentelemetry-instrumentation-logging, 0.60b0, has no `handler`
module yet, so `otel_mlbucket.setup` falls back to the SDK's own LoggingHandler.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.sdk_range

ROOT = Path(__file__).resolve().parent.parent
CHECK_SCRIPT = ROOT / "tests" / "_sdk_range_check.py"

# (opentelemetry-sdk, the opentelemetry-instrumentation-logging released with it)
SDK_RANGE = [("1.39.0", "0.60b0"), ("1.45.2", "0.66b2")]

PIP_TIMEOUT_SECONDS = 900
CHECK_TIMEOUT_SECONDS = 300


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "otel-mlbucket" / "sdk-venvs"


def _requirements(sdk: str, logging_instrumentation: str) -> list[str]:
    return [
        f"opentelemetry-sdk=={sdk}",
        f"opentelemetry-exporter-otlp=={sdk}",
        f"opentelemetry-instrumentation-logging=={logging_instrumentation}",
        "PyYAML>=6",
    ]


def _run(command: list[str], timeout_seconds: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout_seconds,
        check=False,
    )


def _pip(venv: Path, *arguments: str) -> None:
    command = [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        *arguments,
    ]
    result = _run(command, PIP_TIMEOUT_SECONDS)
    if result.returncode != 0:
        pytest.fail(
            f"pip install failed in {venv} (exit {result.returncode}); PyPI must be "
            f"reachable the first time:\n{result.stdout}\n{result.stderr}"
        )


def _venv_for(sdk: str, logging_instrumentation: str) -> Path:
    """Return the cached venv for one SDK version, building it when needed."""
    root = _cache_root()
    root.mkdir(parents=True, exist_ok=True)
    venv = root / sdk
    stamp = venv / "otel-mlbucket-requirements.txt"
    wanted = "\n".join([*_requirements(sdk, logging_instrumentation), str(ROOT)])

    with open(root / f"{sdk}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.is_file() and stamp.read_text() == wanted:
            return venv

        shutil.rmtree(venv, ignore_errors=True)
        result = _run([sys.executable, "-m", "venv", str(venv)], 120)
        if result.returncode != 0:
            pytest.fail(f"python -m venv {venv} failed:\n{result.stderr}")
        _pip(venv, *_requirements(sdk, logging_instrumentation))
        _pip(venv, "--no-deps", "--editable", str(ROOT))
        stamp.write_text(wanted)

    return venv


@pytest.mark.parametrize(
    ("sdk", "logging_instrumentation"), SDK_RANGE, ids=[sdk for sdk, _ in SDK_RANGE]
)
def test_sdk_version_supported(sdk, logging_instrumentation):
    venv = _venv_for(sdk, logging_instrumentation)
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "NO_PROXY": "127.0.0.1",
    }

    result = subprocess.run(
        [str(venv / "bin" / "python"), str(CHECK_SCRIPT)],
        capture_output=True,
        text=True,
        timeout=CHECK_TIMEOUT_SECONDS,
        env=environment,
        cwd=ROOT,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert f'"sdk": "{sdk}"' in result.stdout
    assert f'"logging_instrumentation": "{logging_instrumentation}"' in result.stdout
