"""The route table derived from a bucket spec, and the checks that it can be rendered.

The collector routes on the resource attribute of the spec's `team` output: one
pipeline per team bucket, and the team dimension's default bucket goes to the
routing connector's default pipeline. Every resource output becomes a Loki index
label (and a VictoriaLogs stream field) when its set of values is bounded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from otel_mlbucket import _dimensions as dims
from otel_mlbucket._spec import BucketSpec
from otel_mlbucket.collector import _env

ROUTING_OUTPUT = "team"
"""The spec output whose resource attribute the routing connector matches."""

COLD_STORAGE_GROUP_BY = "model_version"
"""The resource output that names each team's cold-storage file, when bounded."""

LOKI_MAX_LABEL_NAMES = 15
"""Loki's default `limits_config.max_label_names_per_series` (Loki 3.x)."""

SERVICE_NAME = "service.name"

# A team bucket names a pipeline ID (collector v0.148.0 rejects whitespace,
# control characters and symbols), a Loki tenant (letters, digits and !-_.*'() up
# to 150 bytes, not "." or ".."), a directory and an environment variable suffix.
# This pattern is inside all four.
_TEAM_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
# Loki label names follow Prometheus: letters, digits and "_", not starting with a
# digit. Names starting with "__" are reserved for Loki's own labels.
_LOKI_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class CollectorConfigError(ValueError):
    """A bucket spec cannot be rendered as collector routes. The message names the fix."""


@dataclass(frozen=True)
class Route:
    """One team's pipeline.

    Attributes:
        team: The team bucket that this route matches.
        is_default: True for the team dimension's default bucket, whose pipeline is
            the routing connector's default pipeline.
        account_id: The default VictoriaLogs AccountID: 0 for the default team, else
            the team's position (from 1) in the order its rules first name it.
    """

    team: str
    is_default: bool
    account_id: int

    @property
    def pipeline(self) -> str:
        """The pipeline ID, `logs/<team>`."""
        return f"logs/{self.team}"


@dataclass(frozen=True)
class ResourceLabel:
    """One resource output, as a Loki label and a VictoriaLogs stream field.

    Attributes:
        output: The spec output name.
        attribute: The resource attribute, such as `ml.bucket.team`.
        loki_label: The label Loki makes of the attribute, such as `ml_bucket_team`.
        max_values: The maximum number of distinct values the processor writes, or None when the
            set is unbounded (a time bucket); unbounded outputs are not indexed.
        bound: How max_values follows from the spec, for the config comments.
        missing_bucket: The bucket of a record without the source value, or None.
    """

    output: str
    attribute: str
    loki_label: str
    max_values: int | None
    bound: str
    missing_bucket: str | None


@dataclass(frozen=True)
class RouteTable:
    """The routes and resource labels of one spec.

    Attributes:
        attribute: The routing resource attribute, such as `ml.bucket.team`.
        routes: The routed teams in spec order, then the default team.
        labels: The resource outputs, the routing output first.
        cold_storage_attribute: The resource attribute whose value names each
            team's cold-storage file.
    """

    attribute: str
    routes: tuple[Route, ...]
    labels: tuple[ResourceLabel, ...]
    cold_storage_attribute: str

    @property
    def default(self) -> Route:
        """The default team's route."""
        return self.routes[-1]

    @property
    def routed(self) -> tuple[Route, ...]:
        """The routes of the routing table, without the default."""
        return self.routes[:-1]

    @property
    def indexed(self) -> tuple[ResourceLabel, ...]:
        """The labels with a bounded set of values, which the backends index."""
        return tuple(label for label in self.labels if label.max_values is not None)


def route_table(spec: BucketSpec) -> RouteTable:
    """Build the route table of a spec.

    Raises:
        CollectorConfigError: The spec has no team dimension on the resource, or a
            team bucket cannot name a pipeline, a tenant or a file, or two team
            buckets would share one route.
    """
    dimension = _team_dimension(spec)
    teams = _team_buckets(dimension)
    routed_teams = [team for team in teams if team != dimension.default]
    routes = [
        Route(team=team, is_default=False, account_id=index)
        for index, team in enumerate(routed_teams, start=1)
    ]
    if not routes:
        raise CollectorConfigError(
            f"Cannot render collector routes: every rule of dimensions.{ROUTING_OUTPUT} "
            f"gives the default bucket {dimension.default!r}, so there is nothing to "
            "route. Add rules whose buckets name the owning teams."
        )
    routes.append(Route(team=dimension.default, is_default=True, account_id=0))

    labels = _resource_labels(spec)
    return RouteTable(
        attribute=spec.attribute_name(ROUTING_OUTPUT),
        routes=tuple(routes),
        labels=labels,
        cold_storage_attribute=_cold_storage_attribute(spec, labels),
    )


