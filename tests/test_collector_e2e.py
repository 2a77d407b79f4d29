"""The shipped Loki gateway config in the real collector, end to end.

Each test starts the built otelcol-mlbucket on free 127.0.0.1 ports with
collector-config/gateway-loki.yaml, overriding only the environment variables that
the config reads. One loopback OTLP/HTTP receiver per team takes the place of Loki and
records the tenant header. Logs come from the bucketing processor over OTLP.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from _gateway import (
    CONFIG_DIR,
    SEQUENCE,
    Emitted,
    Gateway,
    RecordingExporter,
    cold_storage_rows,
    emit_cases,
    gateway_env,
    sequences,
    wait_until,
)
from _otlp_receiver import OTLPReceiver, start_http
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource

import otel_mlbucket
from otel_mlbucket import BucketSpec
from otel_mlbucket.collector import _env, route_table

pytestmark = pytest.mark.collector

TEAMS = tuple(route.team for route in route_table(BucketSpec.default()).routes)
TENANT_HEADER = "x-scope-orgid"


@pytest.fixture
def team_receivers():
    """One loopback OTLP/HTTP receiver per team, standing in for its Loki."""
    receivers: dict[str, tuple[OTLPReceiver, str]] = {}
    servers = []
    for team in TEAMS:
        receiver = OTLPReceiver()
        server, port = start_http(receiver)
        servers.append(server)
        receivers[team] = (receiver, f"http://127.0.0.1:{port}")

    yield receivers
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def gateway(otelcol_bin: Path, tmp_path: Path, team_receivers):
    """The Loki gateway, validated but not started, pointed at the receivers."""
    backend_env = {
        _env.loki_endpoint(team)[0]: url
        for team, (_receiver, url) in team_receivers.items()
    }
    gateway = Gateway(
        binary=otelcol_bin,
        config=CONFIG_DIR / "gateway-loki.yaml",
        env=gateway_env(tmp_path, backend_env),
        log_path=tmp_path / "otelcol.log",
    )
    validated = gateway.validate()
    assert validated.returncode == 0, validated.stdout + validated.stderr

    yield gateway
    gateway.stop()


def _configure_otlp(gateway: Gateway, protocol: str, otlp_env):
    endpoint = gateway.grpc_endpoint if protocol == "grpc" else gateway.http_endpoint
    otlp_env(endpoint, protocol)
    return otel_mlbucket.configure(
        "e2e-service",
        otlp=True,
        protocol=protocol,
        attach_to=None,
        set_global=False,
        schedule_delay_millis=100,
    )


def _configure_recorded(exporter: RecordingExporter):
    return otel_mlbucket.configure(
        "e2e-service",
        exporters=[exporter],
        otlp=False,
        attach_to=None,
        set_global=False,
        schedule_delay_millis=100,
    )


def _received(team_receivers) -> dict[str, list[int]]:
    return {
        team: sequences(receiver.records())
        for team, (receiver, _url) in team_receivers.items()
    }


def _tenants(receiver: OTLPReceiver) -> set[str | None]:
    """Return the X-Scope-OrgID values of a receiver's requests (Go sends X-Scope-Orgid)."""
    return {
        {name.lower(): value for name, value in headers.items()}.get(TENANT_HEADER)
        for headers in receiver.headers
    }


def _all_arrived(team_receivers, gateway: Gateway, expected: dict[str, set[int]]):
    def arrived() -> bool:
        received = _received(team_receivers)
        cold = cold_storage_rows(gateway.cold_storage_dir)
        return all(
            set(received[team]) >= expected.get(team, set())
            and set(sequences(cold.get(team, []))) >= expected.get(team, set())
            for team in TEAMS
        )

    return arrived


