"""Load one normalized package: a commit per table, then the ``_dlt_loads`` row, last.

Tables are committed through the table format named by their ``table_format`` hint. Each commit
carries the load id; before committing, the loader asks the table whether that load id is
already there, so a package retried after a crash never loads a table twice. The ``_dlt_loads``
row is written only after every table committed: its presence means the package is complete.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from quiver.common.packages import JobFile, PackageStorage
from quiver.destinations.base import Disposition, TableCommit, TableFormat, load_table_format
from quiver.destinations.filesystem import FilesystemDestination
from quiver.exceptions import DestinationCapabilitiesError, LoadError
from quiver.schema.model import LOADS_TABLE, Schema
from quiver.schema.types import column_to_arrow

SUPPORTED_DISPOSITIONS = ("append", "replace", "skip")


@dataclass
class LoadedTable:
    table_name: str
    files: list[Path]
    disposition: str
    skipped_as_committed: bool


@dataclass
class PackageLoadResult:
    load_id: str
    tables: list[LoadedTable] = field(default_factory=list)
    completed_at: datetime.datetime | None = None


class Loader:
    """Commits packages of one pipeline into one dataset."""

    def __init__(
        self,
        storage: PackageStorage,
        destination: FilesystemDestination,
        dataset_name: str,
        app_id: str,
        before_loads_row: Callable[[str], None] | None = None,
    ) -> None:
        self._storage = storage
        self._destination = destination
        self._dataset = destination.location().join(dataset_name)
        self._app_id = app_id
        self._formats: dict[str, TableFormat] = {}
        # A seam for crash tests: called after the table commits, before _dlt_loads.
        self._before_loads_row = before_loads_row

    def table_format(self, name: str) -> TableFormat:
        if name not in self._formats:
            self._formats[name] = load_table_format(name, self._dataset, self._app_id)
        return self._formats[name]

    def load_package(self, load_id: str) -> PackageLoadResult:
        package = self._storage.path("normalized", load_id)
        schema = Schema.from_dict(self._storage.read_schema(package))
        state = self._storage.read_state(package)
        result = PackageLoadResult(load_id)

        files_by_table: dict[str, list[Path]] = defaultdict(list)
        for job in self._storage.jobs(package, "new"):
            files_by_table[JobFile.parse(job.name).table_name].append(job)
        replaced_roots = set(state.get("replaced_tables", []))
        replaced = set(replaced_roots)
        for root in replaced_roots:
            if root in schema.tables:
                replaced.update(t["name"] for t in schema.child_tables(root))

        for table_name in _parents_first(schema, set(files_by_table) | replaced):
            disposition = schema.table_hint(table_name, "write_disposition", "append")
            if disposition == "skip":
                continue
            if table_name in replaced:
                disposition = "replace"
            files = files_by_table.get(table_name, [])
            result.tables.append(self._load_table(schema, table_name, files, disposition, load_id))

        if self._before_loads_row is not None:
            self._before_loads_row(load_id)
        self._write_loads_row(schema, load_id)
        result.completed_at = datetime.datetime.now(datetime.UTC)
        state.update(state="loaded", completed_at=result.completed_at.isoformat())
        self._storage.write_state(package, state)
        self._storage.move(load_id, "normalized", "loaded")
        return result

    def _load_table(
        self, schema: Schema, table_name: str, files: list[Path], disposition: str, load_id: str
    ) -> LoadedTable:
        format_name = (
            schema.table_hint(table_name, "table_format") or self._destination.table_format
        )
        table_format = self.table_format(format_name)
        try:
            if table_format.is_committed(table_name, load_id):
                self._complete(files)
                return LoadedTable(table_name, files, disposition, skipped_as_committed=True)
            arrow_schema = _arrow_schema(schema, table_name, files)
            if not files and not arrow_schema.names:
                return LoadedTable(table_name, files, disposition, skipped_as_committed=False)
            if not files and disposition == "replace" and not table_format.table_exists(table_name):
                return LoadedTable(table_name, files, disposition, skipped_as_committed=False)
            commit_disposition: Disposition = (
                "replace"
                if disposition == "replace"
                else "merge"
                if disposition == "merge"
                else "append"
            )
            if commit_disposition == "merge" and not getattr(table_format, "supports_merge", False):
                raise DestinationCapabilitiesError(
                    f"Table {table_name!r} of package {load_id} has write_disposition='merge', "
                    f"which the {table_format.name!r} table format of this quiver version cannot "
                    "load. Hint: use 'append' or 'replace' for now."
                )
            table_format.commit(
                TableCommit(
                    table_name=table_name,
                    files=files,
                    arrow_schema=arrow_schema,
                    disposition=commit_disposition,
                    load_id=load_id,
                    partition_by=schema.columns_with_hint(table_name, "partition"),
                    table_schema=schema.tables.get(table_name, {}),
                    schema=schema,
                )
            )
        except DestinationCapabilitiesError:
            raise
        except Exception as error:
            raise LoadError(table_name, load_id, error, retryable=True) from error
        self._complete(files)
        return LoadedTable(table_name, files, disposition, skipped_as_committed=False)

    def _complete(self, files: list[Path]) -> None:
        for path in files:
            self._storage.move_job(path, "completed")

    def _write_loads_row(self, schema: Schema, load_id: str) -> None:
        row = pa.table(
            {
                "load_id": pa.array([load_id], pa.string()),
                "schema_name": pa.array([schema.name], pa.string()),
                "status": pa.array([0], pa.int64()),
                "inserted_at": pa.array(
                    [datetime.datetime.now(datetime.UTC)], pa.timestamp("us", "UTC")
                ),
                "schema_version_hash": pa.array([schema.version_hash], pa.string()),
            }
        )
        try:
            self.table_format(self._destination.table_format).append_rows(LOADS_TABLE, row, load_id)
        except Exception as error:
            raise LoadError(LOADS_TABLE, load_id, error, retryable=True) from error


def _parents_first(schema: Schema, tables: set[str]) -> list[str]:
    def depth(name: str) -> int:
        table, level = schema.tables.get(name, {}), 0
        while "parent" in table:
            table, level = schema.tables.get(table["parent"], {}), level + 1
        return level

    return sorted(tables, key=lambda name: (depth(name), name))


def _arrow_schema(schema: Schema, table_name: str, files: list[Path]) -> pa.Schema:
    """The table's schema after this load: the union of the files' schemas, or the schema's."""
    if files:
        return pa.unify_schemas([pq.read_schema(path) for path in files])
    table = schema.get_table(table_name) or {}
    fields = [
        pa.field(name, column_to_arrow(column))
        for name, column in table.get("columns", {}).items()
        if "data_type" in column
    ]
    return pa.schema(fields)
