"""The demo's store directory: created fresh on each run, replaced only if the demo made it."""

from __future__ import annotations

import shutil
from pathlib import Path

MARKER_NAME = ".mlbucket-demo-store"
"""Marks a directory the demo created. Store readers skip names starting with "."."""

_MARKER_TEXT = (
    "Created by `otel-mlbucket demo`; the next demo run replaces this store.\n"
)


class StoreDirectoryError(ValueError):
    """The store path exists and is not a store the demo created."""


def prepare_store_directory(path: Path) -> Path:
    """Create an empty demo store directory, replacing a previous demo store.

    An existing empty directory is used as it is. A non-empty directory is deleted
    only when it contains the demo's marker file.

    Args:
        path: The store directory.

    Returns:
        The absolute path of the empty directory, which now contains the marker.

    Raises:
        StoreDirectoryError: The path is a file, or a non-empty directory without
            the marker.
    """
    path = path.resolve()
    if path.exists() and not path.is_dir():
        raise StoreDirectoryError(
            f"{path} exists and is not a directory; pass --store with a new path"
        )

    if path.is_dir() and any(path.iterdir()):
        if not (path / MARKER_NAME).is_file():
            raise StoreDirectoryError(
                f"{path} exists and is not a demo store (it has no {MARKER_NAME} "
                "file), so the demo will not replace it; remove it or pass --store "
                "with a new path"
            )
        shutil.rmtree(path)

    path.mkdir(parents=True, exist_ok=True)
    (path / MARKER_NAME).write_text(_MARKER_TEXT, encoding="utf-8")
    return path
