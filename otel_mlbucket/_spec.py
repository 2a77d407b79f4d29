"""The declarative bucket spec: loading, validation and the compiled dimensions."""

from __future__ import annotations

import copy
import itertools
import math
import os
import re
import zoneinfo
from collections.abc import Mapping
from importlib import resources
from typing import Any, ClassVar

from otel_mlbucket import _dimensions as dims
from otel_mlbucket._stats import BucketStats

PLACEMENTS = ("resource", "record", "store")
KINDS = (
    "time",
    "passthrough",
    "range",
    "drift",
    "severity",
    "feature_type",
    "validation",
    "rules",
)
GRANULARITIES = ("hour", "day", "week")
OPERATORS = ("equals", "in", "matches", "exists")
DRIFT_MEASURES = ("relative", "absolute")
TOP_LEVEL_KEYS = ("version", "attribute_prefix", "invalid_bucket", "dimensions")
SPEC_VERSIONS = (1,)

# Names the collector's OTTL, Loki labels and Parquet partition keys all accept.
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_PREFIX = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
_BUCKET = re.compile(r"^[^\x00-\x1f\"\\]{1,64}$")


class SpecError(ValueError):
    """A bucket spec is invalid. The message names the key, the value and the fix."""


def _fail(key: str, value: Any, problem: str) -> SpecError:
    shown = repr(value)
    if len(shown) > 120:
        shown = shown[:117] + "..."

    return SpecError(f"Invalid bucket spec: {key} is {shown}, but {problem}")


