"""The Arrow fast path at normalize: a parquet file written at extract, linked in unchanged.

Extract writes Arrow items that look like they need no normalizing as parquet job files
(:mod:`quiver.extract.arrow_parquet`). Here a file is passed through (hard-linked into the
normalized package, never decoded) only when the regular path would write the same data:

- the table gets no lineage columns, no unnesting, no partitioned files, no merge row ids, and
  its contract is ``evolve`` for tables, columns and data types (nothing can be discarded);
- the file's first row group, coerced by the regular code against the schema as it is *now*
  (which evolves the schema exactly as the regular path does with the first batch), comes out
  unchanged: same names, order and types, no variant, no column added or left out. From then
  on every column is known with the file's type, so coercing the other row groups is the
  identity (``coerce_values`` returns an array of the target type as it is);
- the footer statistics show no null in a column that is not nullable;
- the file was encoded with the codec and row-group size normalize would use now.

Anything else (or any error while checking) returns ``None``: the regular path reads the file
batch by batch and does what it always does, errors included.
"""

from __future__ import annotations

import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from quiver.normalize.coerce import CoerceContext, coerce_table
from quiver.normalize.contracts import Violations, resolve_contract
from quiver.normalize.flatten import FlatTable, rename_arrow_columns
from quiver.package.formats import ARROW_PARQUET_EXT, keeps_arrow_items_whole
from quiver.package.parquet_files import PARQUET_EXT
from quiver.package.storage import JobFile
from quiver.schema.model import Schema
from quiver.schema.naming import NamingConvention
from quiver.settings import NormalizeConfig


class PackageContext(Protocol):
    """What the pass-through reads of the normalizer's package context."""

    schema: Schema
    load_id: str
    naming: NamingConvention
    config: NormalizeConfig
    established: frozenset[str]
    violations: Violations

    def lock(self, root_table: str) -> threading.Lock: ...


@dataclass(frozen=True)
class PassedThrough:
    """A file linked into the normalized package as it was extracted."""

    table_name: str
    rows: int
    path: Path


def pass_through(job_path: Path, target: Path, context: PackageContext) -> PassedThrough | None:
    """Link the extracted parquet file ``job_path`` into ``target`` if normalizing it would
    write the same rows; ``None`` when the regular path must run (see the module docstring)."""
    job = JobFile.parse(job_path.name)
    if job.ext != ARROW_PARQUET_EXT or not _plain_table(job.table_name, context):
        return None
    with pq.ParquetFile(str(job_path)) as parquet:
        metadata = parquet.metadata
        if not metadata.num_row_groups or not _encoded_as_configured(metadata, context.config):
            return None
        with context.lock(job.table_name):
            if not _first_row_group_unchanged(parquet, job.table_name, context):
                return None
        if not _no_nulls_where_required(parquet, job.table_name, context.schema):
            return None
        rows = metadata.num_rows
    linked = target / "jobs" / "new" / JobFile.new(job.table_name, PARQUET_EXT).name
    _link(job_path, linked)
    return PassedThrough(job.table_name, rows, linked)


def _plain_table(table_name: str, context: PackageContext) -> bool:
    schema, config = context.schema, context.config
    if config.add_dlt_id_to_arrow or config.add_dlt_load_id_to_arrow:
        return False
    return (
        keeps_arrow_items_whole(schema, table_name)
        and resolve_contract(schema, table_name).is_evolve
    )


def _encoded_as_configured(metadata: pq.FileMetaData, config: NormalizeConfig) -> bool:
    """A file written under other parquet settings (a package extracted before they changed)
    is encoded again, as the settings say."""
    options = config.parquet
    codec = "UNCOMPRESSED" if options.compression.lower() == "none" else options.compression
    groups = [metadata.row_group(index) for index in range(metadata.num_row_groups)]
    return all(group.num_rows <= options.row_group_size for group in groups) and all(
        group.column(column).compression == codec.upper()
        for group in groups
        for column in range(group.num_columns)
    )


def _first_row_group_unchanged(
    parquet: pq.ParquetFile, table_name: str, context: PackageContext
) -> bool:
    """Coerce the first row group as the regular path would (this evolves the schema as it
    would with the first batch) and compare. Coercing a batch twice gives the same result, so
    the regular path can still run after a refusal."""
    first = parquet.read_row_group(0).combine_chunks()
    try:
        batch = first.to_batches()[0]
        renamed = rename_arrow_columns(batch, context.naming, table_name)
        if renamed.schema.names != batch.schema.names:
            return False
        flat = FlatTable(table_name, None, path=(table_name,))
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            flat.add(name, column)
        coerce_context = CoerceContext(
            context.schema,
            context.load_id,
            context.naming,
            False,
            context.established,
            context.violations,
        )
        result = coerce_table(flat, coerce_context)
    except Exception:  # the regular path raises it again, with its own context
        return False
    coerced = result.table
    return (
        result.discarded is None
        and not result.discarded_rows
        and not result.discarded_values
        and coerced.num_rows == first.num_rows
        and coerced.schema.names == first.schema.names
        and coerced.schema.types == first.schema.types
    )


def _no_nulls_where_required(parquet: pq.ParquetFile, table_name: str, schema: Schema) -> bool:
    """No null in a column that is not nullable, by the footer's null counts (top-level,
    non-nested columns only: a nested column's statistics are per leaf)."""
    table = schema.tables.get(table_name) or {}
    required = {
        name for name, column in table.get("columns", {}).items() if column.get("nullable") is False
    }
    if not required:
        return True
    arrow_schema = parquet.schema_arrow
    metadata = parquet.metadata
    leaves = {metadata.schema.column(i).path: i for i in range(metadata.num_columns)}
    for name in required & set(arrow_schema.names):
        index = leaves.get(name)
        if index is None or pa.types.is_nested(arrow_schema.field(name).type):
            return False
        for group in range(metadata.num_row_groups):
            statistics = metadata.row_group(group).column(index).statistics
            if statistics is None or not statistics.has_null_count or statistics.null_count:
                return False
    return True


def _link(source: Path, target: Path) -> None:
    """A hard link (the extracted package keeps its file until it is deleted, so a crash
    before the normalized package is committed loses nothing); a copy where links fail."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
