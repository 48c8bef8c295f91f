"""Drive resources and write their items, as Arrow IPC files, into an extracted package.

Rows are buffered per resource and table, converted a page at a time and written once per buffer
(:mod:`quiver.extract.row_buffer`, :mod:`quiver.extract.batcher`); the incremental has filtered items in the pipe already
(vectorized), and the batch is written. Arrow items stream through untouched (filtered the same
way). Each table gets its own IPC stream file per item kind; a batch whose schema differs from
the open file, or a file past ``file_max_items``/``file_max_bytes``, starts a new file (IPC
streams have one schema).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from quiver.errors import (
    EmptyArrowItem,
    QuiverError,
    ResourceExtractionError,
    RowConversionError,
    UnsupportedValue,
)
from quiver.extract.arrow_parquet import ArrowParquetJobs, ArrowParquetWriter
from quiver.extract.arrow_types import storable_batch
from quiver.extract.contract_check import NewTableContract
from quiver.extract.hints import resolve_hints, table_schema_hints
from quiver.extract.items import (
    DataItemWithMeta,
    HintsMeta,
    MaterializedEmptyList,
    TableNameMeta,
    arrow_batches,
    is_arrow_like,
    is_pandas_frame,
)
from quiver.extract.nested_hints import NESTED_HINTS, nested_table_hints
from quiver.extract.pipe import (
    DEFAULT_WORKERS,
    PipeNode,
    PipeRunner,
    bind_incrementals,
    build_nodes,
)
from quiver.extract.resource import Resource
from quiver.extract.row_buffer import RowBuffer
from quiver.extract.state import in_source, reset_resource_state
from quiver.package.batch_sink import BatchSink
from quiver.package.formats import (
    ARROW_EXT,
    ARROW_PARQUET_EXT,
    ROWS_EXT,
    FileSequence,
    IpcTableWriter,
)
from quiver.progress import NULL_COLLECTOR, Collector
from quiver.schema.model import Schema
from quiver.schema.naming import NamingConvention
from quiver.schema.types import check_column_types
from quiver.settings import DEFAULT_BUFFER_MAX_ITEMS
from quiver.settings import BufferConfig as BufferConfig
from quiver.settings import buffer_config as buffer_config


@dataclass
class ExtractMetrics:
    """What one extract wrote: rows per table and the files."""

    row_counts: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    replaced_tables: set[str] = field(default_factory=set)
    resources: list[str] = field(default_factory=list)
    #: ``Resource.add_metrics`` results by resource name (resources that collected any).
    custom_metrics: dict[str, dict[str, Any]] = field(default_factory=dict)


class Extractor:
    """Extract resources into one package: a ``jobs/new`` folder of IPC files plus a schema.

    Args:
        package: the temp package folder to fill.
        schema: the schema to record table hints into (a clone owned by this extract).
        naming: the naming convention for table and column names in hints.
        buffer_max_items: rows buffered per table before they become one record batch.
        file_max_items: rows per file before rotating (``None``: no limit).
        file_max_bytes: bytes per file before rotating (``None``: no limit).
        on_rows: called with ``(table, rows)`` after each written batch (progress).
        progress: counts ``Resources`` (done/total) and rows per table, once per batch.
        sink: also gets every written batch (``run()`` normalizes them meanwhile).
    """

    def __init__(
        self,
        package: Path,
        schema: Schema,
        *,
        naming: NamingConvention,
        buffer_max_items: int = DEFAULT_BUFFER_MAX_ITEMS,
        file_max_items: int | None = None,
        file_max_bytes: int | None = None,
        on_rows: Callable[[str, int], None] | None = None,
        progress: Collector = NULL_COLLECTOR,
        sink: BatchSink | None = None,
    ) -> None:
        self._jobs_dir = package / "jobs" / "new"
        self.schema = schema
        self._naming = naming
        self._buffer_max_items = max(1, buffer_max_items)
        self._file_max_items = file_max_items
        self._file_max_bytes = file_max_bytes
        self._buffers: dict[tuple[PipeNode, str], RowBuffer] = {}
        self._writers: dict[tuple[str, str], IpcTableWriter | ArrowParquetWriter] = {}
        # File ids in write order: normalize follows it, so the first data extracted decides.
        self._sequence = FileSequence()
        # Arrow items that need no normalizing are written as parquet once (the fast path),
        # unless files rotate. They never go to the sink: ``run()``'s overlap takes those
        # files as they are when it hands its result over (normalize/stream.py).
        self._arrow_parquet = ArrowParquetJobs(
            self._jobs_dir,
            schema,
            naming,
            self._sequence,
            lambda path: self.metrics.files.append(path),
            allowed=file_max_items is None and file_max_bytes is None,
        )
        self._tables: dict[tuple[int, str], str] = {}
        self._static: dict[PipeNode, str | None] = {}
        self.metrics = ExtractMetrics()
        # The ``tables`` contract, checked against the schema as stored (before any hints).
        self._new_tables = NewTableContract(schema, package.name)
        self._on_rows = on_rows
        self._progress = progress
        self._sink = sink

    # ------------------------------------------------------------------------------- run
    def extract(
        self,
        resources: Sequence[Resource],
        *,
        state: dict[str, Any] | None = None,
        source_name: str | None = None,
        workers: int = DEFAULT_WORKERS,
    ) -> ExtractMetrics:
        """Pull every resource to the end; raise ResourceExtractionError naming the culprit.

        Args:
            resources: the resources to load (their transformers' parents run too).
            state: the pipeline state being extracted (a working copy); resource state and
                incremental cursors are read and written there. ``None``: a throwaway state.
            source_name: the state section (``state["sources"][source_name]``).
            workers: threads for ``parallelized`` resources.
        """
        state = {} if state is None else state
        source = source_name or self.schema.name
        for resource in resources:
            if not resource.is_dynamic() and resource.write_disposition == "replace":
                # dlt: a replace starts from scratch, incremental cursors included.
                reset_resource_state(state, source, resource.name)
        with in_source(source), self._progress(f"Extract {source}"):
            roots = build_nodes(resources)
            bind_incrementals(roots, state, source, in_pipe=False)
            emitted = [node for root in roots for node in root.walk() if node.emit]
            for node in (node for root in roots for node in root.walk()):
                node.resource._reset_metrics()  # metrics are per extract
            self.metrics.resources = [node.name for node in emitted]
            self._progress.update("Resources", 0, total=len(emitted))
            for node in emitted:
                # A table with a fixed name exists (and is replaced) even if no rows come.
                self._static_table(node)
            try:
                PipeRunner(roots, self._route, workers=workers).run()
                for node, table_name in list(self._buffers):
                    self._flush(node, table_name)
                self._progress.update("Resources", len(emitted))
            finally:
                for writer in self._writers.values():
                    writer.close()
        self._new_tables.forget_discarded(self.metrics.replaced_tables)
        for root in roots:
            for node in root.walk():
                if node.resource.custom_metrics:
                    self.metrics.custom_metrics[node.name] = node.resource.custom_metrics
        return self.metrics

    # --------------------------------------------------------------------------- routing
    def _route(self, node: PipeNode, item: Any) -> None:
        kind = type(item)
        if kind is MaterializedEmptyList:
            table = self._static_table(node)
            self._materialize(table or self._table(node, node.resource.table_name_of(item), None))
            return
        if kind is dict:
            table = self._static_table(node)
            if table is None:
                table = self._table(node, node.resource.table_name_of(item), item)
            self._buffer(node, table, [item])
            return
        if kind is list:
            if not item:
                return
            first = item[0]
            if (
                isinstance(first, list | tuple)
                or type(first) is DataItemWithMeta
                or is_arrow_like(first)
            ):
                for element in item:
                    self._route(node, element)
                return
            if any(row is None for row in item):
                item = [row for row in item if row is not None]  # dlt writes no row for None
                if not item:
                    return
            table = self._static_table(node)
            if table is not None:
                self._buffer(node, table, item)
                return
            for row in item:
                self._route_row(node, row)
            return
        if item is None:
            return  # dlt writes no row for a None item
        if kind is DataItemWithMeta:
            self._route_with_meta(node, item)
            return
        if is_arrow_like(item):
            table = self._static_table(node)
            if table is None:
                table = self._table(node, node.resource.table_name_of(item), item)
            self._write_arrow(node, table, item)
            return
        # Anything else is one row; a tuple too (dlt: a row whose ``value`` is the sequence).
        self._route_row(node, item)

    def _route_row(self, node: PipeNode, row: Any) -> None:
        if row is None:
            return
        if is_arrow_like(row):
            self._route(node, row)
            return
        table = self._static_table(node)
        if table is None:
            table = self._table(node, node.resource.table_name_of(row), row)
        self._buffer(node, table, [row])

    def _route_with_meta(self, node: PipeNode, item: DataItemWithMeta) -> None:
        meta, data = item.meta, item.data
        if isinstance(meta, TableNameMeta):
            table = self._table(node, meta.table_name, data)
        elif isinstance(meta, HintsMeta):
            table = self._apply_hints_meta(node, meta, data)
        else:
            self._route(node, data)
            return
        if type(data) is MaterializedEmptyList:
            self._materialize(table)
        elif is_arrow_like(data):
            self._write_arrow(node, table, data)
        elif isinstance(data, list):
            if data and is_arrow_like(data[0]):
                for element in data:
                    self._write_arrow(node, table, element)
            else:
                self._buffer(node, table, data)
        elif data is not None:
            self._buffer(node, table, [data])

    def _apply_hints_meta(self, node: PipeNode, meta: HintsMeta, data: Any) -> str:
        """``quiver.mark.with_hints``: new hints for the resource (or a table variant)."""
        resource = node.resource
        hints = {k: v for k, v in meta.hints.items() if v is not None}
        table_name = hints.get("table_name")
        resource.merge_hints(
            hints, create_table_variant=meta.create_table_variant and table_name is not None
        )
        # Hints changed: tables are re-registered with the new hints.
        self._static.pop(node, None)
        for key in [k for k in self._tables if k[0] == id(node)]:
            del self._tables[key]
        raw = str(table_name) if isinstance(table_name, str) else resource.table_name_of(data)
        return self._table(node, raw, data)

    # ---------------------------------------------------------------------------- tables
    def _static_table(self, node: PipeNode) -> str | None:
        """The table of a resource with a fixed table name (``None`` when it is dynamic)."""
        try:
            return self._static[node]
        except KeyError:
            pass
        resource = node.resource
        name = None if resource.is_dynamic() else self._table(node, str(resource.table_name), None)
        self._static[node] = name
        return name

    def _table(self, node: PipeNode, raw_name: str, item: Any) -> str:
        """Normalize a table name and record the resource's hints for it, once per resource."""
        key = (id(node), raw_name)
        known = self._tables.get(key)
        if known is not None:
            return known
        resource = node.resource
        template = resource.hints_for_table(raw_name)
        where = f"resource {resource.name!r}"
        try:
            resolved = resolve_hints(template, item, where) if item is not None else dict(template)
        except QuiverError:
            raise
        except Exception as error:
            raise ResourceExtractionError(resource.name, error) from error
        resolved.pop("table_name", None)
        resolved["resource"] = resource.name
        resolved.setdefault("write_disposition", "append")
        cursor = node.incremental.get_cursor_column_name() if node.incremental else None
        name = self._naming.normalize_table_identifier(raw_name)
        nested = resolved.pop(NESTED_HINTS, None) or {}
        existing = self.schema.tables.get(name, {}).get("columns")
        table_hints = table_schema_hints(
            resolved, self._naming, cursor_column=cursor, existing_columns=existing
        )
        check_column_types(name, table_hints.get("columns") or {})
        self._new_tables.register(name, resource.name, table_hints.get("schema_contract"))
        self.schema.merge_hints(name, table_hints)
        for nested_name, hints in nested_table_hints(name, nested, self._naming):
            check_column_types(nested_name, hints.get("columns") or {})
            self.schema.merge_hints(nested_name, hints)
        if resolved["write_disposition"] == "replace":
            self.metrics.replaced_tables.add(name)
        self._tables[key] = name
        return name

    def _materialize(self, table: str) -> None:
        """Record ``table`` with no rows: the loader creates it empty (``load/materialize.py``)."""
        self.metrics.row_counts.setdefault(table, 0)

    # --------------------------------------------------------------------------- writing
    def _buffer(self, node: PipeNode, table: str, rows: list[Any]) -> None:
        key = (node, table)
        buffer = self._buffers.get(key)
        if buffer is None:
            buffer = self._buffers[key] = RowBuffer()
        buffer.extend(rows)  # converts to Arrow a page at a time: memory stays a page of dicts
        if len(buffer) >= self._buffer_max_items:
            self._flush(node, table)

    def _flush(self, node: PipeNode, table_name: str) -> None:
        buffer = self._buffers.pop((node, table_name), None)
        if not buffer:
            return
        try:
            batch = buffer.to_batch()
        except UnsupportedValue as error:
            raise error.at(table_name, node.name) from None
        except QuiverError:
            raise
        except Exception as error:
            # The resource yielded its rows fine: the conversion is quiver's.
            raise RowConversionError(table_name, node.name, error) from error
        self._write(node, table_name, ROWS_EXT, batch)

    def _write_arrow(self, node: PipeNode, table: str, item: Any) -> None:
        # Rows yielded before this item are older: their file comes first.
        self._flush(node, table)
        for batch in _converted(item, table, node.name):
            if batch.num_columns == 0 and batch.num_rows:
                raise EmptyArrowItem(table, node.name, batch.num_rows)
            storable = storable_batch(batch, table, node.name)
            plain = self._arrow_parquet.plain_batch(table, storable)
            if plain is None:
                self._write(node, table, ARROW_EXT, storable)
                continue
            # ``_write`` finds this writer under its key (and ``extract`` closes it).
            key = (table, ARROW_PARQUET_EXT)
            if key not in self._writers:
                self._writers[key] = self._arrow_parquet.writer(table)
            self._write(node, table, ARROW_PARQUET_EXT, plain)

    def _write(self, node: PipeNode, table_name: str, ext: str, batch: pa.RecordBatch) -> None:
        # Items arrive filtered by the incremental (in the pipe, page by page).
        if batch.num_rows == 0:
            return
        if not self._new_tables.admit(table_name, node.resource.name, batch):
            return  # a new table that the contract discards
        key = (table_name, ext)
        writer = self._writers.get(key)
        if writer is None:
            writer = self._writers[key] = IpcTableWriter(
                self._jobs_dir,
                table_name,
                ext,
                self.metrics.files.append,
                sequence=self._sequence,
                file_max_items=self._file_max_items,
                file_max_bytes=self._file_max_bytes,
            )
        writer.write(batch)
        if self._sink is not None and ext != ARROW_PARQUET_EXT:
            self._sink.put(table_name, ext, batch, self.schema)
        counts = self.metrics.row_counts
        counts[table_name] = counts.get(table_name, 0) + batch.num_rows
        self._progress.update(table_name, batch.num_rows)
        if self._on_rows is not None:
            self._on_rows(table_name, batch.num_rows)


def _converted(item: Any, table_name: str, resource_name: str) -> Iterator[pa.RecordBatch]:
    """Record batches of an Arrow-like item, with the blame for a failure where it belongs.

    A stream (a reader, an ``__arrow_c_stream__`` object) is produced by the resource's code as
    it is read: its errors are the resource's. A pandas frame or an array-like converts in
    quiver: a failure there (an object column Arrow cannot type, say) is quiver's conversion.
    """
    streamed = isinstance(item, pa.RecordBatchReader) or (
        hasattr(item, "__arrow_c_stream__") and not is_pandas_frame(item)
    )
    batches = arrow_batches(item)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except QuiverError:
            raise
        except Exception as error:
            if streamed:
                raise ResourceExtractionError(resource_name, error) from error
            raise RowConversionError(table_name, resource_name, error) from error
        yield batch