class BucketSpec:
    """A validated bucket spec, compiled into dimensions in evaluation order.

    Build one with `BucketSpec.default()`, `BucketSpec.from_file(path)` or
    `BucketSpec.from_dict(mapping)`. Invalid specs raise `SpecError` at load time.

    Attributes:
        attribute_prefix: Prefix of written attributes, "ml.bucket" by default.
        invalid_bucket: Bucket of present values that cannot be bucketed.
        dimensions: The dimensions, ordered so that each comes after those it reads.
        stats: Counters of unbucketable and overflowed values.
        source: The validated mapping the spec was built from.
    """

    def __init__(self, mapping: Mapping[str, Any]):
        if not isinstance(mapping, Mapping):
            raise _fail(
                "spec",
                mapping,
                "a spec must be a mapping with a 'dimensions' key.",
            )

        self.source = copy.deepcopy(dict(mapping))
        _check_top_level(self.source)
        self.stats = BucketStats()
        self.attribute_prefix = _prefix_of(self.source)
        self.invalid_bucket = _bucket_text(
            "invalid_bucket", self.source.get("invalid_bucket", "invalid")
        )
        raw_dimensions = self.source.get("dimensions")
        if not isinstance(raw_dimensions, Mapping) or not raw_dimensions:
            raise _fail(
                "dimensions",
                raw_dimensions,
                "it must be a non-empty mapping of name to dimension.",
            )

        built = {name: self._build(name, raw) for name, raw in raw_dimensions.items()}
        self._by_output = _outputs_of(built)
        self.dimensions = _evaluation_order(built)
        _check_dimension_operands(self.dimensions)

    @classmethod
    def default(cls) -> BucketSpec:
        """Return the shipped default spec (otel_mlbucket/default_spec.yaml)."""
        text = (
            resources.files("otel_mlbucket")
            .joinpath("default_spec.yaml")
            .read_text("utf-8")
        )
        return cls.from_yaml(text, origin="default_spec.yaml")

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> BucketSpec:
        """Load a spec from a YAML file.

        Raises:
            SpecError: The file is not valid YAML or the spec is invalid.
            OSError: The file cannot be read.
        """
        with open(path, encoding="utf-8") as handle:
            return cls.from_yaml(handle.read(), origin=os.fspath(path))

    @classmethod
    def from_yaml(cls, text: str, origin: str = "<string>") -> BucketSpec:
        """Load a spec from YAML text."""
        import yaml

        try:
            mapping = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SpecError(
                f"Invalid bucket spec: {origin} is not valid YAML ({exc})."
            ) from exc

        if not isinstance(mapping, Mapping):
            raise _fail(
                origin,
                mapping,
                "a spec must be a YAML mapping with a 'dimensions' key.",
            )

        return cls(mapping)

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> BucketSpec:
        """Build a spec from a mapping with the structure of the YAML file."""
        return cls(mapping)

    def with_placements(self, placements: Mapping[str, str]) -> BucketSpec:
        """Return a copy whose dimensions named in `placements` travel elsewhere."""
        mapping = copy.deepcopy(self.source)
        for name, placement in placements.items():
            if name not in mapping["dimensions"]:
                raise _fail(
                    f"placements.{name}",
                    name,
                    f"no such dimension. Valid choices: {', '.join(mapping['dimensions'])}.",
                )
            mapping["dimensions"][name]["placement"] = placement

        return BucketSpec(mapping)

    def with_feature_schema(self, schema: Mapping[str, str]) -> BucketSpec:
        """Return a copy whose feature_type dimensions also know these features."""
        mapping = copy.deepcopy(self.source)
        for raw in mapping["dimensions"].values():
            if isinstance(raw, dict) and raw.get("kind") == "feature_type":
                raw["schema"] = {**(raw.get("schema") or {}), **dict(schema)}

        return BucketSpec(mapping)

    def attribute_name(self, output: str) -> str:
        """Return the record or resource attribute that carries an output."""
        return f"{self.attribute_prefix}.{output}"

    def outputs(self, placement: str | None = None) -> tuple[str, ...]:
        """Return the output names, optionally only those of one placement."""
        return tuple(
            out
            for d in self.dimensions
            if placement in (None, d.placement)
            for out in d.outputs
        )

    def dimension_of(self, output: str) -> dims.Dimension:
        """Return the dimension that writes an output."""
        return self._by_output[output]

    def bucket_values(self) -> dict[str, tuple[str, ...] | None]:
        """Return each output's closed set of bucket values, or None when open."""
        values: dict[str, tuple[str, ...] | None] = {}
        for dimension in self.dimensions:
            values.update(dimension.bucket_values())

        return values

    def compute(self, attributes: Mapping[str, Any], log_record: Any) -> dict[str, str]:
        """Return every output's bucket for one record, evaluating all dimensions."""
        buckets: dict[str, str] = {}
        for dimension in self.dimensions:
            dimension.compute(attributes, log_record, buckets)

        return buckets

    def _build(self, name: Any, raw: Any) -> dims.Dimension:
        key = f"dimensions.{name}"
        if not isinstance(name, str) or not _NAME.match(name):
            raise _fail(
                key,
                name,
                "a dimension name must match [a-z][a-z0-9_]* (at most 63 characters), because it becomes an attribute name, a label and a partition key.",
            )
        if not isinstance(raw, Mapping):
            raise _fail(key, raw, "a dimension must be a mapping with a 'kind'.")

        kind = raw.get("kind")
        if kind not in KINDS:
            raise _fail(f"{key}.kind", kind, f"it must be one of: {', '.join(KINDS)}.")

        placement = raw.get("placement", "record")
        if placement not in PLACEMENTS:
            raise _fail(
                f"{key}.placement",
                placement,
                f"it must be one of: {', '.join(PLACEMENTS)}.",
            )

        reader = _Reader(key, raw)
        builder = getattr(self, f"_build_{kind}")
        dimension = builder(name, placement, reader)
        reader.reject_unknown(kind)
        return dimension

    def _common(self, name: str, placement: str) -> tuple[Any, ...]:
        return (name, placement, self.invalid_bucket, self.stats)

    def _build_time(self, name, placement, reader):
        granularities = reader.choices_list(
            "granularities", GRANULARITIES, default=list(GRANULARITIES)
        )
        timezone = reader.text("timezone", default="UTC")
        try:
            if timezone != "UTC":
                zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise _fail(
                f"{reader.key}.timezone",
                timezone,
                "it is not an IANA time zone name (for example UTC or Europe/Berlin).",
            ) from exc

        return dims.TimeDimension(
            *self._common(name, placement),
            granularities=granularities,
            timezone=timezone,
        )

    def _build_passthrough(self, name, placement, reader):
        return dims.PassthroughDimension(
            *self._common(name, placement),
            source=reader.attribute("source"),
            max_distinct=reader.positive_int("max_distinct", default=64),
            max_length=reader.positive_int("max_length", default=128),
            overflow_bucket=reader.bucket("overflow_bucket", default="other"),
            missing_bucket=reader.bucket("missing_bucket", default="unknown"),
        )

    def _build_range(self, name, placement, reader):
        boundaries, buckets = reader.ranges()
        min_value = reader.number("min_value", default=None)
        max_value = reader.number("max_value", default=None)
        if min_value is not None and max_value is not None and min_value > max_value:
            raise _fail(
                f"{reader.key}.max_value",
                max_value,
                f"it must not be less than min_value ({min_value}).",
            )

        return dims.RangeDimension(
            *self._common(name, placement),
            source=reader.attribute("source"),
            boundaries=boundaries,
            buckets=buckets,
            missing_bucket=reader.bucket("missing_bucket", default="none"),
            min_value=min_value,
            max_value=max_value,
        )

    def _build_drift(self, name, placement, reader):
        boundaries, buckets = reader.ranges()
        epsilon = reader.number("epsilon", default=1e-9)
        if epsilon is None or epsilon <= 0:
            raise _fail(
                f"{reader.key}.epsilon", epsilon, "it must be a positive number."
            )

        return dims.DriftDimension(
            *self._common(name, placement),
            expected_source=reader.attribute("expected_source"),
            actual_source=reader.attribute("actual_source"),
            measure=reader.choice("measure", DRIFT_MEASURES, default="relative"),
            epsilon=epsilon,
            boundaries=boundaries,
            buckets=buckets,
            missing_bucket=reader.bucket("missing_bucket", default="not_measured"),
        )

    def _build_severity(self, name, placement, reader):
        return dims.SeverityDimension(
            *self._common(name, placement),
            starts=reader.severity_starts(),
            missing_bucket=reader.bucket("missing_bucket", default="unspecified"),
        )

    def _build_feature_type(self, name, placement, reader):
        return dims.FeatureTypeDimension(
            *self._common(name, placement),
            type_source=reader.attribute("type_source"),
            name_source=reader.attribute("name_source"),
            value_source=reader.attribute("value_source"),
            schema=reader.feature_schema(),
            missing_bucket=reader.bucket("missing_bucket", default="none"),
        )

    def _build_validation(self, name, placement, reader):
        return dims.ValidationDimension(
            *self._common(name, placement),
            status_source=reader.attribute("status_source"),
            reason_source=reader.attribute("reason_source"),
            reasons=reader.reasons(),
        )

    def _build_rules(self, name, placement, reader):
        rules, depends_on, attribute_sources = reader.rules()
        return dims.RuleDimension(
            *self._common(name, placement),
            rules=rules,
            default=reader.bucket("default", default="none"),
            depends_on=depends_on,
            attribute_sources=attribute_sources,
            dimension_operands=reader.dimension_operands,
        )


