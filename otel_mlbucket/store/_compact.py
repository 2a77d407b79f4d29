"""Compaction: merging a partition's small files into one sorted file.

A compaction of one partition directory runs under an exclusive `flock` on the
directory's `.compaction.lock`, so processes sharing a store never merge the same
files twice. Its steps, each safe to interrupt:

1. write `_compaction-<uuid>.json`, naming the output file and the input files;
2. write the merged file under a hidden name, fsync it and rename it into place;
3. delete the inputs, then the manifest.

Between steps 2 and 3 both the output and its inputs exist. `list_data_files` then
leaves out the inputs, because the manifest names them and its output exists. The
next compaction of the directory finishes what a crash left: it deletes the inputs
of manifests whose output exists, drops manifests whose output never appeared, and
removes temporary files of writers that are no longer running (after 10 minutes).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections.abc import Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from otel_mlbucket.store import _layout

_logger = logging.getLogger(__name__)

STALE_TEMPORARY_SECONDS = 600
"""Age after which a temporary file whose writer's pid is gone is deleted. The age
check protects writers in another PID namespace (a container sharing the store),
whose pids this process cannot see."""

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


@dataclass(frozen=True)
class CompactionResult:
    """One merge: the files it replaced, the file it wrote and its row count."""

    inputs: tuple[Path, ...]
    output: Path
    rows: int


@dataclass(frozen=True)
class CompactionSettings:
    """Selection and write settings of a compaction."""

    min_files: int
    target_rows: int
    sort_by: tuple[str, ...]
    row_group_rows: int
    compression: str
    fsync: bool


def compact_partition(
    directory: Path,
    settings: CompactionSettings,
    row_counts: MutableMapping[str, int],
) -> CompactionResult | None:
    """Merge the small files of one partition directory, if there are enough.

    A file is small when it has fewer than `settings.target_rows` rows. Nothing
    happens while another process compacts the directory, or when fewer than
    `settings.min_files` small files exist.

    Args:
        directory: A leaf partition directory.
        settings: Selection and writing settings.
        row_counts: Cache of row counts by file path; data files never change, so
            entries stay valid until the file is deleted.

    Returns:
        What was merged, or None when nothing was.

    Raises:
        OSError: Reading, writing or deleting a file failed.
        pyarrow.ArrowException: The files' schemas cannot be merged.
    """
    with _exclusive_lock(directory) as locked:
        if not locked:
            return None

        recover_partition(directory)
        small = _small_files(directory, settings.target_rows, row_counts)
        if len(small) < settings.min_files:
            return None

        return _merge(directory, small, settings, row_counts)


def recover_partition(directory: Path) -> None:
    """Finish or undo the compactions and writes that a crash interrupted."""
    for manifest in _layout.read_manifests(directory):
        if (directory / manifest.output).exists():
            for name in manifest.inputs:
                with contextlib.suppress(FileNotFoundError):
                    (directory / name).unlink()
        with contextlib.suppress(FileNotFoundError):
            manifest.path.unlink()

    now = time.time()
    for entry in os.scandir(directory):
        if not entry.name.startswith(_layout.TEMP_PREFIX):
            continue
        with contextlib.suppress(FileNotFoundError):
            stale = now - entry.stat().st_mtime >= STALE_TEMPORARY_SECONDS
            if stale and _writer_is_gone(entry.name):
                os.unlink(entry.path)


def _writer_is_gone(temporary_name: str) -> bool:
    pid_text = temporary_name[len(_layout.TEMP_PREFIX) :].split("-", 1)[0]
    if not pid_text.isdigit():
        return False

    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False

    return False


def _small_files(
    directory: Path, target_rows: int, row_counts: MutableMapping[str, int]
) -> list[Path]:
    small = []
    for path in _layout.list_data_files(directory, recursive=False):
        key = str(path)
        if key not in row_counts:
            row_counts[key] = pq.read_metadata(path).num_rows
        if row_counts[key] < target_rows:
            small.append(path)

    return small


def _merge(
    directory: Path,
    inputs: Sequence[Path],
    settings: CompactionSettings,
    row_counts: MutableMapping[str, int],
) -> CompactionResult:
    tables = [pq.read_table(path) for path in inputs]
    merged = pa.concat_tables(tables, promote_options="permissive")
    merged = merged.replace_schema_metadata(tables[0].schema.metadata)
    keys = [
        (name, "ascending") for name in settings.sort_by if name in merged.schema.names
    ]
    if keys:
        merged = merged.sort_by(keys)

    output = _layout.data_file_name()
    manifest = directory / f"{_layout.MANIFEST_PREFIX}{uuid.uuid4().hex}.json"
    names = [path.name for path in inputs]
    _layout.write_json_atomically(
        {"output": output, "inputs": names}, manifest, fsync=settings.fsync
    )
    written = _layout.write_table_atomically(
        merged,
        directory,
        output,
        row_group_rows=settings.row_group_rows,
        compression=settings.compression,
        fsync=settings.fsync,
    )
    row_counts[str(written)] = merged.num_rows

    for path in inputs:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        row_counts.pop(str(path), None)
    manifest.unlink()

    _logger.debug(
        "Compacted %d files (%d rows) into %s", len(inputs), merged.num_rows, written
    )
    return CompactionResult(tuple(inputs), written, merged.num_rows)


@contextlib.contextmanager
def _exclusive_lock(directory: Path) -> Iterator[bool]:
    if fcntl is None:
        # NOTE: without flock (Windows) two processes could merge the same files,
        # so compaction is skipped there.
        yield False
        return

    descriptor = os.open(directory / _layout.LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)
