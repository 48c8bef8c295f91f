"""Iceberg tables through pyiceberg, committing the parquet normalize wrote.

Layout: the namespace is the dataset folder name, a table is the folder
``<dataset>/<table_name>`` with ``data/`` and ``metadata/``, and its identifier is
``(namespace, table_name)``.

Append and replace do not re-encode data: each normalized file is placed at
``<table>/data/<load_id>.<file_id>.parquet`` (hard link on local disk, upload elsewhere) and
registered with ``add_files`` in one transaction together with the schema evolution
(``union_by_name``; columns are never dropped) and, for replace, a ``delete(AlwaysTrue())``.
Partitioned tables are the exception: ``add_files`` needs one partition value per file, so their
files are re-encoded through ``append``. Every snapshot carries ``quiver.load_id`` and
``quiver.app_id`` in its summary; a commit that would add no snapshot adds an empty one, so every
commit is visible and a retried package is skipped (``is_committed`` walks the current snapshot's
ancestry, which is in memory once the metadata file is read: O(number of snapshots)).

All columns are created optional: a later file may lack a column, and its rows then read back
as nulls (a required column would make such files unreadable).

Conflicts are retried by quiver, not by pyiceberg: tables are created with
``commit.retry.num-retries=0`` (and the property is forced to 0 in memory for tables created
elsewhere), because pyiceberg's own retry replays the same data onto whatever committed in
between. A conflict leaves this module as the retryable ``CommitConflictError``; the load step's
``RetryPolicy`` runs the whole commit again, which first asks ``is_committed`` (a commit that
did land is not repeated) and then rebuilds the transaction on the new version.

Catalogs (:mod:`quiver.destinations.iceberg.catalog`): the ``catalog`` argument (any pyiceberg
``Catalog``), the one described by the dlt-style ``ICEBERG_CATALOG__*`` environment variables,
or catalog-less mode, where the table folder is the truth. With a configured catalog, a table
folder that exists but is unknown to the catalog is registered from its newest metadata file.
Expired snapshots take their load ids with them, so expire only snapshots older than any package
you may still retry.
"""

from __future__ import annotations

import datetime
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

import pyarrow as pa
import pyarrow.parquet as pq

from quiver.destinations.base import MaintenanceResult, RowFilter, TableCommit
from quiver.destinations.engine_errors import translated
from quiver.destinations.iceberg.catalog import (
    catalog_from_env,
    folder_catalog,
    latest_metadata_file,
)
from quiver.destinations.iceberg.partitioning import (
    PARTITION_HINT,
    apply_partition_spec,
    evolve_spec,
    hinted_fields,
    partitioned_data_file,
)
from quiver.destinations.iceberg.transaction import begin_transaction
from quiver.destinations.location import StorageLocation
from quiver.destinations.placement import file_id, place_file
from quiver.schema.hints import ICEBERG_TABLE_PROPERTIES_HINT

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table, Transaction

__all__ = ["APP_ID_PROPERTY", "LOAD_ID_PROPERTY", "TABLE_PROPERTIES", "IcebergFormat", "Writer"]

#: Snapshot summary property holding the load id of the package that made the snapshot.
LOAD_ID_PROPERTY: Final = "quiver.load_id"
#: Snapshot summary property holding the pipeline's app id.
APP_ID_PROPERTY: Final = "quiver.app_id"
#: Snapshot summary property of a ``truncate_table`` snapshot: the load id that truncated.
TRUNCATED_BY_PROPERTY: Final = "quiver.truncated_by"

#: Properties of the tables quiver creates.
TABLE_PROPERTIES: Final[Mapping[str, str]] = {"commit.retry.num-retries": "0"}

#: Writes one commit into an open transaction (``table`` is ``None`` when it creates the table).
Writer = Callable[["Transaction", "Table | None"], None]