def _check_top_level(mapping: dict[str, Any]) -> None:
    for key in mapping:
        if key not in TOP_LEVEL_KEYS:
            raise _fail(
                str(key),
                mapping[key],
                f"a spec has no such key. Valid keys: {', '.join(TOP_LEVEL_KEYS)}.",
            )

    version = mapping.get("version", 1)
    if version not in SPEC_VERSIONS or isinstance(version, bool):
        raise _fail(
            "version",
            version,
            f"this otel-mlbucket reads spec version {', '.join(map(str, SPEC_VERSIONS))}.",
        )


def _outputs_of(built: dict[str, dims.Dimension]) -> dict[str, dims.Dimension]:
    """Map each output name to its dimension, rejecting two dimensions per output."""
    by_output: dict[str, dims.Dimension] = {}
    for dimension in built.values():
        for output in dimension.outputs:
            other = by_output.get(output)
            if other is not None:
                raise _fail(
                    f"dimensions.{dimension.name}",
                    dimension.name,
                    f"it writes the output '{output}', which dimension '{other.name}' writes too. Rename one of them.",
                )
            by_output[output] = dimension

    return by_output


def _check_dimension_operands(dimensions: tuple[dims.Dimension, ...]) -> None:
    """Reject equals and in operands that no bucket of the dimension read can match."""
    closed_sets: dict[str, tuple[str, ...] | None] = {}
    for dimension in dimensions:
        closed_sets.update(dimension.bucket_values())

    for dimension in dimensions:
        for key, output, operands in getattr(dimension, "dimension_operands", ()):
            valid = closed_sets.get(output)
            if valid is None:
                continue
            for operand in operands:
                matches = dims.build_value_test("equals", operand)
                if not any(matches(bucket) for bucket in valid):
                    raise _fail(
                        key,
                        operand,
                        f"dimension '{output}' never has that bucket. Valid choices: {', '.join(valid)}.",
                    )


