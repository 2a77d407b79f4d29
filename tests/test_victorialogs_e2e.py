"""The shipped VictoriaLogs gateway config into a real VictoriaLogs, end to end.

The test starts the built victoria-logs and otelcol-mlbucket on free 127.0.0.1
ports, with collector-config/gateway-victorialogs.yaml and only its environment
variables overridden, sends bucketed logs from the processor over OTLP/HTTP, and
queries each team's tenant (AccountID) back through LogsQL.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from _gateway import (
    CONFIG_DIR,
    LOOPBACK_OPENER,
    SEQUENCE,
    Emitted,
    Gateway,
    emit_cases,
    free_port,
    gateway_env,
    wait_until,
)

import otel_mlbucket
from otel_mlbucket import BucketSpec
from otel_mlbucket.collector import _env, route_table

pytestmark = [pytest.mark.collector, pytest.mark.victorialogs]

ROUTES = route_table(BucketSpec.default()).routes
STREAM_FIELDS = {
    "service.name",
    "ml.bucket.team",
    "ml.bucket.error_category",
    "ml.bucket.model_version",
}


class VictoriaLogs:
    """A victoria-logs server on 127.0.0.1 with its data in a temporary directory."""

    def __init__(self, binary: Path, data_dir: Path, log_path: Path):
        self.url = f"http://127.0.0.1:{free_port()}"
        log = open(log_path, "wb")  # noqa: SIM115 - closed below, after Popen has its own copy
        self.process = subprocess.Popen(
            [
                str(binary),
                f"-httpListenAddr={self.url.removeprefix('http://')}",
                f"-storageDataPath={data_dir}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.log_path = log_path

    def wait_healthy(self) -> None:
        def healthy() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"victoria-logs exited:\n{self.log_path.read_text()}"
                )
            try:
                return self._get("/health", {}, {}) == "OK"
            except OSError:
                return False

        assert wait_until(healthy), self.log_path.read_text()

    def query(self, account_id: int, logsql: str) -> list[dict]:
        """Return the log entries of one tenant that a LogsQL query selects."""
        self._get("/internal/force_flush", {}, {})
        text = self._get(
            "/select/logsql/query",
            {"query": logsql},
            {"AccountID": str(account_id), "ProjectID": "0"},
        )
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def stats(self, account_id: int, logsql: str) -> dict:
        """Return the JSON response of a LogsQL stats query in one tenant."""
        self._get("/internal/force_flush", {}, {})
        text = self._get(
            "/select/logsql/stats_query",
            {"query": logsql, "time": str(int(time.time()) + 60)},
            {"AccountID": str(account_id), "ProjectID": "0"},
        )
        return json.loads(text)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=20)

    def _get(self, path: str, params: dict, headers: dict) -> str:
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        request = urllib.request.Request(url, headers=headers)
        with LOOPBACK_OPENER.open(request, timeout=10) as response:
            return response.read().decode()


@pytest.fixture
def victorialogs(victorialogs_bin: Path, tmp_path: Path):
    server = VictoriaLogs(victorialogs_bin, tmp_path / "vl-data", tmp_path / "vl.log")
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


@pytest.fixture
def gateway(otelcol_bin: Path, tmp_path: Path, victorialogs: VictoriaLogs):
    backend_env = {
        _env.victorialogs_endpoint(r.team)[0]: victorialogs.url for r in ROUTES
    }
    gateway = Gateway(
        binary=otelcol_bin,
        config=CONFIG_DIR / "gateway-victorialogs.yaml",
        env=gateway_env(tmp_path, backend_env),
        log_path=tmp_path / "otelcol.log",
    )
    validated = gateway.validate()
    assert validated.returncode == 0, validated.stdout + validated.stderr
    gateway.start()

    yield gateway
    gateway.stop()


def test_team_tenants_contain_their_records(
    gateway: Gateway, victorialogs: VictoriaLogs, otlp_env
):
    otlp_env(gateway.http_endpoint, "http/protobuf")
    built = otel_mlbucket.configure(
        "vl-e2e-service",
        otlp=True,
        protocol="http/protobuf",
        attach_to=None,
        set_global=False,
        schedule_delay_millis=100,
    )
    emitted = Emitted()
    try:
        emit_cases(built.logger_provider.get_logger("e2e"), emitted, 20, "v1")
        assert built.force_flush(30000)
    finally:
        built.shutdown()

    expected = emitted.by_team()

    def tenant_sequences(account_id: int) -> list[int]:
        entries = victorialogs.query(account_id, "*")
        return [int(entry[SEQUENCE]) for entry in entries]

    def all_stored() -> bool:
        return all(
            len(tenant_sequences(route.account_id)) >= len(expected[route.team])
            for route in ROUTES
        )

    assert wait_until(all_stored), gateway.log_tail()

    for route in ROUTES:
        entries = victorialogs.query(route.account_id, "*")
        found = [int(entry[SEQUENCE]) for entry in entries]
        assert sorted(found) == sorted(expected[route.team]), route.team
        assert {entry["ml.bucket.team"] for entry in entries} == {route.team}
        for entry in entries:
            assert _stream_field_names(entry["_stream"]) == STREAM_FIELDS

        stats = victorialogs.stats(route.account_id, "* | stats count() as records")
        (result,) = stats["data"]["result"]
        assert int(result["value"][1]) == len(expected[route.team]), route.team

    stored = sum(len(tenant_sequences(route.account_id)) for route in ROUTES)
    assert stored == len(emitted.cases)


def _stream_field_names(stream: str) -> set[str]:
    """Return the field names of a `_stream` value such as {a="x",b="y"}."""
    inner = stream.strip("{}")
    names = set()
    for part in inner.split('",'):
        name, _, _value = part.partition("=")
        names.add(name)

    return names
