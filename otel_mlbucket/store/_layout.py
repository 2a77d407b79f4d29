"""The store's directory layout: partition directory names, file names, atomic
writes and the listing of the files a reader must read.

A store is a Hive-partitioned tree, `<root>/<key>=<value>/.../<file>.parquet`.

Partition values are escaped so that any string round-trips through a directory
name (`escape_partition_value` and `unescape_partition_value`):

- every character outside `a-z 0-9 - _ .` is percent-encoded as its UTF-8 bytes:
  `/` is `%2F`, `=` is `%3D`, `%` is `%25`, `é` is `%C3%A9` and `A` is `%41`.
  Upper-case letters are encoded so that two values never share a directory on a
  case-insensitive file system (macOS and Windows by default);
- a leading `.` or `_` is percent-encoded too, so `..` becomes `%2E.`, no directory
  is hidden and no value can look like a token;
- None is `__HIVE_DEFAULT_PARTITION__` and the empty string is `__empty__`;
- a value whose escaped form exceeds 200 bytes is `__sha256_<32 hex digits>`, the
  start of its SHA-256 digest, which keeps the name under the usual 255-byte limit
  but cannot be decoded. Files keep every partition column, so the value itself is
  always in the data.

pyarrow and DuckDB decode the percent-encoding and the Hive null token when they
read the tree with Hive partitioning.

Files appear atomically: a writer writes `.tmp-<pid>-<uuid>.parquet` in the target
directory, fsyncs it and renames it to `part-<UTC time>-<pid>-<uuid>.parquet`.
Readers skip names that start with `.` or `_`, so a killed writer leaves only a
hidden temporary file behind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from otel_mlbucket._values import repair_utf8

NULL_TOKEN = "__HIVE_DEFAULT_PARTITION__"
EMPTY_TOKEN = "__empty__"
HASH_PREFIX = "__sha256_"
MAX_ESCAPED_BYTES = 200
TEMP_PREFIX = ".tmp-"
MANIFEST_PREFIX = "_compaction-"
LOCK_NAME = ".compaction.lock"

HIGH_CARDINALITY = frozenset(
    {"body", "trace_id", "span_id", "exception_message", "attributes"}
)
"""String columns whose values are mostly unique, so written without dictionary."""

_UPPER_CASE = re.compile(r"%[0-9A-F]{2}|([A-Z])")
"""Percent escapes, kept as they are, or an upper-case letter to encode."""

PartitionPredicate = Callable[[str], bool]
"""A predicate on the escaped value of a partition directory: True keeps it."""


def escape_partition_value(value: str | None) -> str:
    """Return the directory form of a partition value (see the module docstring)."""
    if value is None:
        return NULL_TOKEN
    if value == "":
        return EMPTY_TOKEN

    text = repair_utf8(value)
    escaped = _UPPER_CASE.sub(_encode_letter, quote(text, safe="-_."))
    if escaped[0] == ".":
        escaped = "%2E" + escaped[1:]
    elif escaped[0] == "_":
        escaped = "%5F" + escaped[1:]
    if len(escaped) > MAX_ESCAPED_BYTES:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
        return f"{HASH_PREFIX}{digest}"

    return escaped


def _encode_letter(match: re.Match[str]) -> str:
    letter = match.group(1)
    return f"%{ord(letter):02X}" if letter else match.group(0)


def unescape_partition_value(escaped: str) -> str | None:
    """Return the partition value of a directory form.

    Raises:
        ValueError: The value was too long and is stored as a digest.
    """
    if escaped == NULL_TOKEN:
        return None
    if escaped == EMPTY_TOKEN:
        return ""
    if escaped.startswith(HASH_PREFIX):
        raise ValueError(
            f"Partition value {escaped!r} is a digest of a value longer than "
            f"{MAX_ESCAPED_BYTES} escaped bytes; read the column from the files."
        )

    return unquote(escaped, errors="strict")


def partition_directory(
    root: Path, keys: Iterable[str], values: Iterable[str | None]
) -> Path:
    """Return the directory of one combination of partition values."""
    directory = root
    for key, value in zip(keys, values, strict=True):
        directory = directory / f"{key}={escape_partition_value(value)}"

    return directory


def split_by_partition(
    table: pa.Table,
    root: Path,
    partition_by: Sequence[str],
    sort_by: Sequence[str],
) -> list[tuple[Path, pa.Table]]:
    """Split rows into one table per partition directory, each sorted by sort_by."""
    keys = [(name, "ascending") for name in sort_by]
    if not partition_by:
        return [(root, table.sort_by(keys) if keys else table)]

    combinations = table.group_by(list(partition_by)).aggregate([])
    parts = []
    for values in combinations.to_pylist():
        mask = None
        for key in partition_by:
            value = values[key]
            match = (
                pc.is_null(table[key])
                if value is None
                else pc.fill_null(pc.equal(table[key], value), False)
            )
            mask = match if mask is None else pc.and_(mask, match)
        part = table.filter(mask)
        directory = partition_directory(
            root, partition_by, [values[key] for key in partition_by]
        )
        parts.append((directory, part.sort_by(keys) if keys else part))

    return parts


def leaf_directories(root: Path) -> list[Path]:
    """Return the directories that contain data files, root included."""
    leaves = []
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = [d for d in subdirectories if is_visible(d)]
        if any(is_visible(f) and f.endswith(".parquet") for f in files):
            leaves.append(Path(directory))

    return sorted(leaves)


def partition_keys_of_all(files: Iterable[Path], root: Path) -> frozenset[str]:
    """Return the partition keys that are a directory level of every file."""
    common: set[str] | None = None
    for path in files:
        parts = path.parent.relative_to(root).parts
        keys = {part.partition("=")[0] for part in parts if "=" in part}
        common = keys if common is None else common & keys

    return frozenset(common or ())


def data_file_name(suffix: str = "") -> str:
    """Return a new unique data file name with the time and this process's id."""
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return f"part-{now}-{os.getpid()}-{uuid.uuid4().hex}{suffix}.parquet"


