"""Exceptions of the store client."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any


class QueryError(Exception):
    """A store query failed. Base of the client's exceptions.

    Attributes:
        path: The store directory the query read.
    """

    def __init__(self, message: str, *, path: str | os.PathLike[str] | None = None):
        super().__init__(message)
        self.path = None if path is None else os.fspath(path)


class StoreNotFoundError(QueryError, FileNotFoundError):
    """The store directory does not exist or is not a directory."""

    def __init__(self, path: str | os.PathLike[str]):
        super().__init__(
            f"Store not found: {os.fspath(path)!r} is not a directory. Pass the "
            "directory that ParquetLogExporter (or configure(store_path=...)) "
            "writes to.",
            path=path,
        )


class InvalidQueryError(QueryError, ValueError):
    """A query argument is invalid.

    Attributes:
        parameter: The argument's name, for example "by" or "window".
        value: The invalid value.
        choices: The valid values, when they form a closed set.
    """

    def __init__(
        self,
        parameter: str,
        value: Any,
        problem: str,
        choices: Sequence[str] = (),
        *,
        path: str | os.PathLike[str] | None = None,
    ):
        message = f"Invalid {parameter} {value!r}: {problem}"
        if choices:
            message += f" Valid choices: {', '.join(choices)}."
        super().__init__(message, path=path)
        self.parameter = parameter
        self.value = value
        self.choices = tuple(choices)
