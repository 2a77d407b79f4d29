"""Shared fixtures: loopback OTLP receivers and the real-component binaries."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _otlp_receiver import OTLPReceiver, start_grpc, start_http

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


@pytest.fixture
def otlp_env(monkeypatch):
    """Return a function that points the OTLP exporters at a loopback endpoint.

    Every OTEL_* variable of the test environment is removed first, so that only
    the endpoint and protocol set here configure the exporters.
    """
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")

    def point(endpoint: str, protocol: str) -> None:
        if not endpoint.startswith("http://127.0.0.1:"):
            raise ValueError(f"Invalid test endpoint {endpoint!r}: use 127.0.0.1.")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)

    return point


@pytest.fixture(params=["grpc", "http/protobuf"])
def otlp_receiver(request, otlp_env):
    """Yield (receiver, protocol) with the OTLP environment pointed at the receiver."""
    fixture = "grpc_receiver" if request.param == "grpc" else "http_receiver"
    receiver, endpoint = request.getfixturevalue(fixture)
    otlp_env(endpoint, request.param)
    return receiver, request.param
