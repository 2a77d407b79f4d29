"""The bucket plan of a spec: the source of each bucket output of a row.

Outputs the spec places on the resource or the record are read from there, each
falling back to the other place. Outputs placed at the store are derived: time,
range and severity dimensions with pyarrow.compute over a whole chunk (see
`_derive`), other dimensions row by row. When a record lacks a travelled bucket
(it was emitted without the bucketing processor, or ingested), the spec computes
every output the record lacks, so every row has every bucket.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otel_mlbucket import _dimensions as dims
from otel_mlbucket._spec import BucketSpec
from otel_mlbucket.store import _derive


class BucketPlan:
    """Sources of a spec's bucket outputs: carried by records or derived here."""

    def __init__(self, spec: BucketSpec):
        self.spec = spec
        self.travelled = tuple(
            (output, spec.attribute_name(output), d.placement)
            for d in spec.dimensions
            if d.placement != "store"
            for output in d.outputs
        )

        store_dims = [d for d in spec.dimensions if d.placement == "store"]
        read_by_others = {
            spec.dimension_of(output).name
            for d in store_dims
            if not isinstance(d, _derive.VECTORISED_KINDS)
            for output in d.depends_on
        }
        self.vectorised = tuple(
            d
            for d in store_dims
            if isinstance(d, _derive.VECTORISED_KINDS) and d.name not in read_by_others
        )
        self.by_row = tuple(d for d in store_dims if d not in self.vectorised)

        self.row_outputs = tuple(
            [output for output, _, _ in self.travelled]
            + [output for d in self.by_row for output in d.outputs]
        )
        self.vectorised_outputs = tuple(o for d in self.vectorised for o in d.outputs)

        self.resource_names = frozenset(
            name for _, name, placement in self.travelled if placement == "resource"
        )
        self.ranges = tuple(
            d for d in self.vectorised if isinstance(d, dims.RangeDimension)
        )
        self.severities = tuple(
            d for d in self.vectorised if isinstance(d, dims.SeverityDimension)
        )
        self.drift_epsilon = _drift_epsilon(spec)

    def row_buckets(
        self,
        values: Mapping[str, Any],
        record: Any,
        resource_buckets: Mapping[str, Any],
        consumed: set[str],
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Return a row's buckets and those that override the vectorised ones.

        Names of record attributes whose value became a bucket column are added to
        `consumed`, so that the attributes JSON leaves them out.
        """
        buckets: dict[str, str] = {}
        complete = True
        for output, name, placement in self.travelled:
            found = self._travelled_value(name, placement, values, resource_buckets)
            if found is None:
                complete = False
            else:
                buckets[output] = found[0]
                if found[1]:
                    consumed.add(name)

        if complete:
            for dimension in self.by_row:
                dimension.compute(values, record, buckets)
            return buckets, {}

        if buckets:
            computed = compute_missing(self.spec, values, record, buckets)
        else:
            computed = self.spec.compute(values, record)
        overrides = {o: computed[o] for o in self.vectorised_outputs}
        return computed, overrides

    @staticmethod
    def _travelled_value(
        name: str,
        placement: str,
        values: Mapping[str, Any],
        resource_buckets: Mapping[str, Any],
    ) -> tuple[str, bool] | None:
        """Return (bucket, read from the record) or None when neither place has it."""
        on_record = values.get(name)
        on_resource = resource_buckets.get(name)
        if placement == "resource" and on_resource.__class__ is str:
            return on_resource, False
        if on_record.__class__ is str:
            return on_record, True
        if on_resource.__class__ is str:
            return on_resource, False

        return None


def compute_missing(
    spec: BucketSpec,
    values: Mapping[str, Any],
    record: Any,
    present: dict[str, str],
) -> dict[str, str]:
    """Compute every output the record does not carry, keeping the ones it does."""
    buckets = dict(present)
    for dimension in spec.dimensions:
        if all(output in present for output in dimension.outputs):
            continue
        dimension.compute(values, record, buckets)
        for output in dimension.outputs:
            if output in present:
                buckets[output] = present[output]

    return buckets


def _drift_epsilon(spec: BucketSpec) -> float:
    for dimension in spec.dimensions:
        if isinstance(dimension, dims.DriftDimension):
            return dimension.epsilon

    return 1e-9
