"""Importing the package and configuring it without a store stays cheap."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

HEAVY_MODULES = ("pyarrow", "httpx")


def _loaded_after(code: str) -> list[str]:
    script = textwrap.dedent(code) + textwrap.dedent(
        f"""
        import json, sys
        print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=False,
        env={
            "PATH": "/usr/bin:/bin",
            "NO_PROXY": "127.0.0.1",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
        },
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "code",
    [
        "import otel_mlbucket",
        "import otel_mlbucket.processor",
        "from otel_mlbucket import BucketSpec; BucketSpec.default()",
        "import otel_mlbucket.events, otel_mlbucket.attributes",
        """
        import logging
        from otel_mlbucket import configure, log_prediction
        built = configure("cheap", otlp=False, set_global=True)
        log_prediction(logging.getLogger("app"), model_name="m", latency_ms=5)
        built.shutdown()
        """,
        """
        from otel_mlbucket import configure
        built = configure("cheap", otlp=True, protocol="http/protobuf")
        built.shutdown()
        """,
        """
        from otel_mlbucket import configure
        built = configure("cheap", otlp=True, protocol="grpc")
        built.shutdown()
        """,
    ],
    ids=[
        "package",
        "processor",
        "default-spec",
        "events",
        "configure",
        "configure-otlp-http",
        "configure-otlp-grpc",
    ],
)
def test_no_heavy_imports(code):
    assert _loaded_after(code) == []


def test_heavy_imports_detected():
    """The check detects a heavy import when one happens."""
    assert _loaded_after("import pyarrow") == ["pyarrow"]
