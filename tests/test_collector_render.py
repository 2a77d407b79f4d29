"""The collector config renderer: shipped files, routes, labels and rejected specs."""

from __future__ import annotations

import argparse
import copy
import json
import re
import struct
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml

from otel_mlbucket import BucketSpec
from otel_mlbucket.cli import UsageError
from otel_mlbucket.collector import (
    CollectorConfigError,
    file_names,
    read_file_export,
    render_files,
    render_gateway,
    render_loki_config,
    route_table,
)
from otel_mlbucket.collector._gateway import gateway_document
from otel_mlbucket.collector._loki import loki_document
from otel_mlbucket.collector._yaml import Commented, dump, scalar, strip_comments
from otel_mlbucket.commands import collector_config

CONFIG_DIR = Path(__file__).resolve().parents[1] / "collector-config"
TEAMS = ("data_engineering", "infrastructure", "modelling", "unowned")
BACKENDS = ("loki", "victorialogs")
ENV_REFERENCE = re.compile(r"\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*):-([^}]*)\}")


def _spec_with(change) -> BucketSpec:
    mapping = copy.deepcopy(BucketSpec.default().source)
    change(mapping["dimensions"])
    return BucketSpec.from_dict(mapping)


def _gateway(backend: str, spec: BucketSpec | None = None) -> dict[str, Any]:
    return yaml.safe_load(render_gateway(spec or BucketSpec.default(), backend))


@pytest.mark.parametrize("name", file_names())
def test_shipped_file_matches_render(name: str):
    shipped = (CONFIG_DIR / name).read_text(encoding="utf-8")

    rendered = render_files(BucketSpec.default())[name]

    assert shipped == rendered, (
        f"collector-config/{name} is out of date with the default spec: run "
        "`otel-mlbucket collector-config --output-dir collector-config`."
    )


def test_route_table_covers_every_team():
    spec = BucketSpec.default()

    table = route_table(spec)

    assert tuple(route.team for route in table.routes) == TEAMS
    assert set(spec.bucket_values()["team"]) == set(TEAMS)
    assert table.default.team == "unowned"
    assert table.default.is_default
    assert table.attribute == "ml.bucket.team"


@pytest.mark.parametrize("backend", BACKENDS)
def test_routing_table_matches_each_team_once(backend: str):
    routing = _gateway(backend)["connectors"]["routing"]

    conditions = [entry["condition"] for entry in routing["table"]]

    assert conditions == [
        f'attributes["ml.bucket.team"] == "{team}"' for team in TEAMS[:-1]
    ]
    assert [entry["pipelines"] for entry in routing["table"]] == [
        [f"logs/{team}"] for team in TEAMS[:-1]
    ]
    assert {entry["context"] for entry in routing["table"]} == {"resource"}
    assert {entry["action"] for entry in routing["table"]} == {"move"}
    assert routing["default_pipelines"] == ["logs/unowned"]
    assert routing["error_mode"] == "ignore"


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_team_pipeline_exports_twice(backend: str):
    config = _gateway(backend)
    pipelines = config["service"]["pipelines"]

    assert set(pipelines) == {"logs/intake", *(f"logs/{team}" for team in TEAMS)}
    assert pipelines["logs/intake"] == {
        "receivers": ["otlp"],
        "processors": ["memory_limiter", "resource/bucket_defaults", "batch"],
        "exporters": ["routing"],
    }
    for team in TEAMS:
        assert pipelines[f"logs/{team}"] == {
            "receivers": ["routing"],
            "exporters": [f"otlp_http/{team}", f"file/{team}"],
        }


@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_exporters_queue_on_disk(backend: str):
    exporters = _gateway(backend)["exporters"]

    for team in TEAMS:
        queue = exporters[f"otlp_http/{team}"]["sending_queue"]
        assert queue["enabled"] is True
        assert queue["storage"] == "file_storage/queue"
        retry = exporters[f"otlp_http/{team}"]["retry_on_failure"]
        assert retry["max_elapsed_time"] == "0s"


