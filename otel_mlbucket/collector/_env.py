"""The environment variables that the generated collector configs read.

Each setting is written into the config as `${env:NAME:-default}`, which the
collector's env provider (confmap envprovider v1.54.0) resolves at start. The
default applies only when the variable is unset: a variable set to the empty
string resolves to the empty string. Every default address is on 127.0.0.1.

Gateway settings:
    MLBUCKET_OTLP_GRPC_ENDPOINT: OTLP/gRPC receiver address, 127.0.0.1:4317.
    MLBUCKET_OTLP_HTTP_ENDPOINT: OTLP/HTTP receiver address, 127.0.0.1:4318.
    MLBUCKET_HEALTH_CHECK_ENDPOINT: health_check extension address, 127.0.0.1:13133.
    MLBUCKET_TELEMETRY_METRICS_PORT: port of the collector's own Prometheus
        metrics on 127.0.0.1, 8888.
    MLBUCKET_QUEUE_DIR: file_storage directory of the persistent sending queues.
    MLBUCKET_QUEUE_FSYNC: "true" to fsync the queue database after each write.
    MLBUCKET_COLD_STORAGE_DIR: directory of the file exporters' per-bucket files.

Per team, with TEAM the team bucket in upper case and "-" or "." as "_":
    MLBUCKET_LOKI_ENDPOINT_TEAM: Loki base URL, http://127.0.0.1:3100.
    MLBUCKET_LOKI_TENANT_TEAM: Loki tenant (X-Scope-OrgID), the team bucket.
    MLBUCKET_VICTORIALOGS_ENDPOINT_TEAM: VictoriaLogs base URL, http://127.0.0.1:9428.
    MLBUCKET_VICTORIALOGS_ACCOUNT_ID_TEAM: VictoriaLogs AccountID, see `Route`.
    MLBUCKET_VICTORIALOGS_PROJECT_ID_TEAM: VictoriaLogs ProjectID, 0.
"""

from __future__ import annotations

OTLP_GRPC_ENDPOINT = ("MLBUCKET_OTLP_GRPC_ENDPOINT", "127.0.0.1:4317")
OTLP_HTTP_ENDPOINT = ("MLBUCKET_OTLP_HTTP_ENDPOINT", "127.0.0.1:4318")
HEALTH_CHECK_ENDPOINT = ("MLBUCKET_HEALTH_CHECK_ENDPOINT", "127.0.0.1:13133")
TELEMETRY_METRICS_PORT = ("MLBUCKET_TELEMETRY_METRICS_PORT", "8888")
QUEUE_DIR = ("MLBUCKET_QUEUE_DIR", "./otelcol-mlbucket-data/queue")
QUEUE_FSYNC = ("MLBUCKET_QUEUE_FSYNC", "false")
COLD_STORAGE_DIR = ("MLBUCKET_COLD_STORAGE_DIR", "./otelcol-mlbucket-data/cold")

LOKI_ENDPOINT_DEFAULT = "http://127.0.0.1:3100"
VICTORIALOGS_ENDPOINT_DEFAULT = "http://127.0.0.1:9428"


def reference(setting: tuple[str, str]) -> str:
    """Return the collector's `${env:NAME:-default}` reference to one setting."""
    name, default = setting
    return f"${{env:{name}:-{default}}}"


def team_suffix(team: str) -> str:
    """Return the environment variable suffix of a team bucket."""
    return team.upper().replace("-", "_").replace(".", "_")


def loki_endpoint(team: str) -> tuple[str, str]:
    """Return the Loki base URL setting of one team."""
    return (f"MLBUCKET_LOKI_ENDPOINT_{team_suffix(team)}", LOKI_ENDPOINT_DEFAULT)


def loki_tenant(team: str) -> tuple[str, str]:
    """Return the Loki tenant setting of one team."""
    return (f"MLBUCKET_LOKI_TENANT_{team_suffix(team)}", team)


def victorialogs_endpoint(team: str) -> tuple[str, str]:
    """Return the VictoriaLogs base URL setting of one team."""
    name = f"MLBUCKET_VICTORIALOGS_ENDPOINT_{team_suffix(team)}"
    return (name, VICTORIALOGS_ENDPOINT_DEFAULT)


def victorialogs_account_id(team: str, account_id: int) -> tuple[str, str]:
    """Return the VictoriaLogs AccountID setting of one team."""
    name = f"MLBUCKET_VICTORIALOGS_ACCOUNT_ID_{team_suffix(team)}"
    return (name, str(account_id))


def victorialogs_project_id(team: str) -> tuple[str, str]:
    """Return the VictoriaLogs ProjectID setting of one team."""
    return (f"MLBUCKET_VICTORIALOGS_PROJECT_ID_{team_suffix(team)}", "0")
