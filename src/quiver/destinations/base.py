"""The seam between the loader and a table format: one small protocol, looked up by name."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import pyarrow as pa

from quiver.destinations.location import StorageLocation
from quiver.schema.model import Schema

Disposition = Literal["append", "replace", "merge"]


@dataclass(frozen=True)
class TableCommit:
    """What the loader asks a table format to commit for one table of one package.

    Attributes:
        table_name: the table.
        files: normalized parquet files to register (may be empty for a replace that empties).
        arrow_schema: the schema of the table after this commit (union over the files and the
            columns the schema knows).
        disposition: ``append`` adds the files; ``replace`` makes them the table's only data;
            ``merge`` merges them by the table's hints (``x-merge-strategy``, ``primary_key``,
            ``merge_key``, ``hard_delete``, ``dedup_sort``, scd2 validity columns).
        load_id: the package; recorded in the commit so a retry is a no-op.
        partition_by: identity partition columns.
        table_schema: the table's schema document (columns with hints, table hints).
        schema: the whole schema, to find a child table's root and the root's hints.
    """

    table_name: str
    files: list[Path]
    arrow_schema: pa.Schema
    disposition: Disposition
    load_id: str
    partition_by: list[str] = field(default_factory=list)
    table_schema: dict[str, Any] = field(default_factory=dict)
    schema: Schema | None = None
    #: Every normalized file of the package by table (e.g. a child merge needs its root's).
    package_files: dict[str, list[Path]] = field(default_factory=dict)


class TableFormat(Protocol):
    """A table format that commits parquet files into tables under a dataset location."""

    name: str

    def is_committed(self, table_name: str, load_id: str) -> bool:
        """Whether ``load_id`` was already committed to the table (exactly-once on retry)."""
        ...

    def commit(self, commit: TableCommit) -> None:
        """Commit the files atomically, tagged with the load id."""
        ...

    def append_rows(self, table_name: str, data: pa.Table, load_id: str) -> None:
        """Append a small table (sidecar rows), at most once per load id."""
        ...

    def table_exists(self, table_name: str) -> bool: ...


_REGISTRY = {
    "delta": "quiver.destinations.delta.format:DeltaFormat",
    "iceberg": "quiver.destinations.iceberg.format:IcebergFormat",
    # Plain files under a layout; "native" is dlt's name for "no table format".
    "native": "quiver.destinations.files:FilesFormat",
}
TABLE_FORMAT_ALIASES = {"none": "native", "files": "native"}


def canonical_table_format(name: str) -> str:
    """The registry name of a table format, accepting aliases; ValueError for unknown ones."""
    canonical = TABLE_FORMAT_ALIASES.get(name, name)
    if canonical not in _REGISTRY:
        raise ValueError(
            f"table_format={name!r} is not supported; use 'delta', 'iceberg' or 'native' "
            "(plain parquet/jsonl/csv files)"
        )
    return canonical


def load_table_format(
    name: str, dataset: StorageLocation, app_id: str, **options: Any
) -> TableFormat:
    """Instantiate the table format registered under ``name`` (imported lazily).

    ``options`` go to the format's constructor (e.g. ``catalog`` for Iceberg, ``layout`` for
    plain files).
    """
    module_name, class_name = _REGISTRY[canonical_table_format(name)].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(dataset, app_id, **options)  # type: ignore[no-any-return]