@pytest.mark.parametrize("backend", BACKENDS)
def test_file_exporters_write_per_bucket_files(backend: str):
    exporters = _gateway(backend)["exporters"]

    for team in TEAMS:
        file_exporter = exporters[f"file/{team}"]
        assert file_exporter["path"].endswith(f"/{team}/*.otlpjson.zst")
        assert file_exporter["format"] == "json"
        assert file_exporter["compression"] == "zstd"
        assert file_exporter["group_by"] == {
            "enabled": True,
            "resource_attribute": "ml.bucket.model_version",
        }
        assert "rotation" in file_exporter
        assert "append" not in file_exporter


def test_loki_tenant_per_team():
    exporters = _gateway("loki")["exporters"]

    for team in TEAMS:
        exporter = exporters[f"otlp_http/{team}"]
        suffix = team.upper()
        assert exporter["headers"] == {
            "X-Scope-OrgID": f"${{env:MLBUCKET_LOKI_TENANT_{suffix}:-{team}}}"
        }
        assert exporter["logs_endpoint"] == (
            f"${{env:MLBUCKET_LOKI_ENDPOINT_{suffix}:-http://127.0.0.1:3100}}"
            "/otlp/v1/logs"
        )


def test_victorialogs_account_per_team():
    exporters = _gateway("victorialogs")["exporters"]

    accounts = {}
    for team in TEAMS:
        exporter = exporters[f"otlp_http/{team}"]
        headers = exporter["headers"]
        accounts[team] = int(ENV_REFERENCE.fullmatch(headers["AccountID"]).group(2))
        assert exporter["encoding"] == "proto"
        assert exporter["logs_endpoint"].endswith("/insert/opentelemetry/v1/logs")
        assert headers["VL-Stream-Fields"] == (
            "service.name,ml.bucket.team,ml.bucket.error_category,"
            "ml.bucket.model_version"
        )

    assert accounts == {
        "data_engineering": 1,
        "infrastructure": 2,
        "modelling": 3,
        "unowned": 0,
    }


def test_bucket_defaults_insert_missing_attributes():
    processor = _gateway("loki")["processors"]["resource/bucket_defaults"]

    assert processor["attributes"] == [
        {"key": "ml.bucket.team", "value": "unowned", "action": "insert"},
        {"key": "ml.bucket.error_category", "value": "none", "action": "insert"},
        {"key": "ml.bucket.model_version", "value": "unknown", "action": "insert"},
    ]


@pytest.mark.parametrize("name", file_names())
def test_defaults_are_loopback_only(name: str):
    text = render_files(BucketSpec.default())[name]

    defaults = ENV_REFERENCE.findall(text)

    assert defaults
    for variable, default in defaults:
        assert re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", variable)
        host = re.match(r"^(?:https?://)?([^:/]+):\d+", default)
        if host:
            assert host.group(1) == "127.0.0.1", (variable, default)
    assert "0.0.0.0" not in text
    assert "localhost" not in text


def test_loki_config_indexes_routing_buckets():
    config = yaml.safe_load(render_loki_config(BucketSpec.default()))

    resource = config["limits_config"]["otlp_config"]["resource_attributes"]

    assert resource["ignore_defaults"] is True
    assert resource["attributes_config"] == [
        {
            "action": "index_label",
            "attributes": [
                "service.name",
                "ml.bucket.team",
                "ml.bucket.error_category",
                "ml.bucket.model_version",
            ],
        },
        {"action": "structured_metadata", "regex": ".*"},
    ]
    assert config["auth_enabled"] is True
    assert config["analytics"] == {"reporting_enabled": False}
    assert config["server"]["http_listen_address"] == "127.0.0.1"
    assert config["server"]["grpc_listen_address"] == "127.0.0.1"


def test_loki_config_states_cardinality():
    text = render_loki_config(BucketSpec.default())

    assert "ml_bucket_team            4 values" in text
    assert (
        "at most 35 per process: max_distinct 32 plus other, unknown, invalid" in text
    )
    assert "Per service: 4 x 4 x 35 = 560 label sets at most." in text
    assert "1 x 4 x 35 = 140 streams per service and tenant." in text
    assert "room for 35 services per tenant" in text


