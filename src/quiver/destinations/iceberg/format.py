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
between. On ``CommitFailedException`` quiver reloads the table, returns if the load id is already
there, and otherwise rebuilds the transaction, with exponential backoff, at most
``MAX_COMMIT_ATTEMPTS`` times.

Catalogs:

* A configured catalog: the ``catalog`` argument (any pyiceberg ``Catalog``), or one described
  by the dlt-style environment variables ``ICEBERG_CATALOG__ICEBERG_CATALOG_TYPE``,
  ``..._CONFIG`` (a JSON object of catalog properties) and ``..._NAME``; see
  ``catalog_from_env``. A table folder that exists but is unknown to the catalog is registered
  from its newest metadata file.
* Catalog-less (the default): the table folder is the truth. The current version is the
  metadata file with the highest version number in ``metadata/`` (``<version>-<uuid>.metadata
  .json`` or ``v<version>.metadata.json``; by number, not by name or mtime). A commit writes
  version N+1 under a name that is the same for every writer (the uuid is derived from the
  version) with an exclusive create, so two racing writers cannot both win: the loser gets
  ``CommitFailedException`` and retries on top of the winner. The exclusive create is atomic on
  local disks (hard link of a complete temporary file), on S3 (conditional PUT,
  ``If-None-Match: *``) and on ``memory://`` within one process; on other fsspec filesystems it
  is check-then-write. ``metadata/version-hint.text`` is also written (best effort, it can lag
  behind under races) so that readers which take a table folder, such as DuckDB's
  ``iceberg_scan('<table folder>')``, find the current version.

Limitations of catalog-less mode: writers that do not follow this naming (for example pyiceberg's
own ``SqlCatalog`` pointed at the same folder, which names files ``<version>-<random
uuid>``) can write the same version number next to quiver's file and fork the history; among
equal versions the name decides, arbitrarily but deterministically. Expired snapshots take their
load ids with them, so expire only snapshots older than any package you may still retry.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import random
import re
import time
import uuid
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa
import pyarrow.parquet as pq

from quiver.destinations.base import TableCommit
from quiver.destinations.iceberg.partitioning import PARTITION_HINT, apply_partition_spec
from quiver.destinations.location import StorageLocation
from quiver.destinations.placement import file_id, place_file

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table, Transaction

__all__ = [
    "APP_ID_PROPERTY",
    "LOAD_ID_PROPERTY",
    "IcebergFormat",
    "catalog_from_config",
    "catalog_from_env",
    "latest_metadata_file",
]

logger = logging.getLogger(__name__)

#: Snapshot summary property holding the load id of the package that made the snapshot.
LOAD_ID_PROPERTY: Final = "quiver.load_id"
#: Snapshot summary property holding the pipeline's app id.
APP_ID_PROPERTY: Final = "quiver.app_id"

#: How often quiver tries a commit that conflicts with concurrent writers.
MAX_COMMIT_ATTEMPTS: Final = 10
_BACKOFF_BASE_S: Final = 0.05
_BACKOFF_MAX_S: Final = 2.0

#: Properties of the tables quiver creates.
TABLE_PROPERTIES: Final[Mapping[str, str]] = {"commit.retry.num-retries": "0"}

#: dlt's environment variables for a configured catalog (config section ``iceberg_catalog``).
CATALOG_ENV_PREFIX: Final = "ICEBERG_CATALOG__"

