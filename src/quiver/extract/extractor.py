"""Drive resources and write their items, as Arrow IPC files, into an extracted package.

Rows are buffered per table and converted once per buffer (:mod:`quiver.extract.batcher`); Arrow
items stream through untouched. Each table gets its own IPC stream file per item kind; a batch
whose schema differs from the open file starts a new file (IPC streams have one schema).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from quiver.common.packages import JobFile
from quiver.exceptions import QuiverError, ResourceExtractionError
from quiver.extract.batcher import as_row, rows_to_batch
from quiver.extract.items import arrow_batches, is_arrow_like
from quiver.extract.resource import Resource
from quiver.normalize.naming import SnakeCaseNaming
from quiver.schema.model import Schema

ROWS_EXT = "rows.arrow"
ARROW_EXT = "arrow"
DEFAULT_BUFFER_MAX_ITEMS = 100_000


@dataclass
class ExtractMetrics:
    """What one extract wrote: rows per table and the files."""

    row_counts: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    replaced_tables: set[str] = field(default_factory=set)


class _IpcTableWriter:
    """IPC stream files of one table and item kind, rotated when the batch schema changes."""

    def __init__(self, jobs_dir: Path, table_name: str, ext: str, metrics: ExtractMetrics) -> None:
        self._jobs_dir = jobs_dir
        self._table_name = table_name
        self._ext = ext
        self._metrics = metrics
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None
        self._sink: pa.NativeFile | None = None
        self._schema: pa.Schema | None = None

    def write(self, batch: pa.RecordBatch) -> None:
        if self._writer is None or not batch.schema.equals(self._schema, check_metadata=False):
            self.close()
            path = self._jobs_dir / JobFile.new(self._table_name, self._ext).name
            self._sink = pa.OSFile(str(path), "wb")
            self._writer = pa.ipc.new_stream(self._sink, batch.schema)
            self._schema = batch.schema
            self._metrics.files.append(path)
        self._writer.write_batch(batch)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            assert self._sink is not None
            self._sink.close()
            self._writer = None
            self._sink = None


class Extractor:
    """Extract resources into one package: a ``jobs/new`` folder of IPC files plus a schema.

    Args:
        package: the temp package folder to fill.
        schema: the schema to record table hints into (a clone owned by this extract).
        buffer_max_items: rows buffered per table before they become one record batch.
    """

    def __init__(
        self,
        package: Path,
        schema: Schema,
        *,
        naming: SnakeCaseNaming,
        buffer_max_items: int = DEFAULT_BUFFER_MAX_ITEMS,
        on_rows: Callable[[str, int], None] | None = None,
    ) -> None:
        self._jobs_dir = package / "jobs" / "new"
        self.schema = schema
        self._naming = naming
        self._buffer_max_items = buffer_max_items
        self._buffers: dict[str, list[dict[str, Any]]] = {}
        self._writers: dict[tuple[str, str], _IpcTableWriter] = {}
        self._known_tables: set[str] = set()
        self.metrics = ExtractMetrics()
        self._on_rows = on_rows

    # ------------------------------------------------------------------ run
    def extract(self, resources: list[Resource]) -> ExtractMetrics:
        """Pull every resource to the end; raise ResourceExtractionError naming the culprit."""
        try:
            for resource in resources:
                self._extract_resource(resource)
            for table_name in list(self._buffers):
                self._flush(table_name)
        finally:
            for writer in self._writers.values():
                writer.close()
        return self.metrics

    def _extract_resource(self, resource: Resource) -> None:
        table_hint = resource.table_name
        static_table = None if callable(table_hint) else self._table(str(table_hint), resource)
        if static_table is not None and resource.write_disposition == "replace":
            self.metrics.replaced_tables.add(static_table)
        pages = resource.pages()
        while True:
            try:
                page = next(pages)
            except StopIteration:
                return
            except QuiverError:
                raise
            except Exception as error:
                raise ResourceExtractionError(resource.name, error) from error
            self._route(page, resource, static_table)

    def _route(self, page: Any, resource: Resource, static_table: str | None) -> None:
        if page is None:
            return
        if is_arrow_like(page):
            table = static_table or self._dynamic_table(resource, page)
            for batch in arrow_batches(page):
                self._write(table, ARROW_EXT, batch)
            return
        rows = page if isinstance(page, list | tuple) else [page]
        if static_table is not None:
            # Rows of any kind (dicts, dataclasses, scalars) are buffered as they are; the
            # batcher turns the whole buffer into columns at once.
            buffer = self._buffers.setdefault(static_table, [])
            buffer.extend(rows)
            if len(buffer) >= self._buffer_max_items:
                self._flush(static_table)
            return
        for row in rows:
            if is_arrow_like(row):
                self._route(row, resource, None)
                continue
            item = row if isinstance(row, dict) else as_row(row)
            table = self._dynamic_table(resource, item)
            buffer = self._buffers.setdefault(table, [])
            buffer.append(item)
            if len(buffer) >= self._buffer_max_items:
                self._flush(table)

    # -------------------------------------------------------------- tables
    def _dynamic_table(self, resource: Resource, item: Any) -> str:
        name = resource.table_name(item)
        return self._table(str(name), resource)

    def _table(self, raw_name: str, resource: Resource) -> str:
        """Normalize a table name and record the resource's hints for it, once."""
        name = self._naming.normalize_table_identifier(raw_name)
        if name in self._known_tables:
            return name
        self._known_tables.add(name)
        hints = {k: v for k, v in resource.hints.items() if k not in ("table_name",)}
        hints["resource"] = resource.name
        hints.setdefault("write_disposition", "append")
        table_hints = _schema_hints(hints, self._naming)
        self.schema.merge_hints(name, table_hints)
        return name

    # ------------------------------------------------------------- writing
    def _flush(self, table_name: str) -> None:
        rows = self._buffers.pop(table_name, None)
        if rows:
            self._write(table_name, ROWS_EXT, rows_to_batch(rows))

    def _write(self, table_name: str, ext: str, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        key = (table_name, ext)
        writer = self._writers.get(key)
        if writer is None:
            writer = self._writers[key] = _IpcTableWriter(
                self._jobs_dir, table_name, ext, self.metrics
            )
        writer.write(batch)
        counts = self.metrics.row_counts
        counts[table_name] = counts.get(table_name, 0) + batch.num_rows
        if self._on_rows is not None:
            self._on_rows(table_name, batch.num_rows)


def _schema_hints(hints: dict[str, Any], naming: SnakeCaseNaming) -> dict[str, Any]:
    """Resource hints → schema table hints: column names normalized, keys as column hints."""
    result = {k: v for k, v in hints.items() if k not in ("primary_key", "merge_key", "columns")}
    columns: dict[str, dict[str, Any]] = {}
    for raw_name, column in (hints.get("columns") or {}).items():
        name = naming.normalize_path(raw_name)
        columns[name] = {**column, "name": name}
    for key_hint in ("primary_key", "merge_key"):
        value = hints.get(key_hint)
        if value is None:
            continue
        for raw_name in [value] if isinstance(value, str) else list(value):
            name = naming.normalize_path(raw_name)
            columns.setdefault(name, {"name": name})[key_hint] = True
    if columns:
        result["columns"] = columns
    return result


def iter_batches(path: Path) -> Iterator[pa.RecordBatch]:
    """Read an extracted IPC stream file batch by batch (memory-mapped)."""
    with pa.memory_map(str(path)) as source:
        yield from pa.ipc.open_stream(source)
