"""Queries over the embedded store: `StoreClient` and its exceptions.

`StoreClient(path).summary(by=("model_version",), window="1h", since="24h")`
returns a pyarrow table per bucket and window. The client's `drift_onset`,
`compare_versions`, `validation_failures`, `alerts` and `root_cause_hints`
answer common questions from the store alone.
"""

from otel_mlbucket.query._client import QueryStats, StoreClient
from otel_mlbucket.query._drift import DriftOnset
from otel_mlbucket.query._errors import (
    InvalidQueryError,
    QueryError,
    StoreNotFoundError,
)
from otel_mlbucket.query._insights import Alert, AlertRule
from otel_mlbucket.query._scope import Scope
from otel_mlbucket.query._summary import METRIC_COLUMNS

__all__ = [
    "METRIC_COLUMNS",
    "Alert",
    "AlertRule",
    "DriftOnset",
    "InvalidQueryError",
    "QueryError",
    "QueryStats",
    "Scope",
    "StoreClient",
    "StoreNotFoundError",
]