def test_unbounded_resource_output_not_indexed():
    def put_time_on_resource(dimensions):
        dimensions["time"]["placement"] = "resource"

    spec = _spec_with(put_time_on_resource)

    config = yaml.safe_load(render_loki_config(spec))

    indexed = config["limits_config"]["otlp_config"]["resource_attributes"]
    assert "ml.bucket.hour" not in indexed["attributes_config"][0]["attributes"]
    assert "Not indexed because unbounded: ml.bucket.hour" in render_loki_config(spec)


def test_new_team_bucket_gets_route():
    def add_research(dimensions):
        dimensions["team"]["rules"].insert(
            0,
            {
                "bucket": "research",
                "when": {"attribute": "ml.experiment", "exists": True},
            },
        )

    config = _gateway("loki", _spec_with(add_research))

    routing = config["connectors"]["routing"]
    assert routing["table"][0]["condition"] == (
        'attributes["ml.bucket.team"] == "research"'
    )
    assert "logs/research" in config["service"]["pipelines"]
    assert "otlp_http/research" in config["exporters"]


def _drop_team(dimensions):
    del dimensions["team"]


def _team_on_record(dimensions):
    dimensions["team"]["placement"] = "record"


def _team_passthrough(dimensions):
    dimensions["team"] = {
        "kind": "passthrough",
        "source": "ml.team",
        "placement": "resource",
    }


def _team_bucket(bucket: str):
    def change(dimensions):
        dimensions["team"]["rules"][0]["bucket"] = bucket

    return change


def _colliding_teams(dimensions):
    dimensions["team"]["rules"][0]["bucket"] = "Modelling"


def _only_default(dimensions):
    for rule in dimensions["team"]["rules"]:
        rule["bucket"] = "unowned"


def _many_resource_labels(dimensions):
    for index in range(13):
        dimensions[f"extra_{index}"] = {
            "kind": "rules",
            "rules": [{"bucket": "yes", "when": {"attribute": "x", "exists": True}}],
            "placement": "resource",
        }


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_drop_team, ["no 'team' dimension", "placement: resource"]),
        (_team_on_record, ["'record'", "Set dimensions.team.placement to resource"]),
        (_team_passthrough, ["kind 'passthrough'", "kind: rules"]),
        (_team_bucket("data engineering"), ["'data engineering'", "Rename it"]),
        (_team_bucket("ops/infra"), ["'ops/infra'", "Rename it"]),
        (_colliding_teams, ["'Modelling' and 'modelling'", "routed twice"]),
        (_only_default, ["'unowned'", "nothing to route"]),
        (_many_resource_labels, ["17 labels", "at most 15"]),
    ],
    ids=[
        "team_missing",
        "team_on_record",
        "team_open_kind",
        "bucket_with_space",
        "bucket_with_slash",
        "bucket_routed_twice",
        "only_default_bucket",
        "too_many_labels",
    ],
)
def test_unroutable_spec_rejected(change, expected: list[str]):
    spec = _spec_with(change)

    with pytest.raises(CollectorConfigError) as raised:
        render_files(spec)

    for text in expected:
        assert text in str(raised.value)


def test_unknown_backend_rejected():
    with pytest.raises(ValueError, match="Invalid backend 'kafka'"):
        render_files(BucketSpec.default(), ("kafka",))


