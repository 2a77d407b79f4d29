"""Running the shipped gateway collector configs in tests, and reading what they wrote.

Every process started here listens on 127.0.0.1 ports picked free at start. Only
the environment variables that the configs read are overridden, so each test runs
the shipped files themselves.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult

from otel_mlbucket.collector import read_file_export

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / "collector-config"

START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 20.0
ARRIVAL_TIMEOUT_SECONDS = 30.0
POLL_INTERVAL_SECONDS = 0.1

# Each case sets the attributes that the default spec reads and names the team
# bucket the processor gives it, which selects the gateway route.
CASES: dict[str, tuple[dict[str, Any], str]] = {
    "validation_failure": (
        {"ml.validation.status": "failed", "ml.validation.reason": "missing"},
        "data_engineering",
    ),
    "prediction_error": ({"exception.type": "ValueError"}, "modelling"),
    "severe_drift": (
        {"ml.prediction.expected": 1.0, "ml.prediction.actual": 2.0},
        "modelling",
    ),
    "infrastructure_error": ({"exception.type": "TimeoutError"}, "infrastructure"),
    "slow_inference": ({"ml.inference.latency_ms": 1500.0}, "infrastructure"),
    "plain_prediction": ({"ml.inference.latency_ms": 20.0}, "unowned"),
}
SEQUENCE = "test.sequence"
CASE = "test.case"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Gateway:
    """One collector process running a shipped config, restartable in place."""

    binary: Path
    config: Path
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def grpc_endpoint(self) -> str:
        return "http://" + self.env["MLBUCKET_OTLP_GRPC_ENDPOINT"]

    @property
    def http_endpoint(self) -> str:
        return "http://" + self.env["MLBUCKET_OTLP_HTTP_ENDPOINT"]

    @property
    def cold_storage_dir(self) -> Path:
        return Path(self.env["MLBUCKET_COLD_STORAGE_DIR"])

    def validate(self) -> subprocess.CompletedProcess[str]:
        """Run the collector's `validate` command on the config."""
        return subprocess.run(
            [str(self.binary), "validate", "--config", str(self.config)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_SECONDS,
            check=False,
        )

    def start(self) -> None:
        """Start the collector and wait until its health check returns 200."""
        self.starts += 1
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed below, after Popen has its own copy
        log.write(f"--- start {self.starts}\n".encode())
        log.flush()
        self.process = subprocess.Popen(
            [str(self.binary), "--config", str(self.config)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

        url = "http://" + self.env["MLBUCKET_HEALTH_CHECK_ENDPOINT"] + "/"
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"The collector exited at start:\n{self.log_tail()}")
            if _returns_ok(url):
                return
            time.sleep(POLL_INTERVAL_SECONDS)

        raise RuntimeError(
            f"The collector was not healthy within {START_TIMEOUT_SECONDS} s:\n"
            f"{self.log_tail()}"
        )

    def stop(self) -> int:
        """Send SIGTERM and wait for the exit; return the exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0

        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            raise RuntimeError(
                f"The collector ignored SIGTERM for {STOP_TIMEOUT_SECONDS} s:\n"
                f"{self.log_tail()}"
            ) from None

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def gateway_env(tmp_path: Path, backend_env: dict[str, str]) -> dict[str, str]:
    """Return the environment of a gateway: free loopback ports, dirs in tmp_path."""
    env = dict(os.environ)
    env.update(
        {
            "MLBUCKET_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{free_port()}",
            "MLBUCKET_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{free_port()}",
            "MLBUCKET_HEALTH_CHECK_ENDPOINT": f"127.0.0.1:{free_port()}",
            "MLBUCKET_TELEMETRY_METRICS_PORT": str(free_port()),
            "MLBUCKET_QUEUE_DIR": str(tmp_path / "queue"),
            "MLBUCKET_COLD_STORAGE_DIR": str(tmp_path / "cold"),
            **backend_env,
        }
    )
    return env


def flatten_json_request(request: dict[str, Any]) -> list[dict[str, Any]]:
    """Return one dict per log record of an OTLP JSON export request."""
    rows = []
    for resource_logs in request.get("resourceLogs", []):
        resource = _attributes(resource_logs.get("resource", {}).get("attributes"))
        for scope_logs in resource_logs.get("scopeLogs", []):
            for record in scope_logs.get("logRecords", []):
                rows.append(
                    {
                        "resource": resource,
                        "attributes": _attributes(record.get("attributes")),
                        "body": _json_value(record.get("body", {})),
                    }
                )

    return rows


def cold_storage_rows(directory: Path) -> dict[str, list[dict[str, Any]]]:
    """Return the records in each team's cold-storage files, keyed by team."""
    found: dict[str, list[dict[str, Any]]] = {}
    if not directory.exists():
        return found

    for path in sorted(directory.glob("*/*.otlpjson.zst")):
        rows = found.setdefault(path.parent.name, [])
        for request in read_file_export(path):
            for row in flatten_json_request(request):
                row["file"] = path.name
                rows.append(row)

    return found


def sequences(rows: Iterable[dict[str, Any]]) -> list[int]:
    """Return the test sequence numbers of rows, in arrival order."""
    return [int(row["attributes"][SEQUENCE]) for row in rows]


def wait_until(
    condition: Callable[[], bool], timeout_seconds: float = ARRIVAL_TIMEOUT_SECONDS
) -> bool:
    """Poll a condition until it is true or the timeout passes. Return its last value."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(POLL_INTERVAL_SECONDS)

    return condition()


@dataclass
class Emitted:
    """The records a test emitted: sequence number to case and expected team."""

    cases: dict[int, str] = field(default_factory=dict)

    def expected_team(self, sequence: int) -> str:
        return CASES[self.cases[sequence]][1]

    def by_team(self) -> dict[str, set[int]]:
        teams: dict[str, set[int]] = {}
        for sequence in self.cases:
            teams.setdefault(self.expected_team(sequence), set()).add(sequence)

        return teams


def emit_cases(logger: Any, emitted: Emitted, rounds: int, version: str) -> None:
    """Emit every case `rounds` times through an OpenTelemetry logs API logger."""
    for _ in range(rounds):
        for case, (attributes, _team) in CASES.items():
            sequence = len(emitted.cases)
            emitted.cases[sequence] = case
            logger.emit(
                body=f"{case} {sequence}",
                attributes={
                    **attributes,
                    "ml.model.version": version,
                    SEQUENCE: sequence,
                    CASE: case,
                },
            )


class RecordingExporter(LogRecordExporter):
    """Counts the records that an inner exporter sent and those whose export failed.

    The OTLP exporters retry inside `export`, so a FAILURE result means the SDK
    dropped the batch after its last retry.
    """

    def __init__(self, inner: LogRecordExporter):
        self.inner = inner
        self.export_started = threading.Event()
        self.last_call_started_at = float("-inf")
        self.calls_in_progress = 0
        self.sent_records = 0
        self.failed_records = 0
        self._lock = threading.Lock()

    def export(self, batch):
        with self._lock:
            self.last_call_started_at = time.monotonic()
            self.calls_in_progress += 1
        self.export_started.set()
        result = self.inner.export(batch)
        with self._lock:
            self.calls_in_progress -= 1
            if result is LogRecordExportResult.SUCCESS:
                self.sent_records += len(batch)
            else:
                self.failed_records += len(batch)

        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


# Loopback requests never go through a proxy from the environment.
LOOPBACK_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _returns_ok(url: str) -> bool:
    try:
        with LOOPBACK_OPENER.open(url, timeout=1.0) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _attributes(items: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {item["key"]: _json_value(item.get("value", {})) for item in items or []}


def _json_value(value: dict[str, Any]) -> Any:
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [_json_value(item) for item in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return _attributes(value["kvlistValue"].get("values"))

    return None
