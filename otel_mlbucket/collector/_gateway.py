"""The gateway collector config: OTLP in, routing by team, one pipeline per team.

Component names and options are those of otelcol v0.148.0 (core v1.54.0) and
collector-contrib v0.148.0, the releases collector-config/builder-config.yaml
pins.
"""

from __future__ import annotations

import textwrap
from typing import Any

from otel_mlbucket.collector import _env
from otel_mlbucket.collector._routes import SERVICE_NAME, Route, RouteTable
from otel_mlbucket.collector._yaml import Commented

BACKENDS = ("loki", "victorialogs")
QUEUE_STORAGE = "file_storage/queue"
INTAKE_PIPELINE = "logs/intake"
BATCH_MAX_RECORDS = 8192
QUEUE_MAX_BATCHES = 1000

_COMMENT_WIDTH = 84
_BACKEND_TITLES = {"loki": "Grafana Loki", "victorialogs": "VictoriaLogs"}

_BACKEND_NOTES = {
    "loki": (
        "otlp_http/<team> sends to Loki's native OTLP endpoint, with the team's\n"
        "tenant in X-Scope-OrgID.\n"
    ),
    "victorialogs": (
        "otlp_http/<team> sends to the VictoriaLogs OTLP endpoint, which accepts\n"
        "protobuf only, with the team's tenant in AccountID and ProjectID.\n"
        "VL-Stream-Fields makes the bounded resource attributes the stream fields,\n"
        "where VictoriaLogs would otherwise use every resource attribute.\n"
    ),
}
_QUEUE_NOTE = (
    f"Their sending queues are on disk: up to {QUEUE_MAX_BATCHES} batches of up to\n"
    f"{BATCH_MAX_RECORDS} records each, after which new data is rejected and the\n"
    "sender retries. Retryable errors (HTTP 429, 502, 503 and 504, and no\n"
    "connection) are retried with no time limit, so an outage fills the queue\n"
    "instead of dropping data. Every other error status, 500 included, drops the\n"
    "batch.\n"
    "\n"
)
_COLD_STORAGE_NOTE = (
    "file/<team> is the team's cold storage: one file per {attribute}\n"
    "value (group_by), in OTLP JSON. With zstd, each export is one zstd frame\n"
    "preceded by its length as a 4-byte big-endian integer; read the files with\n"
    "otel_mlbucket.collector.read_file_export. `rotation` is set so that a restart\n"
    "appends to the file: without it the exporter truncates its file at start,\n"
    "and `append` cannot be combined with compression. With rotation, writes are\n"
    "not buffered. max_backups 0 keeps every rotated file."
)


def gateway_document(table: RouteTable, backend: str) -> dict[str, Any]:
    """Return the gateway config for one backend, with comments, as nested dicts."""
    if backend not in BACKENDS:
        raise ValueError(
            f"Invalid backend {backend!r}: use one of {', '.join(BACKENDS)}."
        )

    exporters: dict[str, Any] = {}
    for route in table.routes:
        exporters[f"otlp_http/{route.team}"] = _backend_exporter(table, route, backend)
        exporters[f"file/{route.team}"] = _file_exporter(table, route)
    exporters_comment = (
        _BACKEND_NOTES[backend]
        + _QUEUE_NOTE
        + _COLD_STORAGE_NOTE.format(attribute=table.cold_storage_attribute)
    )

    return {
        "extensions": _extensions(),
        "receivers": _receivers(),
        "processors": _processors(table),
        "connectors": {"routing": _routing(table)},
        "exporters": Commented(exporters_comment, exporters),
        "service": _service(table),
    }


def gateway_header(table: RouteTable, backend: str) -> str:
    """Return the comment block that opens a gateway config."""
    title = _BACKEND_TITLES[backend]
    teams = ", ".join(route.team for route in table.routed)
    summary = (
        f"Gateway collector for {title}. It receives OTLP logs from services that "
        f"run the otel-mlbucket processor and routes each resource group on its "
        f"{table.attribute} attribute: {teams} each get a pipeline, and "
        f"{table.default.team} and every other value go to the default pipeline "
        f"{table.default.pipeline}. Each pipeline exports to the team's {title} "
        "tenant through a persistent queue, and to per-bucket cold-storage files."
    )
    return (
        textwrap.fill(summary, width=_COMMENT_WIDTH, break_on_hyphens=False)
        + "\n\n"
        + "Every address, directory and tenant is ${env:NAME:-default}: set NAME to\n"
        "override it. The defaults listen on and send to 127.0.0.1 only."
    )


def _extensions() -> dict[str, Any]:
    return {
        "health_check": Commented(
            "Returns 200 to GET / once every pipeline has started.",
            {"endpoint": _env.reference(_env.HEALTH_CHECK_ENDPOINT)},
        ),
        QUEUE_STORAGE: Commented(
            "Stores the sending queues of the backend exporters on disk, so that\n"
            "batches the collector accepted survive a restart. Set\n"
            f"{_env.QUEUE_FSYNC[0]}=true to also survive a power loss, at the cost\n"
            "of one fsync per write.",
            {
                "directory": _env.reference(_env.QUEUE_DIR),
                "create_directory": True,
                "fsync": _env.reference(_env.QUEUE_FSYNC),
            },
        ),
    }


def _receivers() -> dict[str, Any]:
    return {
        "otlp": {
            "protocols": {
                "grpc": {"endpoint": _env.reference(_env.OTLP_GRPC_ENDPOINT)},
                "http": {"endpoint": _env.reference(_env.OTLP_HTTP_ENDPOINT)},
            }
        }
    }


