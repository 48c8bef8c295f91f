"""The seam between the load step and a table format: one protocol, looked up by name.

The loader, the sidecar reader and :mod:`quiver.maintenance` use nothing of a format but
:class:`TableFormat`; adding a format means a subpackage with a class that implements it and
one line in :data:`_REGISTRY`.
"""

from __future__ import annotations

import datetime
import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import pyarrow as pa

from quiver.destinations.location import StorageLocation
from quiver.errors import DestinationConfigError
from quiver.schema.model import Schema

Disposition = Literal["append", "replace", "merge"]
#: ``{column: value}`` or ``{column: [values]}``: rows :meth:`TableFormat.read_table` keeps.
RowFilter = Mapping[str, "str | Sequence[str]"]


def row_filter_expression(where: RowFilter) -> Any:
    """``where`` as a ``pyarrow.compute`` expression (for formats that filter in Arrow)."""
    import pyarrow.compute as pc

    expression = None
    for column, wanted in where.items():
        values = [wanted] if isinstance(wanted, str) else list(wanted)
        condition = pc.field(column).isin(pa.array(values, pa.string()))
        expression = condition if expression is None else expression & condition
    return expression


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


@dataclass
class MaintenanceResult:
    """What one maintenance action did to one table.

    Attributes:
        table_name: The table.
        table_format: The format's registry name (``"delta"``, ``"iceberg"``, ``"native"``).
        action: ``"optimize"``, ``"vacuum"``, ``"expire_snapshots"`` or ``"cleanup_metadata"``
            (Delta's form of expiring old versions).
        details: The engine's metrics; ``{"skipped": <why>}`` when the format cannot do it.
    """

    table_name: str
    table_format: str
    action: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def skipped(self) -> bool:
        """Whether the format could not do the action (``details["skipped"]`` says why)."""
        return "skipped" in self.details


class TableFormat(Protocol):
    """A table format: everything the load step and maintenance need from Delta, Iceberg, ...

    An implementation lives in its own subpackage (``destinations/<name>/``) and is registered by
    name in :data:`_REGISTRY`; callers use only these members. Engine errors are translated at
    this boundary (:mod:`quiver.destinations.engine_errors`): a commit conflict raises the
    retryable :class:`~quiver.errors.CommitConflictError`, a type mismatch
    :class:`~quiver.errors.SchemaMismatchError`. A format does not retry: the load step does.

    Attributes:
        name: The registry name.
        supports_merge: Whether :meth:`commit` accepts ``disposition="merge"``.
    """

    name: str
    supports_merge: bool

    def table_exists(self, table_name: str) -> bool:
        """Whether the table exists (has at least one committed version)."""
        ...

    def is_committed(self, table_name: str, load_id: str) -> bool:
        """Whether ``load_id`` was already committed to the table (exactly-once on retry)."""
        ...

    def commit(self, commit: TableCommit) -> None:
        """Commit the files atomically (append, replace or merge), tagged with the load id."""
        ...

    def append_rows(self, table_name: str, data: pa.Table, load_id: str) -> None:
        """Append a small table (sidecar rows), at most once per load id."""
        ...

    def read_table(
        self, table_name: str, columns: Sequence[str], where: RowFilter | None = None
    ) -> pa.Table | None:
        """A small table (a sidecar) with ``columns``; ``None`` if it does not exist.

        ``where`` keeps only rows whose string columns equal a value (or are in a sequence of
        values), all conditions together; formats skip files by their statistics, so reading
        the rows of one pipeline or one load id does not read the whole table.
        """
        ...

    def scan(
        self, table_name: str, columns: Sequence[str] | None = None
    ) -> pa.RecordBatchReader | None:
        """The table's current rows as a stream of record batches; ``None`` if it does not exist.

        Only ``columns`` are read (all when ``None``); batches are read as the caller pulls
        them, so memory is bounded by the batch, not the table.
        """
        ...

    def row_count(self, table_name: str) -> int | None:
        """The table's current number of rows, from its metadata where the format keeps it
        (file statistics, snapshot summaries); ``None`` if the table does not exist."""
        ...

    def drop_table(self, table_name: str) -> None:
        """Delete the table with its data, metadata and history (a no-op if it does not exist).

        Used by ``refresh="drop_sources"``/``"drop_resources"``; the loader calls it once per
        package, before the package's data is loaded.
        """
        ...

    def truncate_table(self, table_name: str, load_id: str) -> None:
        """Delete every row but keep the table and its schema (``refresh="drop_data"``).

        The truncation is tagged with ``load_id`` where the format can tag commits, and is a
        no-op if that load id truncated the table already; the tag is kept apart from the one
        :meth:`is_committed` looks for, so the package's own data still loads after it.
        """
        ...

    def optimize(self, table_name: str, *, target_size: int | None = None) -> MaintenanceResult:
        """Compact small files into larger ones."""
        ...

    def vacuum(
        self, table_name: str, *, retention_hours: int, dry_run: bool = False
    ) -> MaintenanceResult:
        """Delete files the table no longer references and that are older than the retention."""
        ...

    def expire_snapshots(
        self, table_name: str, *, older_than: datetime.datetime
    ) -> MaintenanceResult:
        """Forget versions older than ``older_than`` (their load ids go with them)."""
        ...


_REGISTRY = {
    "delta": "quiver.destinations.delta.format:DeltaFormat",
    "iceberg": "quiver.destinations.iceberg.format:IcebergFormat",
    # Plain files under a layout; "native" is dlt's name for "no table format".
    "native": "quiver.destinations.files:FilesFormat",
}
TABLE_FORMAT_ALIASES = {"none": "native", "files": "native"}


def canonical_table_format(name: str) -> str:
    """The registry name of a table format, accepting aliases.

    Raises:
        DestinationConfigError: For an unknown name (a ``ValueError``).
    """
    canonical = TABLE_FORMAT_ALIASES.get(name, name)
    if canonical not in _REGISTRY:
        raise DestinationConfigError(
            f"table_format={name!r} is not supported. Hint: use 'delta', 'iceberg' or "
            "'native' (plain parquet/jsonl/csv files)."
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
