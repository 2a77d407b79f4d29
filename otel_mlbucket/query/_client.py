"""`StoreClient`: bucketed summaries of an embedded store."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds

from otel_mlbucket._spec import BucketSpec
from otel_mlbucket.processor import SPEC_ENV
from otel_mlbucket.query import _arguments, _questions
from otel_mlbucket.query._errors import (
    InvalidQueryError,
    QueryError,
    StoreNotFoundError,
)
from otel_mlbucket.query._scope import Scope, partition_predicates, scope_filter
from otel_mlbucket.query._summary import summarize
from otel_mlbucket.query._time import parse_instant, parse_window, resolve_now
from otel_mlbucket.store import store_schema
from otel_mlbucket.store._layout import partition_keys_of_all
from otel_mlbucket.store._read import StoreReader

_logger = logging.getLogger(__name__)

_READ_ATTEMPTS = 3


@dataclass(frozen=True)
class QueryStats:
    """Statistics of the last scan.

    Attributes:
        files_opened: Data files left after partition pruning, each opened once.
        rows_read: Rows that passed the filters.
        files: Paths of those files.
    """

    files_opened: int
    rows_read: int
    files: tuple[str, ...]


class StoreClient:
    """Reads an embedded store and returns bucketed summaries as pyarrow tables.

    Every query reads only the columns it needs. Filters on partition columns (and
    the time range on time partitions such as `day`) skip whole directories, and
    `last_query` records how many files the last scan opened.

    The client is not thread safe because of `last_query`; use one per thread.

    Args:
        path: The store's root directory.
        spec: The spec the store was written with; defaults to the file named by
            OTEL_MLBUCKET_SPEC, or the shipped default spec. It supplies the time
            zone of windows and day partitions and the bucket names of the metrics.

    Raises:
        StoreNotFoundError: path is not a directory.
    """

    def __init__(self, path: str | os.PathLike[str], spec: BucketSpec | None = None):
        self.path = Path(path)
        if not self.path.is_dir():
            raise StoreNotFoundError(path)

        if spec is None:
            spec_path = os.environ.get(SPEC_ENV)
            spec = (
                BucketSpec.from_file(spec_path) if spec_path else BucketSpec.default()
            )
        self.spec = spec
        self.schema = store_schema(spec)
        self.last_query: QueryStats | None = None
        self._time = _arguments.time_dimension(spec)
        self._inputs = _arguments.summary_inputs(spec, self._time)
        dictionary_columns = [*spec.outputs(), *_arguments.EXTRA_DIMENSIONS]
        self._reader = StoreReader(self.path, self.schema, dictionary_columns)
        self._choices: tuple[pa.Schema | None, tuple[str, ...]] = (None, ())

    @property
    def last_query_files(self) -> int:
        """Files the last scan opened; 0 before the first query."""
        return 0 if self.last_query is None else self.last_query.files_opened

    def dimensions(self) -> tuple[str, ...]:
        """Return the columns that `by` and `filters` accept."""
        try:
            found = self._open(None)[0].schema
        except FileNotFoundError:
            raise StoreNotFoundError(self.path) from None
        return _arguments.dimension_choices(self.spec, found)

    def read(
        self,
        columns: Sequence[str] | None = None,
        *,
        since: str | dt.datetime | None = None,
        until: str | dt.datetime | None = None,
        filters: Mapping[str, str | Sequence[str]] | None = None,
        now: dt.datetime | None = None,
    ) -> pa.Table:
        """Return the stored rows in a time range that match the filters.

        Args:
            columns: Columns to read; all when None.
            since: Start of the range (inclusive): a duration before now such as
                "24h", an ISO 8601 time, or a datetime. Unbounded when None.
            until: End of the range (exclusive), in the same forms.
            filters: Column name to one value or a sequence of accepted values.
            now: The time that relative bounds count back from; now when None.

        Raises:
            InvalidQueryError: A column, filter or time bound is invalid.
            StoreNotFoundError: The store directory disappeared.
            QueryError: The files could not be read.
        """
        scope = self.scope(since=since, until=until, filters=filters, now=now)
        return self.scan(scope, columns)

    def summary(
        self,
        by: Sequence[str],
        window: str | None = "1h",
        since: str | dt.datetime | None = None,
        until: str | dt.datetime | None = None,
        filters: Mapping[str, str | Sequence[str]] | None = None,
        now: dt.datetime | None = None,
    ) -> pa.Table:
        """Return counts, error rate, latency quantiles and drift per bucket and window.

        Columns: the `by` columns, then `window_start` when `window` is set (a
        timestamp in the spec's time zone). Then `count`, `error_count` (rows whose
        error_category is not "none"), `error_rate`, `latency_p50_ms`,
        `latency_p95_ms`, `latency_p99_ms`, `drift_abs_mean`, `drift_rel_mean`,
        `drift_rel_p95` and `validation_failed_count`. Last, one
        `validation_<reason>_count` per reason bucket of the spec. Quantiles are
        t-digest estimates, and `otel_mlbucket.query._summary` states their
        accuracy.

        Args:
            by: Bucket columns to group by, such as ("model_version",).
            window: Window length such as "15m", "1h", "1d" or "1w"; None for one
                row per bucket over the whole range.
            since: Start of the range (inclusive); see `read`.
            until: End of the range (exclusive); see `read`.
            filters: Column name to one value or a sequence of accepted values.
            now: The time that relative bounds count back from.

        Raises:
            InvalidQueryError: A dimension, window, filter or time bound is invalid.
            QueryError: The files could not be read.
        """
        by = _arguments.names("by", by)
        parsed_window = parse_window(window) if window is not None else None
        scope = self.scope(since=since, until=until, filters=filters, now=now)
        columns = [*by, *self._inputs.columns()]
        if parsed_window is not None:
            columns.append("time")
        columns = list(dict.fromkeys(columns))

        table = self.scan(scope, columns, dimensions=by, dictionary=True)
        return summarize(table, by, parsed_window, self._inputs)

    def scope(
        self,
        *,
        since: str | dt.datetime | None = None,
        until: str | dt.datetime | None = None,
        filters: Mapping[str, str | Sequence[str]] | None = None,
        now: dt.datetime | None = None,
    ) -> Scope:
        """Return the parsed time range and filters of a query.

        Raises:
            InvalidQueryError: A filter or time bound is invalid, or since is not
                before until.
        """
        moment = resolve_now(now)
        start = parse_instant("since", since, moment)
        end = parse_instant("until", until, moment)
        if start is not None and end is not None and start >= end:
            raise InvalidQueryError(
                "since",
                since,
                f"it must be before until ({end.isoformat()}).",
            )

        return Scope(start, end, _arguments.filters(filters))

    def scan(
        self,
        scope: Scope,
        columns: Sequence[str] | None,
        *,
        dimensions: Sequence[str] = (),
        dictionary: bool = False,
    ) -> pa.Table:
        """Read the columns of the rows in a scope, pruning partitions.

        Args:
            scope: The time range and filters.
            columns: Columns to read; all when None.
            dimensions: Columns the caller groups by, checked like `by`.
            dictionary: Return the bucket columns as dictionary arrays, which are
                faster to read, compare and group.

        Raises:
            InvalidQueryError: A dimension, filter or column is not in the store.
            QueryError: The files could not be read.
        """
        for attempt in range(1, _READ_ATTEMPTS + 1):
            try:
                dataset, files = self._open(scope, dictionary)
                self._check(dataset.schema, scope, columns, dimensions)
                table = dataset.to_table(
                    columns=list(columns) if columns is not None else None,
                    filter=scope_filter(scope, partition_keys_of_all(files, self.path)),
                )
            except FileNotFoundError as exc:
                if not self.path.is_dir():
                    raise StoreNotFoundError(self.path) from None
                # A compaction replaced files between listing and reading them.
                _logger.debug(
                    "Store files changed during a read (attempt %d): %r", attempt, exc
                )
                continue
            except (OSError, pa.ArrowException) as exc:
                raise QueryError(
                    f"Reading the store {str(self.path)!r} failed: {exc}",
                    path=self.path,
                ) from exc

            self.last_query = QueryStats(
                len(files), table.num_rows, tuple(str(f) for f in files)
            )
            return table

        raise QueryError(
            f"Reading the store {str(self.path)!r} failed: files kept changing during "
            f"{_READ_ATTEMPTS} attempts; retry the query.",
            path=self.path,
        )

    def _open(
        self, scope: Scope | None, dictionary: bool = False
    ) -> tuple[ds.Dataset, list[Path]]:
        predicates = (
            partition_predicates(scope, self._time) if scope is not None else {}
        )
        return self._reader.open(predicates, dictionary=dictionary)

    def _check(
        self,
        schema: pa.Schema,
        scope: Scope,
        columns: Sequence[str] | None,
        dimensions: Sequence[str],
    ) -> None:
        if self._choices[0] is not schema:
            self._choices = (schema, _arguments.dimension_choices(self.spec, schema))
        choices = self._choices[1]
        for parameter, names in (("by", dimensions), ("filters", tuple(scope.filters))):
            for name in names:
                if name not in choices:
                    raise InvalidQueryError(
                        parameter,
                        name,
                        "it is not a dimension of this store.",
                        choices,
                        path=self.path,
                    )
        for name in columns or ():
            if name not in schema.names:
                raise InvalidQueryError(
                    "columns",
                    name,
                    "it is not a column of this store.",
                    schema.names,
                    path=self.path,
                )

    # The question methods live in _questions, one module per concept.
    drift_onset = _questions.drift_onset
    compare_versions = _questions.compare_versions
    validation_failures = _questions.validation_failures
    alerts = _questions.alerts
    root_cause_hints = _questions.root_cause_hints
