"""Loading and validating bucket specs."""

from __future__ import annotations

from typing import Any

import pytest

from otel_mlbucket import BucketSpec, SpecError

DEFAULT_OUTPUTS = (
    "hour",
    "day",
    "week",
    "model_name",
    "model_version",
    "feature_type",
    "validation",
    "validation_reason",
    "error_category",
    "drift",
    "latency",
    "confidence",
    "severity",
    "team",
)


def _spec(**dimensions: Any) -> dict[str, Any]:
    return {"dimensions": dimensions}


def _latency(**overrides: Any) -> dict[str, Any]:
    return {
        "kind": "range",
        "source": "ml.inference.latency_ms",
        "boundaries": [10, 50],
        "buckets": ["fast", "medium", "slow"],
        **overrides,
    }


def _rules(*rules: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {"kind": "rules", "rules": list(rules), **overrides}


VALIDATION = {
    "kind": "validation",
    "status_source": "ml.validation.status",
    "reason_source": "ml.validation.reason",
    "reasons": {"missing": ["missing"]},
}


def test_default_spec_outputs():
    spec = BucketSpec.default()

    assert set(spec.outputs()) == set(DEFAULT_OUTPUTS)
    assert spec.attribute_prefix == "ml.bucket"
    assert spec.invalid_bucket == "invalid"


def test_default_spec_routing_on_resource():
    spec = BucketSpec.default()

    assert set(spec.outputs("resource")) == {"model_version", "error_category", "team"}


@pytest.mark.parametrize(
    ("output", "values"),
    [
        (
            "error_category",
            (
                "data_validation_error",
                "infrastructure_error",
                "prediction_error",
                "none",
            ),
        ),
        ("team", ("data_engineering", "infrastructure", "modelling", "unowned")),
        ("validation", ("passed", "failed", "not_validated", "invalid")),
        ("validation_reason", ("none", "missing", "corrupted", "misaligned", "other")),
        (
            "drift",
            (
                "within_tolerance",
                "minor",
                "moderate",
                "severe",
                "not_measured",
                "invalid",
            ),
        ),
        (
            "latency",
            (
                "<10ms",
                "10-50ms",
                "50-100ms",
                "100-250ms",
                "250-500ms",
                "500-1000ms",
                ">=1000ms",
                "none",
                "invalid",
            ),
        ),
        ("confidence", ("very_low", "low", "medium", "high", "none", "invalid")),
        (
            "severity",
            (
                "trace",
                "debug",
                "info",
                "warn",
                "error",
                "fatal",
                "unspecified",
                "invalid",
            ),
        ),
        ("feature_type", ("categorical", "numerical", "none", "invalid")),
        ("model_name", None),
        ("hour", None),
    ],
)
def test_default_spec_bucket_values(output, values):
    assert BucketSpec.default().bucket_values()[output] == values


def test_yaml_and_dict_build_same_spec():
    text = """
dimensions:
  latency:
    kind: range
    source: ml.inference.latency_ms
    boundaries: [10, 50]
    buckets: [fast, medium, slow]
"""
    from_yaml = BucketSpec.from_yaml(text)
    from_dict = BucketSpec.from_dict(_spec(latency=_latency()))

    assert from_yaml.source == from_dict.source
    assert from_yaml.bucket_values() == from_dict.bucket_values()


def test_dict_accepts_tuples():
    spec = BucketSpec.from_dict(
        _spec(latency=_latency(boundaries=(10, 50), buckets=("fast", "medium", "slow")))
    )

    assert spec.dimension_of("latency").bucket_of(10) == "medium"


def test_from_file_reads_yaml(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("dimensions:\n  time:\n    kind: time\n", encoding="utf-8")

    spec = BucketSpec.from_file(path)

    assert spec.outputs() == ("hour", "day", "week")


def test_from_file_missing_raises_oserror(tmp_path):
    with pytest.raises(OSError):
        BucketSpec.from_file(tmp_path / "absent.yaml")


def test_invalid_yaml_names_origin():
    with pytest.raises(SpecError) as raised:
        BucketSpec.from_yaml("dimensions: [unclosed", origin="my-spec.yaml")

    assert "my-spec.yaml is not valid YAML" in str(raised.value)


def test_yaml_that_is_not_mapping():
    with pytest.raises(SpecError) as raised:
        BucketSpec.from_yaml("- a\n- b\n", origin="list.yaml")

    assert "list.yaml is ['a', 'b']" in str(raised.value)
    assert "'dimensions' key" in str(raised.value)


CYCLE = _spec(
    a=_rules({"bucket": "x", "when": {"dimension": "b", "equals": "y"}}),
    b=_rules({"bucket": "y", "when": {"dimension": "a", "equals": "x"}}),
)

# (spec, key, shown value, part of the fix or the valid choices)
BAD_SPECS = [
    ([1, 2], "spec", "[1, 2]", "'dimensions' key"),
    ({"dimension": {}}, "dimension", "{}", "Valid keys: version, attribute_prefix"),
    ({"version": 2, "dimensions": {}}, "version", "2", "spec version 1"),
    ({"dimensions": {}}, "dimensions", "{}", "non-empty mapping"),
    (
        {"attribute_prefix": "ML.Bucket", "dimensions": {"t": {"kind": "time"}}},
        "attribute_prefix",
        "'ML.Bucket'",
        "for example ml.bucket",
    ),
    (
        {"invalid_bucket": "", "dimensions": {"t": {"kind": "time"}}},
        "invalid_bucket",
        "''",
        "1 to 64 characters",
    ),
    (_spec(Time={"kind": "time"}), "dimensions.Time", "'Time'", "[a-z][a-z0-9_]*"),
    (_spec(t="time"), "dimensions.t", "'time'", "mapping with a 'kind'"),
    (
        _spec(x={"kind": "histogram"}),
        "dimensions.x.kind",
        "'histogram'",
        "time, passthrough, range, drift, severity, feature_type, validation, rules",
    ),
    (
        _spec(t={"kind": "time", "placement": "span"}),
        "dimensions.t.placement",
        "'span'",
        "resource, record, store",
    ),
    (
        _spec(t={"kind": "time", "granularities": ["hour", "minute"]}),
        "dimensions.t.granularities",
        "'minute'",
        "hour, day, week",
    ),
    (
        _spec(t={"kind": "time", "granularities": ["hour", "hour"]}),
        "dimensions.t.granularities",
        "['hour', 'hour']",
        "without repeats",
    ),
    (
        _spec(t={"kind": "time", "timezone": "Mars/Olympus"}),
        "dimensions.t.timezone",
        "'Mars/Olympus'",
        "Europe/Berlin",
    ),
    (
        _spec(t={"kind": "time", "colour": "red"}),
        "dimensions.t.colour",
        "'red'",
        "Valid keys: granularities, kind, placement, timezone",
    ),
    (
        _spec(m={"kind": "passthrough"}),
        "dimensions.m.source",
        "None",
        "for example ml.model.name",
    ),
    (
        _spec(m={"kind": "passthrough", "source": "a", "max_distinct": 0}),
        "dimensions.m.max_distinct",
        "0",
        "positive integer",
    ),
    (
        _spec(m={"kind": "passthrough", "source": "a", "max_distinct": True}),
        "dimensions.m.max_distinct",
        "True",
        "positive integer",
    ),
    (
        _spec(l=_latency(boundaries=[50, 10])),
        "dimensions.l.boundaries",
        "[50, 10]",
        "strictly increasing",
    ),
    (
        _spec(l=_latency(boundaries=[10, float("nan")])),
        "dimensions.l.boundaries",
        "nan",
        "finite number",
    ),
    (
        _spec(l=_latency(boundaries=[10, "50"])),
        "dimensions.l.boundaries",
        "'50'",
        "finite number",
    ),
    (
        _spec(l=_latency(buckets=["fast", "slow"])),
        "dimensions.l.buckets",
        "['fast', 'slow']",
        "3 bucket names",
    ),
    (
        _spec(l=_latency(buckets=["fast", "fast", "slow"])),
        "dimensions.l.buckets",
        "['fast', 'fast', 'slow']",
        "must be unique",
    ),
    (
        _spec(l=_latency(buckets=["fast", 'me"dium', "slow"])),
        "dimensions.l.buckets",
        "'me\"dium'",
        "without quotes",
    ),
    (
        _spec(l=_latency(min_value=5, max_value=1)),
        "dimensions.l.max_value",
        "1.0",
        "min_value (5.0)",
    ),
    (
        _spec(l=_latency(min_value="0")),
        "dimensions.l.min_value",
        "'0'",
        "must be a number",
    ),
    (
        _spec(
            d={
                "kind": "drift",
                "expected_source": "e",
                "actual_source": "a",
                "measure": "ratio",
                "boundaries": [0.1],
                "buckets": ["ok", "bad"],
            }
        ),
        "dimensions.d.measure",
        "'ratio'",
        "relative, absolute",
    ),
    (
        _spec(
            d={
                "kind": "drift",
                "expected_source": "e",
                "actual_source": "a",
                "epsilon": 0,
                "boundaries": [0.1],
                "buckets": ["ok", "bad"],
            }
        ),
        "dimensions.d.epsilon",
        "0.0",
        "positive number",
    ),
    (
        _spec(s={"kind": "severity", "starts": {"info": 9, "error": 17}}),
        "dimensions.s.starts",
        "{'info': 9, 'error': 17}",
        "lowest start must be 1",
    ),
    (
        _spec(s={"kind": "severity", "starts": {"low": 1, "info": 25}}),
        "dimensions.s.starts.info",
        "25",
        "1 to 24",
    ),
    (
        _spec(s={"kind": "severity", "starts": {"low": 1, "info": 1}}),
        "dimensions.s.starts",
        "{'low': 1, 'info': 1}",
        "same severity number",
    ),
    (
        _spec(
            f={
                "kind": "feature_type",
                "type_source": "t",
                "name_source": "n",
                "value_source": "v",
                "schema": {"age": "text"},
            }
        ),
        "dimensions.f.schema.age",
        "'text'",
        "categorical, numerical",
    ),
    (
        _spec(v={**VALIDATION, "reasons": {"other": ["x"]}}),
        "dimensions.v.reasons.other",
        "'other'",
        "reserved",
    ),
    (
        _spec(v={**VALIDATION, "reasons": {"missing": ["x"], "corrupt": ["X"]}}),
        "dimensions.v.reasons.corrupt",
        "'X'",
        "already maps to 'missing'",
    ),
    (
        _spec(v={**VALIDATION, "reasons": {"missing": "missing"}}),
        "dimensions.v.reasons.missing",
        "'missing'",
        "list of non-empty strings",
    ),
    (_spec(r=_rules()), "dimensions.r.rules", "[]", "non-empty list"),
    (
        _spec(r=_rules({"bucket": "x", "when": {}, "priority": 1})),
        "dimensions.r.rules[0]",
        "'priority': 1",
        "exactly the keys 'bucket' and 'when'",
    ),
    (
        _spec(
            r=_rules(
                {"bucket": "x", "when": {"attribute": "a", "exists": True, "in": [1]}}
            )
        ),
        "dimensions.r.rules[0].when",
        "'exists': True",
        "equals, in, matches, exists",
    ),
    (
        _spec(r=_rules({"bucket": "x", "when": {"attribute": "a", "matches": "(a"}})),
        "dimensions.r.rules[0].when.matches",
        "'(a'",
        "not a valid regular expression",
    ),
    (
        _spec(r=_rules({"bucket": "x", "when": {"attribute": "a", "exists": "yes"}})),
        "dimensions.r.rules[0].when.exists",
        "'yes'",
        "true or false",
    ),
    (
        _spec(r=_rules({"bucket": "x", "when": {"attribute": "a", "in": [{"k": 1}]}})),
        "dimensions.r.rules[0].when.in",
        "{'k': 1}",
        "strings, numbers or booleans",
    ),
    (
        _spec(
            r=_rules(
                {"bucket": "x", "when": {"attribute": "a", "equals": float("inf")}}
            )
        ),
        "dimensions.r.rules[0].when.equals",
        "inf",
        "must be finite",
    ),
    (
        _spec(r=_rules({"bucket": "x", "when": {"dimension": "nope", "equals": "y"}})),
        "dimensions.r.rules",
        "'nope'",
        "Valid choices: r",
    ),
    (CYCLE, "dimensions.a.rules", "'a -> b -> a'", "cycle"),
    (
        _spec(
            validation=VALIDATION,
            r=_rules(
                {"bucket": "x", "when": {"dimension": "validation", "equals": "faild"}}
            ),
        ),
        "dimensions.r.rules[0].when.equals",
        "'faild'",
        "Valid choices: passed, failed, not_validated, invalid",
    ),
    (
        _spec(
            l=_latency(),
            r=_rules(
                {"bucket": "x", "when": {"dimension": "l", "in": ["fast", "Slow"]}}
            ),
        ),
        "dimensions.r.rules[0].when.in",
        "'Slow'",
        "Valid choices: fast, medium, slow, none, invalid",
    ),
    (
        _spec(t={"kind": "time"}, hour={"kind": "passthrough", "source": "a"}),
        "dimensions.hour",
        "'hour'",
        "dimension 't' writes too",
    ),
]


@pytest.mark.parametrize(("mapping", "key", "shown", "fix"), BAD_SPECS)
def test_bad_spec_message(mapping, key, shown, fix):
    with pytest.raises(SpecError) as raised:
        BucketSpec.from_dict(mapping)

    message = str(raised.value)
    assert message.startswith(f"Invalid bucket spec: {key} is ")
    assert shown in message
    assert fix in message


def test_spec_error_is_value_error():
    assert issubclass(SpecError, ValueError)


def test_long_value_shortened_in_message():
    with pytest.raises(SpecError) as raised:
        BucketSpec.from_dict(_spec(t={"kind": "time", "timezone": "x" * 500}))

    assert len(str(raised.value)) < 400
    assert "..." in str(raised.value)


def test_with_placements_moves_dimension():
    spec = BucketSpec.default().with_placements({"latency": "record"})

    assert "latency" in spec.outputs("record")
    assert "latency" not in BucketSpec.default().outputs("record")


def test_with_placements_unknown_dimension():
    with pytest.raises(SpecError) as raised:
        BucketSpec.default().with_placements({"lateny": "record"})

    message = str(raised.value)
    assert "placements.lateny" in message
    assert "Valid choices: time, model_name" in message


def test_with_placements_bad_placement():
    with pytest.raises(SpecError) as raised:
        BucketSpec.default().with_placements({"latency": "everywhere"})

    assert "dimensions.latency.placement is 'everywhere'" in str(raised.value)
    assert "resource, record, store" in str(raised.value)


def test_with_feature_schema_merges():
    spec = BucketSpec.default().with_feature_schema({"sex": "categorical"})

    feature_type = spec.dimension_of("feature_type")
    assert feature_type.bucket_of(None, "sex", 2) == "categorical"
    assert feature_type.bucket_of(None, "age", 2) == "numerical"


def test_with_feature_schema_validates():
    with pytest.raises(SpecError) as raised:
        BucketSpec.default().with_feature_schema({"sex": "binary"})

    assert "schema.sex is 'binary'" in str(raised.value)


def test_evaluation_order_puts_dependencies_first():
    names = [d.name for d in BucketSpec.default().dimensions]

    assert names.index("validation") < names.index("error_category")
    assert names.index("error_category") < names.index("team")
    assert names.index("drift") < names.index("team")
    assert names.index("latency") < names.index("team")


def test_source_is_deep_copy():
    mapping = _spec(l=_latency())

    spec = BucketSpec.from_dict(mapping)
    mapping["dimensions"]["l"]["buckets"][0] = "changed"

    assert spec.source["dimensions"]["l"]["buckets"][0] == "fast"