def _processors(table: RouteTable) -> dict[str, Any]:
    defaults = [
        {"key": label.attribute, "value": label.missing_bucket, "action": "insert"}
        for label in table.labels
        if label.missing_bucket is not None
    ]
    return {
        "memory_limiter": Commented(
            "First in the pipeline: above the limit it rejects data, and the\n"
            "senders retry, before the collector runs out of memory. Percentages\n"
            "are of the memory limit of the container, else of the host.",
            {
                "check_interval": "1s",
                "limit_percentage": 80,
                "spike_limit_percentage": 20,
            },
        ),
        "resource/bucket_defaults": Commented(
            "Gives resources without bucket attributes (from services that do not\n"
            "run the processor) the spec's default buckets. `insert` never\n"
            "overwrites a value. Such records then route to the default pipeline,\n"
            "carry the same backend labels, and get a cold-storage file: the file\n"
            "exporter's group_by drops resources that lack its attribute.",
            {"attributes": defaults},
        ),
        "batch": Commented(
            f"Up to {BATCH_MAX_RECORDS} records per batch, sent 200 ms after the\n"
            "first at the latest. A batch is in memory only: shutdown on SIGTERM\n"
            "flushes it, but SIGKILL or a crash loses it after the receiver has\n"
            "acknowledged it to the sender.",
            {
                "timeout": "200ms",
                "send_batch_size": BATCH_MAX_RECORDS,
                "send_batch_max_size": BATCH_MAX_RECORDS,
            },
        ),
    }


def _routing(table: RouteTable) -> Commented:
    entries = [
        {
            "context": "resource",
            "condition": f'attributes["{table.attribute}"] == "{route.team}"',
            "action": "move",
            "pipelines": [route.pipeline],
        }
        for route in table.routed
    ]
    return Commented(
        "Routes are tried in table order. `action: move` takes a matched resource\n"
        "group out of later routes, so the first match wins and each group goes\n"
        "to one pipeline. Groups that no route matches go to default_pipelines,\n"
        "so no record is dropped unrouted. error_mode ignore counts a condition\n"
        "that fails to evaluate as no match (the group goes on to later routes\n"
        "and the default), where propagate would fail the whole request.",
        {
            "error_mode": "ignore",
            "default_pipelines": [table.default.pipeline],
            "table": entries,
        },
    )


def _backend_exporter(table: RouteTable, route: Route, backend: str) -> Commented:
    queue = {
        "enabled": True,
        "storage": QUEUE_STORAGE,
        "num_consumers": 4,
        "queue_size": QUEUE_MAX_BATCHES,
    }
    retry = {
        "enabled": True,
        "initial_interval": "1s",
        "max_interval": "30s",
        "max_elapsed_time": "0s",
    }
    if backend == "loki":
        settings = _loki_settings(route)
        tenant = "X-Scope-OrgID"
    else:
        settings = _victorialogs_settings(table, route)
        tenant = "AccountID and ProjectID"

    return Commented(
        f"Team {route.team}: tenant from {tenant}.",
        {**settings, "sending_queue": queue, "retry_on_failure": retry},
    )


def _loki_settings(route: Route) -> dict[str, Any]:
    endpoint = _env.reference(_env.loki_endpoint(route.team))
    return {
        "logs_endpoint": f"{endpoint}/otlp/v1/logs",
        "headers": {"X-Scope-OrgID": _env.reference(_env.loki_tenant(route.team))},
    }


def _victorialogs_settings(table: RouteTable, route: Route) -> dict[str, Any]:
    endpoint = _env.reference(_env.victorialogs_endpoint(route.team))
    account = _env.victorialogs_account_id(route.team, route.account_id)
    stream_fields = [SERVICE_NAME, *(label.attribute for label in table.indexed)]
    return {
        "logs_endpoint": f"{endpoint}/insert/opentelemetry/v1/logs",
        "encoding": "proto",
        "headers": {
            "AccountID": _env.reference(account),
            "ProjectID": _env.reference(_env.victorialogs_project_id(route.team)),
            "VL-Stream-Fields": ",".join(stream_fields),
        },
    }


def _file_exporter(table: RouteTable, route: Route) -> Commented:
    directory = _env.reference(_env.COLD_STORAGE_DIR)
    return Commented(
        f"Team {route.team}: cold storage, one file per {table.cold_storage_attribute}.",
        {
            "path": f"{directory}/{route.team}/*.otlpjson.zst",
            "format": "json",
            "compression": "zstd",
            "create_directory": True,
            "rotation": {"max_megabytes": 100, "max_backups": 0},
            "group_by": {
                "enabled": True,
                "resource_attribute": table.cold_storage_attribute,
            },
        },
    )


def _service(table: RouteTable) -> dict[str, Any]:
    pipelines: dict[str, Any] = {
        INTAKE_PIPELINE: {
            "receivers": ["otlp"],
            "processors": ["memory_limiter", "resource/bucket_defaults", "batch"],
            "exporters": ["routing"],
        }
    }
    for route in table.routes:
        pipelines[route.pipeline] = {
            "receivers": ["routing"],
            "exporters": [f"otlp_http/{route.team}", f"file/{route.team}"],
        }

    metrics_reader = {
        "pull": {
            "exporter": {
                "prometheus": {
                    "host": "127.0.0.1",
                    "port": _env.reference(_env.TELEMETRY_METRICS_PORT),
                }
            }
        }
    }
    return {
        "extensions": ["health_check", QUEUE_STORAGE],
        "telemetry": Commented(
            "The collector's own metrics, such as otelcol_exporter_sent_log_records\n"
            "and otelcol_exporter_enqueue_failed_log_records, in Prometheus format.",
            {"metrics": {"readers": [metrics_reader]}},
        ),
        "pipelines": pipelines,
    }