_METADATA_FILE: Final = re.compile(
    r"(?:v(?P<hadoop>\d+)|(?P<version>\d+)-[0-9A-Za-z_-]{36})(?:\.\w+)?\.metadata\.json"
)
# The uuid part of quiver's metadata file names is derived from the version only, so that all
# writers of version N race for the same name.
_METADATA_UUID_NAMESPACE: Final = uuid.UUID("6f2d8a4e-5d1c-4f57-9a53-3c1b5f0e7a21")
_VERSION_HINT: Final = "version-hint.text"
_EMPTY_DELETE_WARNING: Final = "Delete operation did not match any records"


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
        self.catalog: Catalog = (
            _folder_catalog_class()(dataset, self.namespace) if catalog is None else catalog
        )
        self._namespace_ready = self.catalog_less

    # ----------------------------------------------------------------- access
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
        if self.catalog_less:
            return latest_metadata_file(self.location(table_name)) is not None
        return self.load_table(table_name) is not None

    def is_committed(self, table_name: str, load_id: str) -> bool:
        table = self.load_table(table_name)
        return table is not None and self._contains_load(table, load_id)

    def _contains_load(self, table: Table, load_id: str) -> bool:
        metadata = table.metadata
        snapshots = {snapshot.snapshot_id: snapshot for snapshot in metadata.snapshots}
        snapshot_id = metadata.current_snapshot_id
        while snapshot_id is not None and (snapshot := snapshots.get(snapshot_id)) is not None:
            summary = snapshot.summary
            if (
                summary is not None
                and summary.get(LOAD_ID_PROPERTY) == load_id
                and summary.get(APP_ID_PROPERTY) == self._app_id
            ):
                return True
            snapshot_id = snapshot.parent_snapshot_id
        return False

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
        if commit.disposition == "merge":
            from quiver.destinations.iceberg.merge import merge

            return merge(self, commit)
        if self.is_committed(commit.table_name, commit.load_id):
            return  # and leave the files of the committed load alone
        location = self.location(commit.table_name)
        placed = [(path, self._place_file(location, path, commit.load_id)) for path in commit.files]
        properties = self._snapshot_properties(commit.load_id)

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
            for path, _ in placed:
                tx.append(pq.read_table(path), snapshot_properties=properties)

        partitioning = [*commit.partition_by, *commit.table_schema.get(PARTITION_HINT, [])]
        self._commit(commit.table_name, commit.load_id, commit.arrow_schema, partitioning, write)

    def append_rows(self, table_name: str, data: pa.Table, load_id: str) -> None:
        properties = self._snapshot_properties(load_id)

        def write(tx: Transaction, table: Table | None) -> None:
            tx.append(data, snapshot_properties=properties)

        self._commit(table_name, load_id, data.schema, [], write)

    def _snapshot_properties(self, load_id: str) -> dict[str, str]:
        return {LOAD_ID_PROPERTY: load_id, APP_ID_PROPERTY: self._app_id}

    def _commit(
        self,
        table_name: str,
        load_id: str,
        arrow_schema: pa.Schema,
        partition_by: list[str | dict[str, Any]],
        write: Callable[[Transaction, Table | None], None],
    ) -> None:
        """Run one transaction: create or evolve, ``write``, tag; retried on conflicts."""
        from pyiceberg.exceptions import CommitFailedException, TableAlreadyExistsError

        schema = _nullable_schema(arrow_schema)
        for attempt in range(1, MAX_COMMIT_ATTEMPTS + 1):
            table = self.load_table(table_name)
            if table is not None and self._contains_load(table, load_id):
                return
            try:
                tx = self._begin(table_name, table, schema, partition_by)
                write(tx, table)
                if tx.table_metadata.current_snapshot_id == (
                    table.metadata.current_snapshot_id if table is not None else None
                ):
                    # Nothing to add or delete: an empty snapshot still records the load id.
                    with tx.update_snapshot(
                        snapshot_properties=self._snapshot_properties(load_id)
                    ).fast_append():
                        pass
                tx.commit_transaction()
                return
            except (CommitFailedException, TableAlreadyExistsError) as error:
                if attempt == MAX_COMMIT_ATTEMPTS:
                    raise CommitFailedException(
                        f"Committing load {load_id} to Iceberg table {table_name!r} conflicted "
                        f"with concurrent writers {attempt} times in a row: {error}. Hint: the "
                        "package stays pending; run again when other writers are done."
                    ) from error
                delay = min(_BACKOFF_MAX_S, _BACKOFF_BASE_S * 2 ** (attempt - 1))
                logger.info(
                    "Commit of load %s to %s conflicted (%s); retrying in %.2f s",
                    load_id,
                    table_name,
                    error,
                    delay,
                )
                time.sleep(delay * random.uniform(0.5, 1.5))

    def _begin(
        self,
        table_name: str,
        table: Table | None,
        schema: pa.Schema,
        partition_by: list[str | dict[str, Any]],
    ) -> Transaction:
        if table is not None:
            tx = table.transaction()
            with tx.update_schema() as update:
                update.union_by_name(schema)
            return tx
        self._ensure_namespace()
        tx = self.catalog.create_table_transaction(
            self.identifier(table_name),
            schema=schema,
            location=self.location(table_name).url,
            properties=dict(TABLE_PROPERTIES),
        )
        if partition_by:
            with tx.update_spec() as spec:
                apply_partition_spec(
                    spec,
                    [p for p in partition_by if isinstance(p, str)],
                    [p for p in partition_by if isinstance(p, dict)],
                )
        return tx

    def _place_file(self, location: StorageLocation, path: Path, load_id: str) -> str:
        """Put a normalized file under ``<table>/data/`` and return its URL."""
        target = location.join("data", f"{load_id}.{file_id(path)}.parquet")
        place_file(path, target)
        return target.url