@pytest.mark.parametrize("config", ["gateway-loki.yaml", "gateway-victorialogs.yaml"])
def test_shipped_config_validates(otelcol_bin: Path, tmp_path: Path, config: str):
    gateway = Gateway(
        binary=otelcol_bin,
        config=CONFIG_DIR / config,
        env=gateway_env(tmp_path, {}),
        log_path=tmp_path / "otelcol.log",
    )

    result = gateway.validate()

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_routing_delivers_each_team(
    gateway: Gateway, team_receivers, protocol: str, otlp_env
):
    """Every bucket reaches its team's receiver, tenant and files, exactly once."""
    gateway.start()
    built = _configure_otlp(gateway, protocol, otlp_env)
    logger = built.logger_provider.get_logger("e2e")
    emitted = Emitted()
    try:
        emit_cases(logger, emitted, rounds=40, version="v1")
        emit_cases(logger, emitted, rounds=10, version="v2")
        assert built.force_flush(30000)
    finally:
        built.shutdown()

    expected = emitted.by_team()
    assert set(expected) == set(TEAMS)
    assert wait_until(_all_arrived(team_receivers, gateway, expected))

    received = _received(team_receivers)
    cold = cold_storage_rows(gateway.cold_storage_dir)
    for team, (receiver, _url) in team_receivers.items():
        assert sorted(received[team]) == sorted(expected[team]), team
        assert sorted(sequences(cold[team])) == sorted(expected[team]), team
        assert {row["resource"]["ml.bucket.team"] for row in receiver.records()} == {
            team
        }
        assert _tenants(receiver) == {team}, team
        assert {row["file"] for row in cold[team]} == {
            "v1.otlpjson.zst",
            "v2.otlpjson.zst",
        }
        for row in cold[team]:
            assert (
                row["file"]
                == row["resource"]["ml.bucket.model_version"] + ".otlpjson.zst"
            )

    assert sum(len(found) for found in received.values()) == len(emitted.cases)
    assert sum(len(rows) for rows in cold.values()) == len(emitted.cases)


def test_unmatched_records_reach_default(gateway: Gateway, team_receivers, otlp_env):
    """Records without the processor's buckets, or with an unknown team, go to unowned."""
    gateway.start()
    plain = _plain_provider(gateway, {"service.name": "no-processor"})
    foreign = _plain_provider(
        gateway,
        {
            "service.name": "other-spec",
            "ml.bucket.team": "research",
            "ml.bucket.model_version": "v9",
        },
    )
    try:
        for sequence in range(20):
            plain.get_logger("e2e").emit(body="plain", attributes={SEQUENCE: sequence})
        for sequence in range(20, 35):
            foreign.get_logger("e2e").emit(
                body="foreign", attributes={SEQUENCE: sequence}
            )
        assert plain.force_flush(30000)
        assert foreign.force_flush(30000)
    finally:
        plain.shutdown()
        foreign.shutdown()

    expected = {"unowned": set(range(35))}
    assert wait_until(_all_arrived(team_receivers, gateway, expected))

    received = _received(team_receivers)
    assert sorted(received["unowned"]) == list(range(35))
    for team in TEAMS:
        if team != "unowned":
            assert received[team] == [], team

    rows = {
        int(row["attributes"][SEQUENCE]): row["resource"]
        for row in team_receivers["unowned"][0].records()
    }
    assert rows[0]["ml.bucket.team"] == "unowned"
    assert rows[0]["ml.bucket.error_category"] == "none"
    assert rows[0]["ml.bucket.model_version"] == "unknown"
    assert rows[20]["ml.bucket.team"] == "research"
    assert rows[20]["ml.bucket.model_version"] == "v9"

    cold = cold_storage_rows(gateway.cold_storage_dir)
    files = {}
    for row in cold["unowned"]:
        files.setdefault(row["file"], set()).add(int(row["attributes"][SEQUENCE]))
    assert files == {
        "unknown.otlpjson.zst": set(range(20)),
        "v9.otlpjson.zst": set(range(20, 35)),
    }


def test_collector_down_at_start_within_retry_window(
    gateway: Gateway, team_receivers, otlp_env
):
    """The service starts before the collector, which comes up while the SDK retries.

    Records wait in the SDK's batch queue (65536 records by default). The OTLP
    exporter retries a failed batch with backoffs of 1, 2, 4 and 8 s (+-20%) until
    OTEL_EXPORTER_OTLP_TIMEOUT (10 s) has passed since its first attempt. A
    collector that is up about 7 s after that attempt gets the batch on a retry,
    and every queued batch after it: nothing is lost, which this test asserts.
    """
    exporter = RecordingExporter(
        OTLPLogExporter(endpoint=gateway.grpc_endpoint, insecure=True)
    )
    built = _configure_recorded(exporter)
    emitted = Emitted()
    try:
        emit_cases(built.logger_provider.get_logger("e2e"), emitted, 10, "v1")
        assert exporter.export_started.wait(30)
        gateway.start()
        assert built.force_flush(30000)
    finally:
        built.shutdown()

    expected = emitted.by_team()
    assert wait_until(_all_arrived(team_receivers, gateway, expected))
    received = _received(team_receivers)
    assert exporter.failed_records == 0
    assert exporter.sent_records == len(emitted.cases)
    for team in TEAMS:
        assert sorted(received[team]) == sorted(expected[team]), team


