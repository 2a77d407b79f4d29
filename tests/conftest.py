"""Shared fixtures: loopback OTLP receivers and the real-component binaries."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _otlp_receiver import OTLPReceiver, start_grpc, start_http  # noqa: E402

IN_CI = os.environ.get("CI") == "true"


def require_binary(variable: str, what: str) -> Path:
    """Return the binary named by an environment variable, or skip (fail under CI=true)."""
    value = os.environ.get(variable)
    if value and Path(value).is_file() and os.access(value, os.X_OK):
        return Path(value)

    reason = f"{what} binary not available: {variable} is {value!r}; run `make test` (scripts/build-all.sh builds it)"
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def grpc_receiver():
    receiver = OTLPReceiver()
    server, port = start_grpc(receiver)
    yield receiver, f"http://127.0.0.1:{port}"
    server.stop(grace=None)


@pytest.fixture
def http_receiver():
    receiver = OTLPReceiver()
    server, port = start_http(receiver)
    yield receiver, f"http://127.0.0.1:{port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def otelcol_bin() -> Path:
    return require_binary("OTELCOL_BIN", "OpenTelemetry Collector")


@pytest.fixture
def victorialogs_bin() -> Path:
    return require_binary("VICTORIALOGS_BIN", "VictoriaLogs")