def _prefix_of(mapping: Mapping[str, Any]) -> str:
    prefix = mapping.get("attribute_prefix", "ml.bucket")
    if not isinstance(prefix, str) or not _PREFIX.match(prefix):
        raise _fail(
            "attribute_prefix",
            prefix,
            "it must be dot-separated lowercase words, for example ml.bucket.",
        )

    return prefix


def _bucket_text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not _BUCKET.match(value):
        raise _fail(
            key,
            value,
            "a bucket value must be a string of 1 to 64 characters without quotes, backslashes or control characters.",
        )

    return value


def _evaluation_order(built: dict[str, dims.Dimension]) -> tuple[dims.Dimension, ...]:
    owner = {out: d.name for d in built.values() for out in d.outputs}
    for dimension in built.values():
        for needed in dimension.depends_on:
            if needed not in owner:
                raise _fail(
                    f"dimensions.{dimension.name}.rules",
                    needed,
                    f"a rule reads a dimension that does not exist. Valid choices: {', '.join(owner)}.",
                )

    ordered: list[dims.Dimension] = []
    state: dict[str, str] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = " -> ".join((*path, name))
            raise _fail(
                f"dimensions.{name}.rules",
                cycle,
                "rules read each other in a cycle. Remove one of the dimension conditions.",
            )
        state[name] = "visiting"
        for needed in built[name].depends_on:
            visit(owner[needed], (*path, name))
        state[name] = "done"
        ordered.append(built[name])

    for name in built:
        visit(name, ())

    return tuple(ordered)