def test_collector_down_past_retry_window(gateway: Gateway, team_receivers, otlp_env):
    """The collector comes up only after the SDK's retries for a batch ran out.

    With the exporter timeout at 2 s, the first batch fails after two attempts and
    the SDK drops it: it logs an error, and the RecordingExporter counts the
    failure. Those records are lost. Records emitted once the collector is up all
    arrive.
    """
    exporter = RecordingExporter(
        OTLPLogExporter(endpoint=gateway.grpc_endpoint, insecure=True, timeout=2)
    )
    built = _configure_recorded(exporter)
    logger = built.logger_provider.get_logger("e2e")
    emitted = Emitted()
    try:
        emit_cases(logger, emitted, 5, "v1")
        lost = set(emitted.cases)
        assert wait_until(lambda: exporter.failed_records == len(lost))
        gateway.start()
        emit_cases(logger, emitted, 5, "v1")
        assert built.force_flush(30000)
    finally:
        built.shutdown()

    emitted_after_start = set(emitted.cases) - lost
    expected = {team: found - lost for team, found in emitted.by_team().items()}
    assert wait_until(_all_arrived(team_receivers, gateway, expected))
    received = {seq for found in _received(team_receivers).values() for seq in found}
    assert received == emitted_after_start
    assert exporter.failed_records == len(lost)
    assert exporter.sent_records == len(emitted_after_start)
    assert built.stats()["export_failed"] == len(lost)


def test_collector_restart_keeps_queued_batches(
    gateway: Gateway, team_receivers, otlp_env
):
    """SIGTERM and a restart mid-stream lose nothing the collector accepted.

    The backends return 503 until the collector has been stopped, so every batch
    accepted before the stop sits in the file_storage sending queues across the
    restart. The collector logs "Exporting failed. Dropping data." with
    "interrupted due to shutdown" for batches in flight at the stop, but the
    persistent queue keeps them and sends them after the restart. An export that
    the SDK starts while the collector is down fails and is retried after about
    1 s, by which time the collector is back. After the restart every record
    reaches its team, and the cold-storage files are appended to, not truncated.
    A batch in flight at the stop can be sent twice, so duplicates are allowed.
    """
    for receiver, _url in team_receivers.values():
        receiver.status = 503
    gateway.start()
    exporter = RecordingExporter(
        OTLPLogExporter(endpoint=gateway.grpc_endpoint, insecure=True)
    )
    built = _configure_recorded(exporter)
    emitted = Emitted()
    stop_sending = threading.Event()

    def send() -> None:
        logger = built.logger_provider.get_logger("e2e")
        for _ in range(500):
            if stop_sending.is_set():
                return
            emit_cases(logger, emitted, 1, "v1")
            stop_sending.wait(0.01)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        assert wait_until(lambda: _cold_count(gateway) >= 120)
        assert gateway.stop() == 0
        stopped_at = time.monotonic()
        before_restart = set(sequences(_cold_flat(gateway)))
        assert all(not receiver.records() for receiver, _ in team_receivers.values())

        # An export call in progress after the stop meets the stopped collector
        # and waits about 1 s for its first retry, and the restart comes sooner.
        # Waiting for a new call alone could wait for a call in progress to use
        # up its retries, because the SDK exports one batch at a time.
        assert wait_until(
            lambda: (
                exporter.calls_in_progress > 0
                or exporter.last_call_started_at > stopped_at
            )
        )

        for receiver, _url in team_receivers.values():
            receiver.status = 200
        gateway.start()
        assert wait_until(lambda: _cold_count(gateway) >= len(before_restart) + 120)
    finally:
        stop_sending.set()
        sender.join(timeout=30)
        assert built.force_flush(30000)
        built.shutdown()

    expected = emitted.by_team()
    assert wait_until(_all_arrived(team_receivers, gateway, expected))
    received = _received(team_receivers)
    assert exporter.failed_records == 0
    for team in TEAMS:
        assert set(received[team]) == expected[team], team
    assert before_restart <= set(sequences(_cold_flat(gateway)))
    unique = sum(len(set(found)) for found in received.values())
    assert unique == len(emitted.cases)


def _plain_provider(gateway: Gateway, resource: dict[str, str]) -> LoggerProvider:
    provider = LoggerProvider(resource=Resource.create(resource))
    exporter = OTLPLogExporter(endpoint=gateway.grpc_endpoint, insecure=True)
    provider.add_log_record_processor(
        BatchLogRecordProcessor(exporter, schedule_delay_millis=100)
    )
    return provider


def _cold_flat(gateway: Gateway) -> list[dict]:
    return [
        row
        for rows in cold_storage_rows(gateway.cold_storage_dir).values()
        for row in rows
    ]


def _cold_count(gateway: Gateway) -> int:
    return len(_cold_flat(gateway))
