"""The Loki config: a single-binary Loki 3.5+ whose OTLP mapping indexes the buckets.

Option names follow the Loki 3.5 configuration reference. Loki is not run by the
tests (it is AGPL-licensed and not part of the test setup), so this config is
checked by its structure only.
"""

from __future__ import annotations

import math
from typing import Any

from otel_mlbucket.collector._routes import (
    LOKI_MAX_LABEL_NAMES,
    SERVICE_NAME,
    RouteTable,
)
from otel_mlbucket.collector._yaml import Commented, Raw

LOKI_MAX_STREAMS_PER_TENANT = 5000
"""Loki's default `limits_config.max_global_streams_per_user` (Loki 3.x)."""

_DATA_DIR = "${LOKI_DATA_DIR:-/tmp/loki-mlbucket}"


def loki_header() -> str:
    """Return the comment block that opens the Loki config."""
    return (
        "Grafana Loki 3.5+ (single binary) for the gateway in gateway-loki.yaml:\n"
        "one tenant per team, and index labels for the routing buckets only.\n"
        "Start it with `loki -config.file=loki-config.yaml -config.expand-env=true`,\n"
        "which resolves the ${VAR:-default} references below. It listens on\n"
        "127.0.0.1 only.\n"
        "NOTE: the otel-mlbucket tests do not run Loki. This file follows the\n"
        "Loki 3.5 configuration reference and is checked by its structure only."
    )


def loki_document(table: RouteTable) -> dict[str, Any]:
    """Return the Loki config, with comments, as nested dicts."""
    return {
        "auth_enabled": Commented(
            "Multi-tenant: each request names its tenant in X-Scope-OrgID, which\n"
            "the gateway sets per team.",
            True,
        ),
        "server": {
            "http_listen_address": "127.0.0.1",
            "http_listen_port": Raw("${LOKI_HTTP_PORT:-3100}"),
            "grpc_listen_address": "127.0.0.1",
            "grpc_listen_port": Raw("${LOKI_GRPC_PORT:-9095}"),
        },
        "common": {
            "instance_addr": "127.0.0.1",
            "path_prefix": Raw(_DATA_DIR),
            "storage": {
                "filesystem": {
                    "chunks_directory": Raw(f"{_DATA_DIR}/chunks"),
                    "rules_directory": Raw(f"{_DATA_DIR}/rules"),
                }
            },
            "replication_factor": 1,
            "ring": {"kvstore": {"store": "inmemory"}},
        },
        "schema_config": Commented(
            "Schema v13 with the TSDB index: the first that stores structured\n"
            "metadata, which OTLP ingestion needs.",
            {
                "configs": [
                    {
                        "from": "2024-04-01",
                        "store": "tsdb",
                        "object_store": "filesystem",
                        "schema": "v13",
                        "index": {"prefix": "index_", "period": "24h"},
                    }
                ]
            },
        ),
        "limits_config": _limits(table),
        "analytics": Commented(
            "Loki reports anonymous usage statistics to stats.grafana.org unless\n"
            "this is off.",
            {"reporting_enabled": False},
        ),
    }


def _limits(table: RouteTable) -> dict[str, Any]:
    indexed = [SERVICE_NAME, *(label.attribute for label in table.indexed)]
    mapping = {
        "resource_attributes": {
            "ignore_defaults": True,
            "attributes_config": [
                {"action": "index_label", "attributes": indexed},
                {"action": "structured_metadata", "regex": ".*"},
            ],
        }
    }
    return {
        "allow_structured_metadata": True,
        "max_label_names_per_series": LOKI_MAX_LABEL_NAMES,
        "max_global_streams_per_user": Commented(
            _stream_budget(table), LOKI_MAX_STREAMS_PER_TENANT
        ),
        "otlp_config": Commented(_cardinality(table), mapping),
    }


def _cardinality(table: RouteTable) -> str:
    width = max(len(label.loki_label) for label in table.labels) + 2
    rows = [f"  {'service_name':<{width}}one per service"]
    rows += [f"  {label.loki_label:<{width}}{label.bound}" for label in table.labels]
    skipped = [label.attribute for label in table.labels if label.max_values is None]

    text = (
        "OTLP mapping. Loki makes index labels of the resource attributes listed\n"
        "under index_label, with '.' as '_' (service.name becomes service_name).\n"
        "ignore_defaults drops Loki's default label list (k8s.pod.name and\n"
        "others). Every other resource, scope and log attribute is kept as\n"
        "structured metadata, which is stored with each line and not indexed.\n"
        "\n"
        "Stream cardinality: Loki keeps one stream per tenant and label set.\n"
        + "\n".join(rows)
        + "\n"
        + f"Per service: {_product_text(table, per_tenant=False)} label sets at most.\n"
        "The gateway sends each team to its own tenant, so a tenant contains one\n"
        "team value (the default tenant also contains values outside the spec):\n"
        f"{_product_text(table, per_tenant=True)} streams per service and tenant.\n"
        "NOTE: a passthrough cap such as max_distinct applies per process, so\n"
        "replicas that see different values can exceed it together."
    )
    if skipped:
        text += "\nNot indexed because unbounded: " + ", ".join(skipped) + "."

    return text


def _stream_budget(table: RouteTable) -> str:
    per_service = _streams_per_tenant(table)
    services = LOKI_MAX_STREAMS_PER_TENANT // per_service
    return (
        f"Loki's default. At {per_service} streams per service and tenant (see\n"
        f"otlp_config), it leaves room for {services} services per tenant."
    )


def _streams_per_tenant(table: RouteTable) -> int:
    others = [label.max_values for label in table.indexed[1:]]
    return math.prod(value for value in others if value is not None)


def _product_text(table: RouteTable, per_tenant: bool) -> str:
    factors = [label.max_values or 1 for label in table.indexed]
    if per_tenant:
        factors[0] = 1

    product = math.prod(factors)
    return " x ".join(str(factor) for factor in factors) + f" = {product}"