#: Snapshot summary totals of delete files; when non-zero, ``total-records`` overcounts.
_DELETE_TOTALS: Final = ("total-position-deletes", "total-equality-deletes")
_EMPTY_DELETE_WARNING: Final = "Delete operation did not match any records"
_NO_DATA_FILE_REWRITE: Final = (
    "pyiceberg 0.12 cannot rewrite data files; compact with an engine that can (Spark, Trino)"
)
_NO_ORPHAN_FILE_REMOVAL: Final = (
    "pyiceberg 0.12 cannot remove orphan files; expire_snapshots removes the files of expired "
    "snapshots"
)


class IcebergFormat:
    """Iceberg tables at ``<dataset>/<table_name>``, in namespace ``<dataset folder name>``.

    Args:
        dataset: The dataset folder.
        app_id: The pipeline's id, recorded with the load id in every snapshot.
        catalog: A pyiceberg catalog to commit through. ``None`` uses the catalog described by
            ``ICEBERG_CATALOG__*`` environment variables if any (see ``catalog_from_env``),
            else catalog-less mode.

    Examples:
        >>> import tempfile, pyarrow as pa
        >>> from quiver.destinations.location import resolve_location
        >>> lake = resolve_location(tempfile.mkdtemp()).join("my_dataset")
        >>> iceberg = IcebergFormat(lake, app_id="pipe")
        >>> iceberg.append_rows("_dlt_loads", pa.table({"load_id": ["1.0"]}), "1.0")
        >>> iceberg.is_committed("_dlt_loads", "1.0")
        True
    """

    name = "iceberg"
    supports_merge = True  # copy-on-write plus append in one transaction: iceberg_merge

    def __init__(
        self, dataset: StorageLocation, app_id: str, catalog: Catalog | None = None
    ) -> None:
        import pyiceberg  # noqa: F401  (fail early, with the import error, if it is missing)

        self._dataset = dataset
        self._app_id = app_id
        self.namespace = dataset.url.rstrip("/").rsplit("/", 1)[-1]
        if catalog is None:
            catalog = catalog_from_env(defaults=dataset.pyiceberg_properties())
        self.catalog_less = catalog is None
        # The folder catalog is built on first use: building it imports pyiceberg's catalog
        # and SQLAlchemy (~0.9 s in a new process), which a caller that only asks whether a
        # table exists (the sync of a Delta dataset probes every format) never needs.
        self._catalog: Catalog | None = catalog
        self._namespace_ready = self.catalog_less

    # ----------------------------------------------------------------- access
    @property
    def catalog(self) -> Catalog:
        """The catalog tables are loaded from and committed to (built on first use)."""
        if self._catalog is None:
            self._catalog = folder_catalog(self._dataset, self.namespace)
        return self._catalog

    @property
    def app_id(self) -> str:
        """The pipeline's id, recorded with the load id in every snapshot summary."""
        return self._app_id

    def identifier(self, table_name: str) -> tuple[str, str]:
        """The catalog identifier of a table."""
        return (self.namespace, table_name)

    def location(self, table_name: str) -> StorageLocation:
        """The folder of a table."""
        return self._dataset.join(table_name)

    def load_table(self, table_name: str) -> Table | None:
        """The table at its current version, or ``None`` if it does not exist.

        With a configured catalog, a table folder the catalog does not know yet (written in
        catalog-less mode) is registered in the catalog from its newest metadata file.
        """
        from pyiceberg.exceptions import NoSuchTableError

        table: Table | None
        try:
            table = self.catalog.load_table(self.identifier(table_name))
        except NoSuchTableError:
            table = None if self.catalog_less else self._register_folder(table_name)
        return None if table is None else _without_pyiceberg_retries(table)

    def table_exists(self, table_name: str) -> bool:
        with translated(self.name, table_name):
            if self.catalog_less:
                return latest_metadata_file(self.location(table_name)) is not None
            return self.load_table(table_name) is not None

    def is_committed(self, table_name: str, load_id: str) -> bool:
        with translated(self.name, table_name, load_id):
            table = self.load_table(table_name)
            return table is not None and self.contains_load(table, load_id)

    def contains_load(self, table: Table, load_id: str) -> bool:
        """Whether a snapshot in the current ancestry of ``table`` was made by ``load_id``."""
        metadata = table.metadata
        snapshots = {snapshot.snapshot_id: snapshot for snapshot in metadata.snapshots}
        snapshot_id = metadata.current_snapshot_id
        while snapshot_id is not None and (snapshot := snapshots.get(snapshot_id)) is not None:
            summary = snapshot.summary
            if self.made_by(summary, load_id):
                return True
            snapshot_id = snapshot.parent_snapshot_id
        return False

    def made_by(self, summary: Mapping[str, Any] | None, load_id: str) -> bool:
        """Whether a snapshot summary records ``load_id`` of this pipeline."""
        return (
            summary is not None
            and summary.get(LOAD_ID_PROPERTY) == load_id
            and summary.get(APP_ID_PROPERTY) == self._app_id
        )

    def _ensure_namespace(self) -> None:
        if not self._namespace_ready:
            self.catalog.create_namespace_if_not_exists(self.namespace)
            self._namespace_ready = True

    def _register_folder(self, table_name: str) -> Table | None:
        """Register a table folder that the configured catalog does not know yet."""
        from pyiceberg.exceptions import TableAlreadyExistsError

        metadata_file = latest_metadata_file(self.location(table_name))
        if metadata_file is None:
            return None
        self._ensure_namespace()
        identifier = self.identifier(table_name)
        try:
            return self.catalog.register_table(identifier, metadata_file.url)
        except TableAlreadyExistsError:  # another writer registered it first
            return self.catalog.load_table(identifier)

    # ---------------------------------------------------------------- commits
    def commit(self, commit: TableCommit) -> None:
        with translated(self.name, commit.table_name, commit.load_id):
            if commit.disposition == "merge":
                from quiver.destinations.iceberg.merge import merge

                merge(self, commit)
                return
            self._append_or_replace(commit)

    def _append_or_replace(self, commit: TableCommit) -> None:
        if self.is_committed(commit.table_name, commit.load_id):
            return  # and leave the files of the committed load alone
        placed = [
            (path, self.place_data_file(commit.table_name, path, commit.load_id))
            for path in commit.files
        ]
        properties = self.snapshot_properties(commit.load_id)

        def write(tx: Transaction, table: Table | None) -> None:
            if commit.disposition == "replace" and table is not None:
                _delete_all(tx, table, properties)
            if tx.table_metadata.spec().is_unpartitioned():
                if placed:
                    # Duplicates are excluded by the load id check; the check would read every
                    # manifest of the table.
                    tx.add_files(
                        [url for _, url in placed],
                        snapshot_properties=properties,
                        check_duplicate_files=False,
                    )
                return
            register_partitioned(tx, placed, properties)

        partitioning = [*commit.partition_by, *commit.table_schema.get(PARTITION_HINT, [])]
        self.transact(
            commit.table_name,
            commit.load_id,
            commit.arrow_schema,
            partitioning,
            write,
            table_properties=creation_properties(commit.table_schema),
        )

    def append_rows(self, table_name: str, data: pa.Table, load_id: str) -> None:
        properties = self.snapshot_properties(load_id)

        def write(tx: Transaction, table: Table | None) -> None:
            tx.append(data, snapshot_properties=properties)

        with translated(self.name, table_name, load_id):
            self.transact(table_name, load_id, data.schema, [], write)

    def read_table(
        self, table_name: str, columns: Sequence[str], where: RowFilter | None = None
    ) -> pa.Table | None:
        """Scan with ``where`` as the row filter: manifests and files are skipped by their
        column bounds before any data file is opened."""
        from pyiceberg.expressions import AlwaysTrue, And, BooleanExpression, In

        row_filter: BooleanExpression = AlwaysTrue()
        for column, wanted in (where or {}).items():
            values = {wanted} if isinstance(wanted, str) else set(wanted)
            row_filter = And(row_filter, cast(Any, In)(column, values))  # pydantic __init__
        with translated(self.name, table_name):
            table = self.load_table(table_name)
            if table is None:
                return None
            return table.scan(row_filter=row_filter, selected_fields=tuple(columns)).to_arrow()

    def scan(
        self, table_name: str, columns: Sequence[str] | None = None
    ) -> pa.RecordBatchReader | None:
        """Stream the current snapshot, file by file (``to_arrow_batch_reader``)."""
        with translated(self.name, table_name):
            table = self.load_table(table_name)
            if table is None:
                return None
            selected = ("*",) if columns is None else tuple(columns)
            return table.scan(selected_fields=selected).to_arrow_batch_reader()

    def row_count(self, table_name: str) -> int | None:
        """``total-records`` of the current snapshot's summary; a scan if it has delete files
        (written by other engines: quiver's merges rewrite files instead)."""
        with translated(self.name, table_name):
            table = self.load_table(table_name)
            if table is None:
                return None
            snapshot = table.current_snapshot()
            if snapshot is None:
                return 0
            summary = snapshot.summary
            deletes = [summary.get(k) for k in _DELETE_TOTALS] if summary is not None else [None]
            total = summary.get("total-records") if summary is not None else None
            if total is not None and all(d in (None, "0") for d in deletes):
                return int(total)
            reader = table.scan(selected_fields=(table.schema().fields[0].name,))
            return sum(int(batch.num_rows) for batch in reader.to_arrow_batch_reader())

    def snapshot_properties(self, load_id: str) -> dict[str, str]:
        """The snapshot summary properties that tag a commit with the load id and app id."""
        return {LOAD_ID_PROPERTY: load_id, APP_ID_PROPERTY: self._app_id}

    def place_data_file(self, table_name: str, path: Path, load_id: str) -> str:
        """Put a normalized file under ``<table>/data/`` (deterministic name) and return its URL.

        A retry places the same file under the same name again, replacing an uncommitted copy.
        """
        target = self.location(table_name).join("data", f"{load_id}.{file_id(path)}.parquet")
        place_file(path, target)
        return target.url

    def transact(
        self,
        table_name: str,
        load_id: str,
        arrow_schema: pa.Schema,
        partition_by: Sequence[str | dict[str, Any]],
        write: Writer,
        *,
        table_properties: Mapping[str, str] | None = None,
    ) -> None:
        """Run one transaction on the table's current version: create or evolve it, ``write``,
        and tag it with the load id. A no-op if the load id is already in the table.

        Not retried here: a concurrent commit raises the retryable ``CommitConflictError``, and
        the caller runs the whole commit again.

        Args:
            table_name: The table.
            load_id: The package, recorded in every snapshot of the transaction.
            arrow_schema: The table's columns after the commit (added with ``union_by_name``).
            partition_by: Identity columns and ``x-iceberg-partition`` fields, for a new table.
            write: Adds the commit's changes to the transaction.
            table_properties: Iceberg table properties of a new table (``iceberg_adapter``);
                like dlt, they are set only when the table is created.
        """
        schema = _nullable_schema(arrow_schema)
        table = self.load_table(table_name)
        if table is not None and self.contains_load(table, load_id):
            return
        tx = self._begin(table_name, table, schema, list(partition_by), table_properties or {})
        write(tx, table)
        if tx.table_metadata.current_snapshot_id == (
            table.metadata.current_snapshot_id if table is not None else None
        ):
            # Nothing to add or delete: an empty snapshot still records the load id.
            with tx.update_snapshot(
                snapshot_properties=self.snapshot_properties(load_id)
            ).fast_append():
                pass
        tx.commit_transaction()

    def _begin(
        self,
        table_name: str,
        table: Table | None,
        schema: pa.Schema,
        partition_by: list[str | dict[str, Any]],
        table_properties: Mapping[str, str],
    ) -> Transaction:
        if table is not None:
            tx = begin_transaction(table)
            if not _has_columns(table, schema):
                with tx.update_schema() as update:
                    update.union_by_name(schema)
            evolve_spec(tx, _fields(partition_by))
            return tx
        self._ensure_namespace()
        tx = self.catalog.create_table_transaction(
            self.identifier(table_name),
            schema=schema,
            location=self.location(table_name).url,
            # quiver's own properties win: its commit retry must stay the only one.
            properties={**table_properties, **TABLE_PROPERTIES},
        )
        fields = _fields(partition_by)
        if fields:
            with tx.update_spec() as spec:
                apply_partition_spec(spec, fields)
        return tx

    # ---------------------------------------------------------------- refresh
    def drop_table(self, table_name: str) -> None:
        """Drop the table from the catalog (if one is configured) and delete its folder."""
        with translated(self.name, table_name):
            identifier = self.identifier(table_name)
            if not self.catalog_less and self.catalog.table_exists(identifier):
                self.catalog.drop_table(identifier)
            location = self.location(table_name)
            filesystem = location.filesystem()
            if filesystem.exists(location.path):
                filesystem.rm(location.path, recursive=True)

    def truncate_table(self, table_name: str, load_id: str) -> None:
        """Delete every row in one snapshot whose summary has ``quiver.truncated_by``.

        That property, not ``quiver.load_id``, marks the snapshot, so :meth:`is_committed`
        still answers for the package's data commit; a second call for the same load id is a
        no-op.
        """
        properties = {TRUNCATED_BY_PROPERTY: load_id, APP_ID_PROPERTY: self._app_id}
        with translated(self.name, table_name, load_id):
            table = self.load_table(table_name)
            if table is None or self._truncated_by(table, load_id):
                return
            tx = table.transaction()
            _delete_all(tx, table, properties)
            if tx.table_metadata.current_snapshot_id == table.metadata.current_snapshot_id:
                with tx.update_snapshot(snapshot_properties=properties).fast_append():
                    pass  # nothing to delete: an empty snapshot records the truncation
            tx.commit_transaction()

    def _truncated_by(self, table: Table, load_id: str) -> bool:
        metadata = table.metadata
        snapshots = {snapshot.snapshot_id: snapshot for snapshot in metadata.snapshots}
        snapshot_id = metadata.current_snapshot_id
        while snapshot_id is not None and (snapshot := snapshots.get(snapshot_id)) is not None:
            summary = snapshot.summary
            if (
                summary is not None
                and summary.get(TRUNCATED_BY_PROPERTY) == load_id
                and summary.get(APP_ID_PROPERTY) == self._app_id
            ):
                return True
            snapshot_id = snapshot.parent_snapshot_id
        return False

    # ------------------------------------------------------------- maintenance
    def optimize(self, table_name: str, *, target_size: int | None = None) -> MaintenanceResult:
        return MaintenanceResult(
            table_name, self.name, "optimize", {"skipped": _NO_DATA_FILE_REWRITE}
        )

    def vacuum(
        self, table_name: str, *, retention_hours: int, dry_run: bool = False
    ) -> MaintenanceResult:
        return MaintenanceResult(
            table_name, self.name, "vacuum", {"skipped": _NO_ORPHAN_FILE_REMOVAL}
        )

    def expire_snapshots(
        self, table_name: str, *, older_than: datetime.datetime
    ) -> MaintenanceResult:
        """Expire snapshots older than ``older_than``; the current one is always kept."""
        with translated(self.name, table_name):
            table = self.load_table(table_name)
            if table is None:
                return MaintenanceResult(table_name, self.name, "expire_snapshots", {"expired": 0})
            before = len(table.metadata.snapshots)
            table.maintenance.expire_snapshots().older_than(older_than).commit()
            after = self.load_table(table_name)
            expired = before - (len(after.metadata.snapshots) if after is not None else 0)
        return MaintenanceResult(table_name, self.name, "expire_snapshots", {"expired": expired})