def _run_command(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    subparsers = parser.add_subparsers(dest="command")
    collector_config.add_parser(subparsers)
    args = parser.parse_args(["collector-config", *argv])
    return collector_config.run(args)


def test_command_writes_files(tmp_path: Path):
    code = _run_command("--output-dir", str(tmp_path))

    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(file_names())
    for name, text in render_files(BucketSpec.default()).items():
        assert (tmp_path / name).read_text(encoding="utf-8") == text


def test_command_backend_selects_files(tmp_path: Path):
    code = _run_command("--backend", "victorialogs", "--output-dir", str(tmp_path))

    assert code == 0
    assert [p.name for p in tmp_path.iterdir()] == ["gateway-victorialogs.yaml"]


def test_command_check_passes_when_current(tmp_path: Path):
    _run_command("--output-dir", str(tmp_path))

    assert _run_command("--output-dir", str(tmp_path), "--check") == 0


def test_command_check_fails_when_stale(tmp_path: Path, capsys):
    _run_command("--output-dir", str(tmp_path))
    stale = tmp_path / "gateway-loki.yaml"
    stale.write_text(stale.read_text() + "# edited\n")
    capsys.readouterr()

    code = _run_command("--output-dir", str(tmp_path), "--check")

    assert code == 1
    assert (
        f"{stale} differs from the rendered config (1 lines)" in capsys.readouterr().err
    )


def test_command_check_fails_when_missing(tmp_path: Path, capsys):
    code = _run_command("--output-dir", str(tmp_path), "--check")

    assert code == 1
    assert "loki-config.yaml is missing" in capsys.readouterr().err


def test_command_missing_spec_is_usage_error(tmp_path: Path):
    with pytest.raises(UsageError, match="Spec file not found"):
        _run_command(
            "--spec", str(tmp_path / "absent.yaml"), "--output-dir", str(tmp_path)
        )


def test_command_unroutable_spec_is_usage_error(tmp_path: Path):
    mapping = copy.deepcopy(BucketSpec.default().source)
    mapping["dimensions"]["team"]["placement"] = "record"
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(mapping))

    with pytest.raises(UsageError, match="placement to resource"):
        _run_command("--spec", str(spec_path), "--output-dir", str(tmp_path / "out"))


def test_command_names_custom_spec_in_header(tmp_path: Path):
    spec_path = tmp_path / "ml-spec.yaml"
    spec_path.write_text(yaml.safe_dump(BucketSpec.default().source))

    _run_command("--spec", str(spec_path), "--output-dir", str(tmp_path / "out"))

    text = (tmp_path / "out" / "gateway-loki.yaml").read_text()
    assert "from\n# the bucket spec ml-spec.yaml." in text


@pytest.mark.parametrize("backend", BACKENDS)
def test_yaml_writer_round_trips_gateway(backend: str):
    document = gateway_document(route_table(BucketSpec.default()), backend)

    assert yaml.safe_load(dump(document)) == strip_comments(document)


def test_yaml_writer_round_trips_loki():
    document = loki_document(route_table(BucketSpec.default()))
    expected = strip_comments(document)

    loaded = yaml.safe_load(dump(document))

    # The unquoted ${VAR:-default} references read back as plain strings.
    assert loaded == expected


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("plain_word", "plain_word"),
        ("true", "'true'"),
        ("1", "'1'"),
        ("2024-04-01", "'2024-04-01'"),
        ("a b", "'a b'"),
        ("it's", "'it''s'"),
        ("${env:X:-1}", "'${env:X:-1}'"),
        (True, "true"),
        (8192, "8192"),
    ],
)
def test_yaml_scalar_quotes_when_needed(value, written: str):
    assert scalar(value) == written


def test_yaml_writer_puts_comments_above_keys():
    text = dump({"a": Commented("why a\nsecond line", {"b": 1})}, header="top")

    assert text == "# top\n\n# why a\n# second line\na:\n  b: 1\n"


def _frame(request: dict) -> bytes:
    compressed = pa.compress(json.dumps(request).encode(), codec="zstd", asbytes=True)
    return struct.pack(">I", len(compressed)) + compressed


def test_read_file_export_reads_zstd_frames(tmp_path: Path):
    requests = [{"resourceLogs": [{"n": 1}]}, {"resourceLogs": [{"n": 2}]}]
    path = tmp_path / "v1.otlpjson.zst"
    path.write_bytes(b"".join(_frame(request) for request in requests))

    assert list(read_file_export(path)) == requests


def test_read_file_export_reads_json_lines(tmp_path: Path):
    path = tmp_path / "v1.json"
    path.write_text('{"resourceLogs": []}\n{"resourceLogs": [{}]}\n')

    assert list(read_file_export(path)) == [
        {"resourceLogs": []},
        {"resourceLogs": [{}]},
    ]


def test_read_file_export_rejects_truncated_frame(tmp_path: Path):
    whole = _frame({"resourceLogs": []})
    path = tmp_path / "v1.otlpjson.zst"
    path.write_bytes(whole + whole[:-3])

    reader = read_file_export(path)

    assert next(reader) == {"resourceLogs": []}
    with pytest.raises(ValueError, match="ends inside the frame that starts at byte"):
        next(reader)
