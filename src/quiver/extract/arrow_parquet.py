"""The Arrow fast path at extract: Arrow items that need no normalizing go straight to parquet.

An Arrow item whose column names are already normalized, into a table that gets no lineage
columns, no unnesting and no partitioned files, would come out of normalize as it went in. Such
batches are written here as parquet job files (``.arrow.parquet``, one row group per batch,
encoded by the same lanes and choices as normalized files) instead of IPC files, and normalize
passes a file through when coercing it against the schema would change nothing
(:mod:`quiver.normalize.passthrough`, which checks everything again: this is only a guess made
with what extract knows). docs/architecture.md, "Arrow fast path".
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from quiver.errors import QuiverError
from quiver.package.formats import ARROW_PARQUET_EXT, FileSequence, keeps_arrow_items_whole
from quiver.package.parquet_files import ParquetTableWriter
from quiver.package.storage import JobFile
from quiver.schema.model import Schema
from quiver.schema.naming import NamingConvention
from quiver.schema.types import arrow_to_column, column_to_arrow, is_nested
from quiver.settings import ExtractConfig, NormalizeConfig, resolve


class ArrowParquetJobs:
    """Decides which Arrow batches take the fast path and makes their table writers.

    Args:
        jobs_dir: the extracted package's ``jobs/new`` folder.
        schema: the extract's schema (table hints as resources declared them).
        naming: the naming convention the names must already follow.
        sequence: the extractor's file ids (the fast-path files keep the extraction order).
        on_new_file: called with the path of each file as it is opened.
        allowed: ``False`` turns the fast path off: when extracted files rotate
            (``file_max_items``/``file_max_bytes``; it writes no rotated files). In an
            overlapped ``run()`` these batches are not streamed (normalize/stream.py).
    """

    def __init__(
        self,
        jobs_dir: Path,
        schema: Schema,
        naming: NamingConvention,
        sequence: FileSequence,
        on_new_file: Callable[[Path], None],
        *,
        allowed: bool,
    ) -> None:
        normalize = resolve(NormalizeConfig)
        self.enabled = (
            resolve(ExtractConfig).arrow_fast_path
            and allowed
            and not normalize.add_dlt_id_to_arrow
            and not normalize.add_dlt_load_id_to_arrow
        )
        self._jobs_dir = jobs_dir
        self._schema = schema
        self._naming = naming
        self._sequence = sequence
        self._on_new_file = on_new_file
        self._parquet = normalize.parquet
        #: Per Arrow schema: the plain schema (no metadata, nullable fields) when parquet gives
        #: it back unchanged and its names are normalized, else ``None``.
        self._plain_schemas: dict[pa.Schema, pa.Schema | None] = {}

    def plain_batch(self, table_name: str, batch: pa.RecordBatch) -> pa.RecordBatch | None:
        """``batch`` as normalize would write it, or ``None`` when it must be normalized."""
        if not self.enabled or not keeps_arrow_items_whole(self._schema, table_name):
            return None
        schema = batch.schema
        if schema not in self._plain_schemas:
            self._plain_schemas[schema] = self._plain_schema(schema)
        plain = self._plain_schemas[schema]
        if plain is None:
            return None
        # Normalize rebuilds its tables from the arrays: no metadata, every field nullable.
        if plain.equals(schema, check_metadata=True):
            return batch
        return pa.RecordBatch.from_arrays(batch.columns, schema=plain)

    def writer(self, table_name: str) -> ArrowParquetWriter:
        """A writer of the fast-path files of ``table_name``."""

        def next_name() -> str:
            path = (
                self._jobs_dir
                / JobFile(table_name, self._sequence.next_id(), 0, ARROW_PARQUET_EXT).name
            )
            self._on_new_file(path)
            return path.name

        return ArrowParquetWriter(
            ParquetTableWriter(self._jobs_dir, table_name, self._parquet, file_namer=next_name)
        )

    def _plain_schema(self, schema: pa.Schema) -> pa.Schema | None:
        names = schema.names
        normalized = [self._naming.normalize_path(name) for name in names if name.strip()]
        if normalized != names or len(set(names)) != len(names):
            return None
        if not all(_kept_by_normalize(field.type) for field in schema):
            return None
        plain = pa.schema([pa.field(f.name, f.type) for f in schema])
        return plain if _parquet_keeps(plain) else None


def _kept_by_normalize(kind: pa.DataType) -> bool:
    """Whether normalize writes a new column of this type as it is: nested types stay (Delta
    and Iceberg store them); others when the type maps to a data type and back unchanged
    (``large_string``, ``float32``, ``dictionary``, naive timestamps... are cast)."""
    if is_nested(kind):
        return True
    column = arrow_to_column(kind)
    try:
        return column is not None and column_to_arrow(column) == kind
    except QuiverError:
        return False


def _parquet_keeps(schema: pa.Schema) -> bool:
    """Whether a parquet file (written as normalize writes it) reads back as ``schema``:
    normalize must coerce the same types from the parquet file as from the item."""
    sink = io.BytesIO()
    pq.write_table(
        schema.empty_table(), sink, coerce_timestamps="us", allow_truncated_timestamps=True
    )
    sink.seek(0)
    return bool(pq.read_schema(sink).remove_metadata().equals(schema))


class ArrowParquetWriter:
    """The fast-path files of one table (the extractor's table-writer interface)."""

    def __init__(self, writer: ParquetTableWriter) -> None:
        self._writer = writer

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write(pa.Table.from_batches([batch]))

    def close(self) -> None:
        self._writer.close()