# ------------------------------------------------------------------ catalogs
def catalog_from_config(name: str, properties: Mapping[str, Any]) -> Catalog:
    """Build a pyiceberg catalog with ``pyiceberg.catalog.load_catalog``.

    Args:
        name: The catalog name; pyiceberg merges in the config it has under that name
            (``.pyiceberg.yaml``, ``PYICEBERG_CATALOG__<NAME>__*``).
        properties: Catalog properties, such as ``{"type": "sql", "uri": "sqlite:///c.db"}``;
            values are turned into strings.

    Returns:
        The catalog.
    """
    from pyiceberg.catalog import load_catalog

    return load_catalog(name, **{key: str(value) for key, value in properties.items()})


def catalog_from_env(
    environ: Mapping[str, str] | None = None, *, defaults: Mapping[str, str] | None = None
) -> Catalog | None:
    """Build the catalog described by dlt's ``ICEBERG_CATALOG__*`` environment variables.

    ``ICEBERG_CATALOG__ICEBERG_CATALOG_TYPE`` (``sql``, ``rest``, ``glue``, ...) and
    ``ICEBERG_CATALOG__ICEBERG_CATALOG_CONFIG`` (a JSON object of catalog properties) describe
    the catalog, ``ICEBERG_CATALOG__ICEBERG_CATALOG_NAME`` names it (default ``"default"``).

    Args:
        environ: The environment; ``os.environ`` if not given.
        defaults: Properties used where the config has none, such as the dataset's FileIO
            properties (S3 endpoint and credentials).

    Returns:
        The catalog, or ``None`` if neither the type nor the config is set.

    Raises:
        ValueError: If the config is not a JSON object.
    """
    env = os.environ if environ is None else environ
    catalog_type = env.get(f"{CATALOG_ENV_PREFIX}ICEBERG_CATALOG_TYPE")
    raw_config = env.get(f"{CATALOG_ENV_PREFIX}ICEBERG_CATALOG_CONFIG")
    if not catalog_type and not raw_config:
        return None
    try:
        config = json.loads(raw_config) if raw_config else {}
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{CATALOG_ENV_PREFIX}ICEBERG_CATALOG_CONFIG is not valid JSON ({error}). Hint: "
            'set it to a JSON object such as {"uri": "sqlite:///catalog.db"}.'
        ) from None
    if not isinstance(config, dict):
        raise ValueError(
            f"{CATALOG_ENV_PREFIX}ICEBERG_CATALOG_CONFIG must be a JSON object, not "
            f'{type(config).__name__}. Hint: use {{"uri": "...", ...}}.'
        )
    properties = {**(defaults or {}), **config}
    if catalog_type:
        properties["type"] = catalog_type
    name = env.get(f"{CATALOG_ENV_PREFIX}ICEBERG_CATALOG_NAME") or "default"
    return catalog_from_config(name, properties)


def latest_metadata_file(table: StorageLocation) -> StorageLocation | None:
    """The current metadata file of a table folder: the highest version in ``metadata/``.

    Args:
        table: The table folder.

    Returns:
        The metadata file, or ``None`` if the folder holds no metadata file.
    """
    folder = table.join("metadata")
    try:
        names = [
            entry.rsplit("/", 1)[-1] for entry in folder.filesystem().ls(folder.path, detail=False)
        ]
    except FileNotFoundError:
        return None
    versions = [(version, name) for name in names if (version := _metadata_version(name)) >= 0]
    return folder.join(max(versions)[1]) if versions else None


def _metadata_version(file_name: str) -> int:
    match = _METADATA_FILE.fullmatch(file_name)
    if match is None:
        return -1
    return int(match.group("version") or match.group("hadoop"))


def _metadata_file_name(version: int) -> str:
    return f"{version:05d}-{uuid.uuid5(_METADATA_UUID_NAMESPACE, str(version))}.metadata.json"