def _team_dimension(spec: BucketSpec) -> dims.RuleDimension:
    if ROUTING_OUTPUT not in spec.outputs():
        raise CollectorConfigError(
            f"Cannot render collector routes: the spec has no {ROUTING_OUTPUT!r} "
            f"dimension, which the routing connector matches on. Add "
            f"dimensions.{ROUTING_OUTPUT} with kind: rules and placement: resource, "
            "whose buckets name the owning teams."
        )

    dimension = spec.dimension_of(ROUTING_OUTPUT)
    if dimension.placement != "resource":
        raise CollectorConfigError(
            f"Cannot render collector routes: dimensions.{ROUTING_OUTPUT}.placement is "
            f"{dimension.placement!r}, but the routing connector routes whole OTLP "
            f"resource groups on a resource attribute. Set "
            f"dimensions.{ROUTING_OUTPUT}.placement to resource."
        )
    if not isinstance(dimension, dims.RuleDimension):
        kind = spec.source["dimensions"][dimension.name].get("kind")
        raise CollectorConfigError(
            f"Cannot render collector routes: dimensions.{ROUTING_OUTPUT} has kind "
            f"{kind!r}, but routing needs kind: rules, whose listed buckets give the "
            "routes and whose default bucket gives the default pipeline."
        )

    return dimension


def _team_buckets(dimension: dims.RuleDimension) -> tuple[str, ...]:
    teams = dimension.bucket_values()[ROUTING_OUTPUT] or ()
    for team in teams:
        if not _TEAM_BUCKET.match(team):
            raise CollectorConfigError(
                f"Cannot render collector routes: the team bucket {team!r} in "
                f"dimensions.{ROUTING_OUTPUT} cannot name a collector pipeline, a Loki "
                "tenant and a directory. Rename it to letters, digits, '_', '.' and "
                "'-', starting with a letter or digit, at most 63 characters."
            )

    seen: dict[str, str] = {}
    for team in teams:
        key = _env.team_suffix(team)
        if key in seen:
            raise CollectorConfigError(
                f"Cannot render collector routes: the team buckets {seen[key]!r} and "
                f"{team!r} would be routed twice through one set of settings "
                f"(environment variables ending in _{key}, and one directory on "
                "case-insensitive file systems). Rename one of them."
            )
        seen[key] = team

    return teams


def _resource_labels(spec: BucketSpec) -> tuple[ResourceLabel, ...]:
    others = [
        _resource_label(spec, output)
        for output in spec.outputs("resource")
        if output != ROUTING_OUTPUT
    ]
    # Fewest values first, so that the labels read from coarse to fine.
    others.sort(key=lambda label: (label.max_values is None, label.max_values or 0))
    labels = (_resource_label(spec, ROUTING_OUTPUT), *others)

    indexed = [label for label in labels if label.max_values is not None]
    if len(indexed) + 1 > LOKI_MAX_LABEL_NAMES:
        names = ", ".join(label.output for label in indexed)
        raise CollectorConfigError(
            f"Cannot render the Loki config: service_name and the {len(indexed)} "
            f"resource outputs ({names}) make {len(indexed) + 1} labels, but Loki "
            f"accepts at most {LOKI_MAX_LABEL_NAMES} per stream by default. Move "
            "dimensions to placement: record or store."
        )

    return labels


def _resource_label(spec: BucketSpec, output: str) -> ResourceLabel:
    attribute = spec.attribute_name(output)
    label = re.sub(r"[^A-Za-z0-9_]", "_", attribute)
    if not _LOKI_LABEL.match(label) or label.startswith("__"):
        raise CollectorConfigError(
            f"Cannot render the Loki config: the resource attribute {attribute!r} "
            f"becomes the label {label!r}, which Loki rejects or reserves. Change "
            "attribute_prefix or the dimension name so that the label starts with a "
            "letter."
        )

    dimension = spec.dimension_of(output)
    max_values, bound = _bound_of(dimension, output)
    return ResourceLabel(
        output=output,
        attribute=attribute,
        loki_label=label,
        max_values=max_values,
        bound=bound,
        missing_bucket=_missing_bucket(dimension),
    )


def _bound_of(dimension: dims.Dimension, output: str) -> tuple[int | None, str]:
    values = dimension.bucket_values()[output]
    if values is not None:
        return len(values), f"{len(values)} values: {', '.join(values)}"

    if isinstance(dimension, dims.PassthroughDimension):
        extra = dict.fromkeys(
            (
                dimension.overflow_bucket,
                dimension.missing_bucket,
                dimension.invalid_bucket,
            )
        )
        total = dimension.max_distinct + len(extra)
        return total, (
            f"at most {total} per process: max_distinct {dimension.max_distinct} "
            f"plus {', '.join(extra)}"
        )

    return None, "unbounded (a new value every period), so not indexed"


def _missing_bucket(dimension: dims.Dimension) -> str | None:
    if isinstance(dimension, dims.RuleDimension):
        return dimension.default

    return getattr(dimension, "missing_bucket", None)


def _cold_storage_attribute(spec: BucketSpec, labels: tuple[ResourceLabel, ...]) -> str:
    for label in labels:
        if label.output == COLD_STORAGE_GROUP_BY and label.max_values is not None:
            return label.attribute

    return spec.attribute_name(ROUTING_OUTPUT)
