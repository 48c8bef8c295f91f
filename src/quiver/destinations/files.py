"""Plain files (``table_format="native"``): parquet, jsonl or csv files under a layout.

There is no table format, so there is no transaction to tag with the load id. Exactly-once comes
from deterministic names instead: every file's path contains the load id and the file id of the
normalized job, so a package retried after a crash rewrites the same paths. ``replace`` deletes
the table's folder first. ``merge`` is refused with an error (dlt silently appends; quiver does
not).
"""

from __future__ import annotations

import datetime
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from quiver.destinations.base import (
    MaintenanceResult,
    RowFilter,
    TableCommit,
    row_filter_expression,
)
from quiver.destinations.engine_errors import translated
from quiver.destinations.location import StorageLocation
from quiver.errors import DestinationCapabilitiesError, DestinationConfigError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

DEFAULT_LAYOUT = "{table_name}/{load_id}.{file_id}.{ext}"
FILE_FORMATS = ("parquet", "jsonl", "csv")
_NO_TABLE_FORMAT = "plain files have no table format to maintain"


class FilesFormat:
    """Files at ``<dataset>/<layout>``; the layout must start with ``{table_name}/``."""

    name = "native"
    supports_merge = False

    def __init__(self, dataset: StorageLocation, app_id: str, layout: str = DEFAULT_LAYOUT) -> None:
        if not layout.startswith("{table_name}/"):
            raise DestinationConfigError(
                f"layout {layout!r} must start with '{{table_name}}/' so that a table's files "
                "live in one folder (replace deletes that folder). Hint: e.g. "
                f"layout={DEFAULT_LAYOUT!r}."
            )
        if "{ext}" not in layout:
            layout += ".{ext}"
        self._dataset = dataset
        self._layout = layout

    @property
    def _fs(self) -> AbstractFileSystem:
        # Looked up on use: importing fsspec costs ~80 ms, and the sync of a dataset probes
        # this format for a ``_dlt_loads`` folder that a local listing answers without it.
        return self._dataset.filesystem()

    def _folder(self, table_name: str) -> StorageLocation:
        return self._dataset.join(table_name)

    def table_exists(self, table_name: str) -> bool:
        with translated(self.name, table_name):
            folder = self._folder(table_name)
            if folder.is_local:
                return os.path.exists(folder.path)
            return bool(self._fs.exists(folder.path))

    def is_committed(self, table_name: str, load_id: str) -> bool:
        # Writes are idempotent by path, so redoing a table is always safe.
        return False

    def commit(self, commit: TableCommit) -> None:
        with translated(self.name, commit.table_name, commit.load_id):
            self._write_files(commit)

    def _write_files(self, commit: TableCommit) -> None:
        # Child tables inherit the root table's file format.
        hint = (
            commit.schema.table_hint(commit.table_name, "file_format")
            if commit.schema is not None
            else commit.table_schema.get("file_format")
        )
        file_format = "parquet" if hint in (None, "preferred") else str(hint)
        if file_format not in FILE_FORMATS:
            raise DestinationCapabilitiesError(
                f"file_format {file_format!r} of table {commit.table_name!r} (package "
                f"{commit.load_id}) is not supported for plain files. Hint: use one of "
                f"{', '.join(FILE_FORMATS)}."
            )
        if commit.disposition == "replace" and self.table_exists(commit.table_name):
            self._fs.rm(self._folder(commit.table_name).path, recursive=True)
        for path in commit.files:
            file_id = path.name.split(".")[1]
            relative = self._layout.format(
                table_name=commit.table_name,
                load_id=commit.load_id,
                file_id=file_id,
                ext=file_format,
                schema_name=commit.schema.name if commit.schema is not None else "",
            )
            self._write(path, self._dataset.join(relative), file_format, commit.table_name)

    def _write(
        self, source: Path, target: StorageLocation, file_format: str, table_name: str
    ) -> None:
        if file_format == "parquet":
            self._fs.makedirs(target.path.rsplit("/", 1)[0], exist_ok=True)
            self._fs.put_file(str(source), target.path)
            return
        table = pq.read_table(source)
        self._fs.makedirs(target.path.rsplit("/", 1)[0], exist_ok=True)
        with self._fs.open(target.path, "wb") as sink:
            sink.write(_encode(table, file_format, table_name))

    def append_rows(self, table_name: str, data: pa.Table, load_id: str) -> None:
        """Write the rows to ``<table>/<load_id>.jsonl`` (a retry rewrites the same file)."""
        target = self._dataset.join(table_name, f"{load_id}.jsonl")
        with translated(self.name, table_name, load_id):
            self._fs.makedirs(self._folder(table_name).path, exist_ok=True)
            with self._fs.open(target.path, "wb") as sink:
                sink.write(_encode(data, "jsonl", table_name))

    def read_table(
        self, table_name: str, columns: Sequence[str], where: RowFilter | None = None
    ) -> pa.Table | None:
        """The jsonl rows of a (small) sidecar table, with ``columns``, filtered by ``where``."""
        import polars as pl

        with translated(self.name, table_name):
            if not self.table_exists(table_name):
                return None
            frames = [
                pl.read_ndjson(io.BytesIO(self._fs.cat_file(p)))
                for p in sorted(self._fs.ls(self._folder(table_name).path, detail=False))
                if str(p).endswith(".jsonl")
            ]
        if not frames:
            return None
        rows = pl.concat(frames, how="diagonal_relaxed").to_arrow()
        if where:
            rows = rows.filter(row_filter_expression(where))
        return rows.select(list(columns))

    def scan(
        self, table_name: str, columns: Sequence[str] | None = None
    ) -> pa.RecordBatchReader | None:
        """Stream every file of the table (parquet, jsonl or csv) through a pyarrow dataset;
        files written before a column was added read it as nulls."""
        with translated(self.name, table_name):
            dataset = self._arrow_dataset(table_name)
            if dataset is None:
                return None
            scanner = dataset.scanner(columns=None if columns is None else list(columns))
            # Not scanner.to_reader(): it holds the GIL that the JSON reader's thread needs to
            # call the (fsspec, Python) filesystem, and hangs.
            return pa.RecordBatchReader.from_batches(scanner.projected_schema, scanner.to_batches())

    def row_count(self, table_name: str) -> int | None:
        """Rows from the parquet footers; jsonl and csv files are counted by reading them."""
        with translated(self.name, table_name):
            dataset = self._arrow_dataset(table_name)
            return None if dataset is None else int(dataset.count_rows())

    def _arrow_dataset(self, table_name: str) -> Any:
        """A ``pyarrow.dataset.Dataset`` over the table's files, or ``None``."""
        import pyarrow.dataset as ds
        from pyarrow.fs import FSSpecHandler, PyFileSystem

        if not self.table_exists(table_name):
            return None
        found = sorted(str(p) for p in self._fs.find(self._folder(table_name).path))
        by_format: dict[str, list[str]] = {}
        for path in found:
            extension = path.rsplit(".", 1)[-1]
            if extension in FILE_FORMATS:
                by_format.setdefault("json" if extension == "jsonl" else extension, []).append(path)
        filesystem = PyFileSystem(FSSpecHandler(self._fs))
        parts = [
            ds.dataset(paths, format=file_format, filesystem=filesystem)
            for file_format, paths in by_format.items()
        ]
        if not parts:
            return None
        # Each file's own schema, unified: a column added later is null in older files.
        schemas = [fragment.physical_schema for part in parts for fragment in part.get_fragments()]
        schema = pa.unify_schemas(schemas, promote_options="permissive")
        return ds.dataset(
            [
                ds.dataset(part.files, schema=schema, format=part.format, filesystem=filesystem)
                for part in parts
            ]
        )

    # ---------------------------------------------------------------- refresh
    def drop_table(self, table_name: str) -> None:
        """Delete the table's folder."""
        with translated(self.name, table_name):
            if self.table_exists(table_name):
                self._fs.rm(self._folder(table_name).path, recursive=True)

    def truncate_table(self, table_name: str, load_id: str) -> None:
        """Delete the table's folder: plain files have no schema to keep and no commit to tag
        (the loader runs a package's truncations once; see ``quiver.load.refresh``)."""
        self.drop_table(table_name)

    # ------------------------------------------------------------- maintenance
    def optimize(self, table_name: str, *, target_size: int | None = None) -> MaintenanceResult:
        return MaintenanceResult(table_name, self.name, "optimize", {"skipped": _NO_TABLE_FORMAT})

    def vacuum(
        self, table_name: str, *, retention_hours: int, dry_run: bool = False
    ) -> MaintenanceResult:
        return MaintenanceResult(table_name, self.name, "vacuum", {"skipped": _NO_TABLE_FORMAT})

    def expire_snapshots(
        self, table_name: str, *, older_than: datetime.datetime
    ) -> MaintenanceResult:
        return MaintenanceResult(
            table_name, self.name, "expire_snapshots", {"skipped": _NO_TABLE_FORMAT}
        )


def _encode(table: pa.Table, file_format: str, table_name: str) -> bytes:
    if file_format == "jsonl":
        import polars as pl

        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return frame.write_ndjson().encode()
    if file_format == "csv":
        import pyarrow.csv as pacsv

        nested = [f.name for f in table.schema if pa.types.is_nested(f.type)]
        if nested:
            raise DestinationCapabilitiesError(
                f"csv cannot hold the nested columns {nested} of table {table_name!r}. Hint: "
                "use file_format 'jsonl' or 'parquet' for this table."
            )
        sink = pa.BufferOutputStream()
        pacsv.write_csv(table, sink)
        return bytes(sink.getvalue().to_pybytes())
    raise DestinationCapabilitiesError(
        f"Unknown file format {file_format!r} for table {table_name!r}. Hint: use one of "
        f"{', '.join(FILE_FORMATS)}."
    )