def register_partitioned(
    tx: Transaction, placed: Sequence[tuple[Path, str]], properties: dict[str, str]
) -> None:
    """Register files of a partitioned table in one fast append, with the partition tuples
    normalize recorded in them; a file without one (normalize could not compute a transform for
    its column's type) is rewritten through pyiceberg's partitioned ``append``, one file at a
    time."""
    from pyiceberg.table import TableProperties

    if tx.table_metadata.name_mapping() is None:
        # The files carry no field ids: readers map their columns by name (as add_files does).
        mapping = tx.table_metadata.schema().name_mapping.model_dump_json()
        tx.set_properties({TableProperties.DEFAULT_NAME_MAPPING: mapping})
    data_files = []
    for path, url in placed:
        data_file = partitioned_data_file(tx.table_metadata, path, url)
        if data_file is None:
            tx.append(pq.read_table(path), snapshot_properties=properties)
        else:
            data_files.append(data_file)
    if data_files:
        with tx.update_snapshot(snapshot_properties=properties).fast_append() as append:
            for data_file in data_files:
                append.append_data_file(data_file)


def _fields(partition_by: Sequence[str | dict[str, Any]]) -> list[dict[str, Any]]:
    """Partition fields from identity column names and ``x-iceberg-partition`` dictionaries."""
    spec = [p for p in partition_by if isinstance(p, dict)]
    identity = [p for p in partition_by if isinstance(p, str)]
    return hinted_fields({PARTITION_HINT: spec}, identity)


