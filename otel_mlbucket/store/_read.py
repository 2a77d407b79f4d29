"""Reading a store: the pruned file list and one dataset with a unified schema."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from otel_mlbucket.store._layout import PartitionPredicate, list_data_files

_DICTIONARY = pa.dictionary(pa.int32(), pa.string())
_MAX_CACHED_FRAGMENTS = 16_384
_MAX_CACHED_SCHEMAS = 256


def unify_schemas(schemas: Sequence[pa.Schema]) -> pa.Schema:
    """Return one schema that every given schema can be read as.

    Fields are matched by name; the first schema's field order and types come
    first. Types are promoted where Arrow can (int32 to int64, int to float, null to
    anything). A field whose types cannot be promoted is read as a string.
    """
    schemas = [schema.remove_metadata() for schema in schemas]
    try:
        return pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        pass

    fields: dict[str, pa.Field] = {}
    for schema in schemas:
        for field in schema:
            known = fields.get(field.name)
            if known is None:
                fields[field.name] = field
            elif known.type != field.type:
                fields[field.name] = _promoted(known, field)

    return pa.schema(list(fields.values()))


def _promoted(known: pa.Field, other: pa.Field) -> pa.Field:
    try:
        return pa.unify_schemas(
            [pa.schema([known]), pa.schema([other])], promote_options="permissive"
        ).field(known.name)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.field(known.name, pa.string())


class StoreReader:
    """Opens pruned datasets of one store and caches each file's footer.

    Data files never change after they appear (names are unique and files are
    replaced, not rewritten), so a footer read once stays valid until the file is
    deleted. Not thread safe.

    Args:
        root: The store directory.
        expected: The schema the caller expects, such as `store_schema(spec)`.
        dictionary_columns: String columns that `open(dictionary=True)` reads as
            dictionary<int32, string>, which decodes low-cardinality bucket
            columns several times faster.
    """

    def __init__(
        self, root: Path, expected: pa.Schema, dictionary_columns: Sequence[str] = ()
    ):
        self.root = root
        self.expected = expected
        self._filesystem = pafs.LocalFileSystem()
        self._dictionary_columns = tuple(dictionary_columns)
        read_options = ds.ParquetReadOptions(
            dictionary_columns=self._dictionary_columns
        )
        self._formats = {
            False: ds.ParquetFileFormat(),
            True: ds.ParquetFileFormat(read_options=read_options),
        }
        self._fragments: dict[tuple[str, bool], ds.ParquetFileFragment] = {}
        self._file_schemas: dict[str, pa.Schema] = {}
        self._schemas: dict[tuple[tuple[str, ...], bool], pa.Schema] = {}

    def open(
        self,
        predicates: Mapping[str, PartitionPredicate] | None = None,
        *,
        dictionary: bool = False,
    ) -> tuple[ds.Dataset, list[Path]]:
        """Open the files that survive partition pruning as one dataset.

        The dataset's schema unifies `expected` with every file's schema. Files
        written by an older version, with another spec or with extra columns
        therefore all read, and a column that a file lacks reads as null.

        Returns:
            The dataset and the files it reads.

        Raises:
            FileNotFoundError: root does not exist, or a listed file disappeared.
        """
        files = list_data_files(self.root, predicates)
        fragments = [self._fragment(path, dictionary) for path in files]
        schema = self._dataset_schema(files, fragments, dictionary)

        dataset = ds.FileSystemDataset(
            fragments, schema, self._formats[dictionary], self._filesystem
        )
        return dataset, files

    def _fragment(self, path: Path, dictionary: bool) -> ds.ParquetFileFragment:
        key = (str(path), dictionary)
        fragment = self._fragments.get(key)
        if fragment is None:
            if len(self._fragments) >= _MAX_CACHED_FRAGMENTS:
                self._fragments.clear()
                self._file_schemas.clear()
            fragment = self._formats[dictionary].make_fragment(
                str(path), self._filesystem
            )
            fragment.ensure_complete_metadata()
            self._fragments[key] = fragment
            self._file_schemas[key[0]] = _plain(fragment.physical_schema)

        return fragment

    def _dataset_schema(
        self,
        files: list[Path],
        fragments: list[ds.ParquetFileFragment],
        dictionary: bool,
    ) -> pa.Schema:
        """Return the unified schema of the files, cached per set of files."""
        key = (tuple(str(path) for path in files), dictionary)
        schema = self._schemas.get(key)
        if schema is not None:
            return schema

        found = [
            self._file_schemas.get(name) or _plain(fragment.physical_schema)
            for name, fragment in zip(key[0], fragments, strict=True)
        ]
        schema = unify_schemas([self.expected, *found])
        if dictionary:
            schema = self._with_dictionaries(schema)
        if len(self._schemas) >= _MAX_CACHED_SCHEMAS:
            self._schemas.clear()
        self._schemas[key] = schema
        return schema

    def _with_dictionaries(self, schema: pa.Schema) -> pa.Schema:
        wanted = set(self._dictionary_columns)
        fields = [
            pa.field(field.name, _DICTIONARY)
            if field.name in wanted and pa.types.is_string(field.type)
            else field
            for field in schema
        ]
        return pa.schema(fields)


def _plain(schema: pa.Schema) -> pa.Schema:
    """Return the schema with dictionary fields as their value type."""
    for index, field in enumerate(schema):
        if pa.types.is_dictionary(field.type):
            schema = schema.set(index, field.with_type(field.type.value_type))

    return schema


def open_dataset(
    root: Path,
    expected: pa.Schema,
    predicates: Mapping[str, PartitionPredicate] | None = None,
) -> tuple[ds.Dataset, list[Path]]:
    """Open the files of a store that survive partition pruning as one dataset.

    See `StoreReader.open`; this reads every file's footer again on each call.

    Raises:
        FileNotFoundError: root does not exist.
    """
    return StoreReader(root, expected).open(predicates)