class _Reader:
    """Typed reads of one dimension's keys, raising SpecError that names the key."""

    _COMMON = frozenset({"kind", "placement"})
    _KEYS: ClassVar[dict[str, set[str]]] = {
        "time": {"granularities", "timezone"},
        "passthrough": {
            "source",
            "max_distinct",
            "max_length",
            "overflow_bucket",
            "missing_bucket",
        },
        "range": {
            "source",
            "boundaries",
            "buckets",
            "missing_bucket",
            "min_value",
            "max_value",
        },
        "drift": {
            "expected_source",
            "actual_source",
            "measure",
            "epsilon",
            "boundaries",
            "buckets",
            "missing_bucket",
        },
        "severity": {"starts", "missing_bucket"},
        "feature_type": {
            "type_source",
            "name_source",
            "value_source",
            "schema",
            "missing_bucket",
        },
        "validation": {"status_source", "reason_source", "reasons"},
        "rules": {"rules", "default"},
    }

    def __init__(self, key: str, raw: Mapping[str, Any]):
        self.key = key
        self.raw = raw
        self.dimension_operands: list[tuple[str, str, list[Any]]] = []
        """(key, output, operands) of equals and in conditions over dimensions."""

    def reject_unknown(self, kind: str) -> None:
        allowed = self._KEYS[kind] | self._COMMON
        for name in self.raw:
            if name not in allowed:
                raise _fail(
                    f"{self.key}.{name}",
                    self.raw[name],
                    f"a {kind} dimension has no such key. Valid keys: {', '.join(sorted(allowed))}.",
                )

    def _get(self, name: str, default: Any) -> Any:
        return self.raw.get(name, default)

    def text(self, name: str, default: Any = None) -> str:
        value = self._get(name, default)
        if not isinstance(value, str) or not value:
            raise _fail(f"{self.key}.{name}", value, "it must be a non-empty string.")

        return value

    def attribute(self, name: str) -> str:
        value = self._get(name, None)
        if not isinstance(value, str) or not value or len(value) > 255:
            raise _fail(
                f"{self.key}.{name}",
                value,
                "it must name the record attribute to read, for example ml.model.name.",
            )

        return value

    def bucket(self, name: str, default: str) -> str:
        return _bucket_text(f"{self.key}.{name}", self._get(name, default))

    def positive_int(self, name: str, default: int) -> int:
        value = self._get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise _fail(f"{self.key}.{name}", value, "it must be a positive integer.")

        return value

    def number(self, name: str, default: Any) -> Any:
        value = self._get(name, default)
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or value != value
        ):
            raise _fail(f"{self.key}.{name}", value, "it must be a number.")

        return float(value)

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self._get(name, default)
        if value not in choices:
            raise _fail(
                f"{self.key}.{name}", value, f"it must be one of: {', '.join(choices)}."
            )

        return value

    def choices_list(
        self, name: str, choices: tuple[str, ...], default: list[str]
    ) -> list[str]:
        value = self._get(name, default)
        if (
            not isinstance(value, (list, tuple))
            or not value
            or len(set(map(repr, value))) != len(value)
        ):
            raise _fail(
                f"{self.key}.{name}",
                value,
                f"it must be a non-empty list without repeats, of: {', '.join(choices)}.",
            )
        for item in value:
            if item not in choices:
                raise _fail(
                    f"{self.key}.{name}",
                    item,
                    f"it must be one of: {', '.join(choices)}.",
                )

        return list(value)

    def ranges(self) -> tuple[list[float], list[str]]:
        boundaries = self._get("boundaries", None)
        key = f"{self.key}.boundaries"
        if not isinstance(boundaries, (list, tuple)) or not boundaries:
            raise _fail(key, boundaries, "it must be a non-empty list of numbers.")
        for item in boundaries:
            if (
                isinstance(item, bool)
                or not isinstance(item, (int, float))
                or item != item
                or item in (float("inf"), float("-inf"))
            ):
                raise _fail(key, item, "every boundary must be a finite number.")
        if any(later <= earlier for earlier, later in itertools.pairwise(boundaries)):
            raise _fail(
                key,
                boundaries,
                "boundaries must be strictly increasing. Sort them and remove duplicates.",
            )

        buckets = self._get("buckets", None)
        if (
            not isinstance(buckets, (list, tuple))
            or len(buckets) != len(boundaries) + 1
        ):
            raise _fail(
                f"{self.key}.buckets",
                buckets,
                f"it must list {len(boundaries) + 1} bucket names, one more than the {len(boundaries)} boundaries.",
            )
        self._unique_buckets("buckets", buckets)

        return [float(b) for b in boundaries], list(buckets)

    def _unique_buckets(self, name: str, buckets: Any) -> None:
        for item in buckets:
            _bucket_text(f"{self.key}.{name}", item)
        if len(set(buckets)) != len(buckets):
            raise _fail(f"{self.key}.{name}", buckets, "bucket names must be unique.")

    def severity_starts(self) -> dict[str, int]:
        starts = self._get("starts", None)
        key = f"{self.key}.starts"
        if not isinstance(starts, Mapping) or not starts:
            raise _fail(
                key,
                starts,
                "it must map bucket names to the first severity number (1 to 24) of each.",
            )
        for label, start in starts.items():
            _bucket_text(key, label)
            if (
                isinstance(start, bool)
                or not isinstance(start, int)
                or not 1 <= start <= 24
            ):
                raise _fail(
                    f"{key}.{label}",
                    start,
                    "a severity start must be an integer from 1 to 24.",
                )
        if len(set(starts.values())) != len(starts):
            raise _fail(key, starts, "two buckets start at the same severity number.")
        if min(starts.values()) != 1:
            raise _fail(
                key,
                starts,
                "the lowest start must be 1, so that every severity number 1 to 24 has a bucket.",
            )

        return dict(starts)

    def feature_schema(self) -> dict[str, str]:
        schema = self._get("schema", {}) or {}
        key = f"{self.key}.schema"
        if not isinstance(schema, Mapping):
            raise _fail(
                key, schema, "it must map feature names to categorical or numerical."
            )
        for feature, kind in schema.items():
            if not isinstance(feature, str) or not feature:
                raise _fail(key, feature, "a feature name must be a non-empty string.")
            if kind not in dims.FeatureTypeDimension.VALUES:
                raise _fail(
                    f"{key}.{feature}",
                    kind,
                    "it must be one of: categorical, numerical.",
                )

        return dict(schema)

    def reasons(self) -> dict[str, list[str]]:
        reasons = self._get("reasons", None)
        key = f"{self.key}.reasons"
        if not isinstance(reasons, Mapping) or not reasons:
            raise _fail(
                key,
                reasons,
                "it must map reason buckets (missing, corrupted, misaligned) to lists of raw reason codes.",
            )

        seen: dict[str, str] = {}
        for bucket, codes in reasons.items():
            _bucket_text(key, bucket)
            if bucket in ("none", "other"):
                raise _fail(
                    f"{key}.{bucket}",
                    bucket,
                    "'none' and 'other' are reserved reason buckets. Pick another name.",
                )
            if not isinstance(codes, (list, tuple)) or not all(
                isinstance(c, str) and c for c in codes
            ):
                raise _fail(
                    f"{key}.{bucket}", codes, "it must be a list of non-empty strings."
                )
            for code in codes:
                if code.lower() in seen and seen[code.lower()] != bucket:
                    raise _fail(
                        f"{key}.{bucket}",
                        code,
                        f"this code already maps to '{seen[code.lower()]}'. Map each code to one bucket.",
                    )
                seen[code.lower()] = bucket

        return {bucket: list(codes) for bucket, codes in reasons.items()}

    def rules(self) -> tuple[list[tuple[str, dims.Condition]], list[str], list[str]]:
        rules = self._get("rules", None)
        key = f"{self.key}.rules"
        if not isinstance(rules, (list, tuple)) or not rules:
            raise _fail(
                key, rules, "it must be a non-empty list of {bucket, when} rules."
            )

        compiled: list[tuple[str, dims.Condition]] = []
        depends_on: list[str] = []
        attribute_sources: list[str] = []
        for index, rule in enumerate(rules):
            bucket, condition, source_kind, source = self._rule(f"{key}[{index}]", rule)
            compiled.append((bucket, condition))
            read = depends_on if source_kind == "dimension" else attribute_sources
            if source not in read:
                read.append(source)

        return compiled, depends_on, attribute_sources

    def _rule(self, key: str, rule: Any) -> tuple[str, dims.Condition, str, str]:
        if not isinstance(rule, Mapping) or set(rule) != {"bucket", "when"}:
            raise _fail(
                key,
                rule,
                "a rule must be a mapping with exactly the keys 'bucket' and 'when'.",
            )

        bucket = _bucket_text(f"{key}.bucket", rule["bucket"])
        when = rule["when"]
        if not isinstance(when, Mapping):
            raise _fail(
                f"{key}.when",
                when,
                "it must be a mapping such as {attribute: exception.type, exists: true}.",
            )

        sources = [name for name in ("attribute", "dimension") if name in when]
        operators = [name for name in OPERATORS if name in when]
        if len(sources) != 1 or len(operators) != 1 or len(when) != 2:
            raise _fail(
                f"{key}.when",
                dict(when),
                f"a condition needs one of 'attribute' or 'dimension' and one operator of: {', '.join(OPERATORS)}.",
            )

        source_kind, operator = sources[0], operators[0]
        source = when[source_kind]
        if not isinstance(source, str) or not source:
            raise _fail(
                f"{key}.when.{source_kind}", source, "it must be a non-empty name."
            )

        operand_key = f"{key}.when.{operator}"
        operand = self._operand(operand_key, operator, when[operator])
        if source_kind == "dimension" and operator in ("equals", "in"):
            operands = operand if operator == "in" else [operand]
            self.dimension_operands.append((operand_key, source, list(operands)))

        condition = dims.build_condition(source_kind, source, operator, operand)
        return bucket, condition, source_kind, source

    def _operand(self, key: str, operator: str, operand: Any) -> Any:
        if operator == "exists" and not isinstance(operand, bool):
            raise _fail(key, operand, "exists takes true or false.")
        if operator == "in":
            if not isinstance(operand, (list, tuple)) or not operand:
                raise _fail(key, operand, "in takes a non-empty list of values.")
            for item in operand:
                self._scalar_operand(
                    key, item, "in takes strings, numbers or booleans."
                )
            operand = list(operand)
        if operator == "equals":
            self._scalar_operand(
                key, operand, "equals takes a string, a number or a boolean."
            )
        if operator == "matches":
            if not isinstance(operand, str):
                raise _fail(key, operand, "matches takes a regular expression string.")
            try:
                re.compile(operand)
            except re.error as exc:
                raise _fail(
                    key, operand, f"it is not a valid regular expression ({exc})."
                ) from exc

        return operand

    def _scalar_operand(self, key: str, operand: Any, problem: str) -> None:
        if not isinstance(operand, (str, int, float)):
            raise _fail(key, operand, problem)
        if isinstance(operand, float) and not math.isfinite(operand):
            raise _fail(key, operand, "a number to compare with must be finite.")