def is_visible(name: str) -> bool:
    """Return True for the names that readers read or descend into."""
    return not name.startswith((".", "_"))


def write_table_atomically(
    table: pa.Table,
    directory: Path,
    name: str,
    *,
    row_group_rows: int,
    compression: str,
    fsync: bool,
) -> Path:
    """Write a Parquet file under a hidden name and rename it into place.

    Returns:
        The path of the visible file.

    Raises:
        OSError: Creating the directory or writing the file failed; the temporary
            file is removed.
    """
    created = _make_directories(directory)
    temporary = directory / f"{TEMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex}.parquet"
    final = directory / name
    try:
        pq.write_table(
            table,
            temporary,
            row_group_size=row_group_rows,
            compression=compression,
            **encoding_options(table.schema),
        )
        if fsync:
            _fsync_path(temporary)
        os.replace(temporary, final)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise

    if fsync:
        for synced in {directory, *created}:
            _fsync_path(synced)

    return final


def encoding_options(schema: pa.Schema) -> dict[str, object]:
    """Return the Parquet encodings for a schema's columns.

    Dictionary encoding only for the low-cardinality string columns, because trying
    it on unique values (bodies, float measurements, timestamps) costs write time
    and falls back anyway. Timestamps use delta encoding, which stores the sorted
    times of a file in a fraction of their plain size.
    """
    dictionary = [
        field.name
        for field in schema
        if pa.types.is_string(field.type) and field.name not in HIGH_CARDINALITY
    ]
    deltas = {
        field.name: "DELTA_BINARY_PACKED"
        for field in schema
        if pa.types.is_timestamp(field.type)
    }
    return {"use_dictionary": dictionary, "column_encoding": deltas}


def write_json_atomically(value: object, path: Path, *, fsync: bool) -> None:
    """Write a small JSON file under a hidden name and rename it into place."""
    temporary = path.with_name(f"{TEMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex}.json")
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(value, handle)
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise

    if fsync:
        _fsync_path(path.parent)


def _make_directories(directory: Path) -> list[Path]:
    """Create a directory and its parents. Return the parents whose entries changed."""
    missing: list[Path] = []
    current = directory
    while not current.is_dir():
        missing.append(current)
        current = current.parent

    directory.mkdir(parents=True, exist_ok=True)
    return [path.parent for path in missing]


def _fsync_path(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@dataclass(frozen=True)
class Manifest:
    """A compaction in progress: `output` replaces `inputs` once it exists."""

    path: Path
    output: str
    inputs: tuple[str, ...]


def read_manifests(directory: Path) -> list[Manifest]:
    """Return the compaction manifests of one partition directory."""
    manifests = []
    try:
        entries = [
            e for e in os.scandir(directory) if e.name.startswith(MANIFEST_PREFIX)
        ]
    except FileNotFoundError:
        return []

    for entry in entries:
        if not entry.name.endswith(".json"):
            continue
        try:
            with open(entry.path, encoding="utf-8") as handle:
                loaded = json.load(handle)
            manifests.append(
                Manifest(Path(entry.path), loaded["output"], tuple(loaded["inputs"]))
            )
        except (OSError, ValueError, KeyError, TypeError):
            # Removed by a finishing compaction between scandir and open.
            continue

    return manifests


def list_data_files(
    root: Path,
    predicates: Mapping[str, PartitionPredicate] | None = None,
    *,
    recursive: bool = True,
) -> list[Path]:
    """List the visible Parquet files under root, pruned by partition predicates.

    Without `recursive`, only the files directly in root are listed. A directory
    `<key>=<value>` is skipped when `predicates[key]` returns False for its
    escaped value. Files that a published compaction replaced (those listed as
    inputs of a manifest whose output exists) are left out, so a reader sees every
    row once at every step of a compaction.

    Raises:
        FileNotFoundError: root does not exist.
    """
    predicates = predicates or {}
    found: list[Path] = []
    pending = [root]
    while pending:
        directory = pending.pop()
        files, subdirectories = _scan(directory, predicates, directory is root)
        if recursive:
            pending.extend(subdirectories)
        found.extend(_without_replaced(directory, files))

    return sorted(found)


def _scan(
    directory: Path, predicates: Mapping[str, PartitionPredicate], is_root: bool
) -> tuple[list[str], list[Path]]:
    files: list[str] = []
    subdirectories: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        if is_root:
            raise
        return files, subdirectories

    for entry in entries:
        if not is_visible(entry.name):
            continue
        if entry.is_dir():
            key, separator, value = entry.name.partition("=")
            predicate = predicates.get(key) if separator else None
            if predicate is None or predicate(value):
                subdirectories.append(Path(entry.path))
        elif entry.name.endswith(".parquet"):
            files.append(entry.name)

    return files, subdirectories


def _without_replaced(directory: Path, files: list[str]) -> list[Path]:
    if not files:
        return []

    # The manifests are listed after the files: a manifest is written before its
    # output appears and removed only after all its inputs are gone, so an input
    # listed here together with the output is either excluded or already deleted.
    present = set(files)
    replaced: set[str] = set()
    for manifest in read_manifests(directory):
        if manifest.output in present:
            replaced.update(manifest.inputs)

    return [directory / name for name in files if name not in replaced]