@functools.cache
def _folder_catalog_class() -> type[Any]:
    """Build the catalog class of catalog-less mode (here, so that pyiceberg loads lazily)."""
    from pyiceberg.catalog import Catalog
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.exceptions import CommitFailedException, NoSuchTableError
    from pyiceberg.serializers import FromInputFile
    from pyiceberg.table import CommitTableResponse, Table
    from pyiceberg.utils.config import Config

    class FolderCatalog(SqlCatalog):
        """Tables found by folder: the newest metadata file is the current version.

        A ``SqlCatalog`` on ``sqlite:///:memory:`` only for the parts quiver does not use
        (namespaces, views); loading and committing tables never touch the database.
        """

        def __init__(self, dataset: StorageLocation, namespace: str) -> None:
            super().__init__(
                f"quiver-{namespace}", uri="sqlite:///:memory:", **dataset.pyiceberg_properties()
            )
            self._dataset = dataset

        def _folder(self, identifier: str | tuple[str, ...]) -> StorageLocation:
            return self._dataset.join(Catalog.table_name_from(identifier))

        def load_table(self, identifier: str | tuple[str, ...]) -> Table:
            metadata_file = latest_metadata_file(self._folder(identifier))
            if metadata_file is None:
                raise NoSuchTableError(f"No Iceberg metadata in {self._folder(identifier).url}")
            io = self._load_file_io(location=metadata_file.url)
            metadata = FromInputFile.table_metadata(io.new_input(metadata_file.url))
            return Table(
                Catalog.identifier_to_tuple(identifier),
                metadata=metadata,
                metadata_location=metadata_file.url,
                io=self._load_file_io(metadata.properties, metadata_file.url),
                catalog=self,
            )

        def table_exists(self, identifier: str | tuple[str, ...]) -> bool:
            return latest_metadata_file(self._folder(identifier)) is not None

        def create_table(self, identifier: Any, schema: Any, *args: Any, **kwargs: Any) -> Table:
            self.create_table_transaction(identifier, schema, *args, **kwargs).commit_transaction()
            return self.load_table(identifier)

        def commit_table(
            self, table: Table, requirements: tuple[Any, ...], updates: tuple[Any, ...]
        ) -> CommitTableResponse:
            identifier = table.name()
            current: Table | None
            try:
                current = self.load_table(identifier)
            except NoSuchTableError:
                current = None
            # Validates the requirements against the newest version: a stale base fails here.
            staged = self._update_and_stage_table(current, identifier, requirements, updates)
            if current is not None and staged.metadata == current.metadata:
                return CommitTableResponse(  # type: ignore[call-arg]  # pydantic alias
                    metadata=current.metadata, metadata_location=current.metadata_location
                )
            version = 0
            if current is not None:
                version = _metadata_version(current.metadata_location.rsplit("/", 1)[-1]) + 1
            name = _metadata_file_name(version)
            folder = self._folder(identifier).join("metadata")
            target = folder.join(name)
            exclude_none = not Config().get_bool("legacy-current-snapshot-id")
            body = staged.metadata.model_dump_json(exclude_none=exclude_none).encode()
            try:
                _create_exclusive(target, body)
            except FileExistsError:
                raise CommitFailedException(
                    f"Another writer committed version {version} of {target.url} first"
                ) from None
            _write_version_hint(folder, name.removesuffix(".metadata.json"))
            return CommitTableResponse(  # type: ignore[call-arg]  # pydantic alias
                metadata=staged.metadata, metadata_location=target.url
            )

    FolderCatalog.__module__ = __name__
    return FolderCatalog


def _create_exclusive(target: StorageLocation, data: bytes) -> None:
    """Write a new file at once, or raise ``FileExistsError`` if it exists."""
    if target.is_local:
        os.makedirs(os.path.dirname(target.path), exist_ok=True)
        temporary = f"{target.path}.{uuid.uuid4().hex}.tmp"
        with open(temporary, "wb") as file:
            file.write(data)
        try:
            # A hard link never replaces an existing file, and readers see the whole file.
            os.link(temporary, target.path)
        except FileExistsError:
            raise
        except OSError:  # no hard links here: still exclusive, but visible while written
            with open(target.path, "xb") as file:
                file.write(data)
        finally:
            os.remove(temporary)
        return
    # s3fs sends If-None-Match: *; memoryfs checks and writes under the GIL.
    target.filesystem().pipe_file(target.path, data, mode="create")


def _write_version_hint(metadata_folder: StorageLocation, stem: str) -> None:
    """Point ``version-hint.text`` at a version, for readers that take a table folder."""
    target = metadata_folder.join(_VERSION_HINT)
    try:
        if target.is_local:
            temporary = f"{target.path}.{uuid.uuid4().hex}.tmp"
            with open(temporary, "w", encoding="utf-8") as file:
                file.write(stem)
            os.replace(temporary, target.path)
        else:
            target.filesystem().pipe_file(target.path, stem.encode())
    except OSError as error:
        logger.warning("Could not write %s (readers of the folder may lag): %s", target.url, error)


def _without_pyiceberg_retries(table: Table) -> Table:
    """Make pyiceberg raise on conflicts instead of replaying the data (quiver retries)."""
    if table.metadata.properties.get("commit.retry.num-retries") == "0":
        return table
    properties = {**table.metadata.properties, **TABLE_PROPERTIES}
    table.metadata = table.metadata.model_copy(update={"properties": properties})
    return table


def _delete_all(tx: Transaction, table: Table, properties: dict[str, str]) -> None:
    from pyiceberg.expressions import AlwaysTrue

    if table.current_snapshot() is None:
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_EMPTY_DELETE_WARNING, category=UserWarning)
        tx.delete(AlwaysTrue(), snapshot_properties=properties)


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