def _without_pyiceberg_retries(table: Table) -> Table:
    """Make pyiceberg raise on conflicts instead of replaying the data (quiver retries)."""
    if table.metadata.properties.get("commit.retry.num-retries") == "0":
        return table
    properties = {**table.metadata.properties, **TABLE_PROPERTIES}
    table.metadata = table.metadata.model_copy(update={"properties": properties})
    return table


def creation_properties(table_schema: Mapping[str, Any]) -> dict[str, str]:
    """The Iceberg table properties ``iceberg_adapter(table_properties=...)`` put on a table."""
    return dict(table_schema.get(ICEBERG_TABLE_PROPERTIES_HINT) or {})


def _delete_all(tx: Transaction, table: Table, properties: dict[str, str]) -> None:
    from pyiceberg.expressions import AlwaysTrue

    if table.current_snapshot() is None:
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_EMPTY_DELETE_WARNING, category=UserWarning)
        tx.delete(AlwaysTrue(), snapshot_properties=properties)


#: Arrow types that the Iceberg schema, read back as Arrow, spells with their large variant.
_AS_LARGE: Final = {pa.string(): pa.large_string(), pa.binary(): pa.large_binary()}


def _has_columns(table: Table, schema: pa.Schema) -> bool:
    """Whether the table has every column of ``schema``, of the same primitive type and
    nullability: then ``union_by_name`` would change nothing, and skipping it saves a schema
    update on every sidecar commit (each of which deep-copies the table's metadata).
    Nested columns are not compared: the schema update decides for them."""
    current = {field.name: field for field in table.schema().as_arrow()}
    for field in schema:
        if pa.types.is_nested(field.type) or field.name not in current:
            return False
        existing = current[field.name]
        wanted = _AS_LARGE.get(field.type, field.type)
        if existing.type != wanted or existing.nullable != field.nullable:
            return False
    return True


def _nullable_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([_nullable_field(field) for field in schema], metadata=schema.metadata)


def _nullable_field(field: pa.Field) -> pa.Field:
    data_type = field.type
    if pa.types.is_struct(data_type):
        data_type = pa.struct([_nullable_field(child) for child in data_type])
    elif pa.types.is_large_list(data_type):
        data_type = pa.large_list(_nullable_field(data_type.value_field))
    elif pa.types.is_fixed_size_list(data_type):
        data_type = pa.list_(_nullable_field(data_type.value_field), data_type.list_size)
    elif pa.types.is_list(data_type):
        data_type = pa.list_(_nullable_field(data_type.value_field))
    elif pa.types.is_map(data_type):
        data_type = pa.map_(data_type.key_field, _nullable_field(data_type.item_field))
    return field.with_type(data_type).with_nullable(True)
