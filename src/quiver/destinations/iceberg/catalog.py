"""Iceberg catalogs: a configured pyiceberg catalog, or catalog-less folders.

* A configured catalog: any pyiceberg ``Catalog``, or one described by the dlt-style environment
  variables ``ICEBERG_CATALOG__ICEBERG_CATALOG_TYPE``, ``..._CONFIG`` (a JSON object of catalog
  properties) and ``..._NAME``; see :func:`catalog_from_env`.
* Catalog-less (the default, :func:`folder_catalog`): the table folder is the truth. The current
  version is the metadata file with the highest version number in ``metadata/``
  (``<version>-<uuid>.metadata.json`` or ``v<version>.metadata.json``; by number, not by name or
  mtime). A commit writes version N+1 under a name that is the same for every writer (the uuid
  is derived from the version) with an exclusive create, so two racing writers cannot both win:
  the loser gets ``CommitFailedException`` and retries on top of the winner. The exclusive
  create is atomic on local disks (hard link of a complete temporary file), on S3 (conditional
  PUT, ``If-None-Match: *``) and on ``memory://`` within one process; on other fsspec
  filesystems it is check-then-write. ``metadata/version-hint.text`` is also written (best
  effort, it can lag behind under races) so that readers which take a table folder, such as
  DuckDB's ``iceberg_scan('<table folder>')``, find the current version.

Limitations of catalog-less mode: writers that do not follow this naming (for example
pyiceberg's own ``SqlCatalog`` pointed at the same folder, which names files ``<version>-<random
uuid>``) can write the same version number next to quiver's file and fork the history; among
equal versions the name decides, arbitrarily but deterministically.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from quiver.destinations.location import StorageLocation
from quiver.errors import DestinationCapabilitiesError, DestinationConfigError

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

__all__ = [
    "CATALOG_ENV_PREFIX",
    "catalog_from_config",
    "catalog_from_env",
    "folder_catalog",
    "latest_metadata_file",
]

logger = logging.getLogger(__name__)

#: dlt's environment variables for a configured catalog (config section ``iceberg_catalog``).
CATALOG_ENV_PREFIX: Final = "ICEBERG_CATALOG__"

_METADATA_FILE: Final = re.compile(
    r"(?:v(?P<hadoop>\d+)|(?P<version>\d+)-[0-9A-Za-z_-]{36})(?:\.\w+)?\.metadata\.json"
)
# The uuid part of quiver's metadata file names is derived from the version only, so that all
# writers of version N race for the same name.
_METADATA_UUID_NAMESPACE: Final = uuid.UUID("6f2d8a4e-5d1c-4f57-9a53-3c1b5f0e7a21")
_VERSION_HINT: Final = "version-hint.text"


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
        DestinationConfigError: If the config is not a JSON object (a ``ValueError``).
    """
    env = os.environ if environ is None else environ
    catalog_type = env.get(f"{CATALOG_ENV_PREFIX}ICEBERG_CATALOG_TYPE")
    raw_config = env.get(f"{CATALOG_ENV_PREFIX}ICEBERG_CATALOG_CONFIG")
    if not catalog_type and not raw_config:
        return None
    try:
        config = json.loads(raw_config) if raw_config else {}
    except json.JSONDecodeError as error:
        raise DestinationConfigError(
            f"{CATALOG_ENV_PREFIX}ICEBERG_CATALOG_CONFIG is not valid JSON ({error}). Hint: "
            'set it to a JSON object such as {"uri": "sqlite:///catalog.db"}.'
        ) from None
    if not isinstance(config, dict):
        raise DestinationConfigError(
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
        if folder.is_local:  # every load lists sidecar tables: no fsspec import for that
            names = os.listdir(folder.path)
        else:
            listing = folder.filesystem().ls(folder.path, detail=False)
            names = [entry.rsplit("/", 1)[-1] for entry in listing]
    except (FileNotFoundError, NotADirectoryError):
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


#: What a catalog-less catalog cannot do: it has no store of its own besides the table folders.
_NOT_IN_FOLDER_MODE: Final = (
    "create_namespace",
    "drop_namespace",
    "list_namespaces",
    "load_namespace_properties",
    "update_namespace_properties",
    "list_tables",
    "drop_table",
    "rename_table",
    "register_table",
    "list_views",
    "load_view",
    "view_exists",
    "register_view",
    "drop_view",
)


def _not_in_folder_mode(operation: str) -> Any:
    def refuse(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise DestinationCapabilitiesError(
            f"The catalog-less Iceberg catalog of {self._dataset.url} cannot {operation}: its "
            "tables are the dataset's folders, and it keeps no namespaces, views or table "
            "list. Hint: configure a catalog (ICEBERG_CATALOG__ICEBERG_CATALOG_TYPE and "
            "..._CONFIG) for catalog operations, or work on the folders directly."
        )

    refuse.__name__ = operation
    return refuse


@functools.cache
def _folder_catalog_class() -> type[Any]:
    """Build the catalog class of catalog-less mode (here, so that pyiceberg loads lazily)."""
    from pyiceberg.catalog import Catalog, MetastoreCatalog
    from pyiceberg.exceptions import CommitFailedException, NoSuchTableError
    from pyiceberg.serializers import FromInputFile
    from pyiceberg.table import CommitTableResponse, Table
    from pyiceberg.utils.config import Config

    refusals = {operation: _not_in_folder_mode(operation) for operation in _NOT_IN_FOLDER_MODE}
    # First in the bases, so pyiceberg's abstract methods count as implemented.
    Refusals = type("FolderCatalogRefusals", (), refusals)

    class FolderCatalog(Refusals, MetastoreCatalog):  # type: ignore[valid-type,misc]
        """Tables found by folder: the newest metadata file is the current version.

        Only loading, creating and committing tables are served (that is all quiver asks of
        it); namespace, view and table-list operations raise ``DestinationCapabilitiesError``.
        Not a ``SqlCatalog`` on SQLite: that imported SQLAlchemy (~0.3 s in a new process)
        and built an engine per instance for parts quiver never used.
        """

        def __init__(self, dataset: StorageLocation, namespace: str) -> None:
            super().__init__(f"quiver-{namespace}", **dataset.pyiceberg_properties())
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


def folder_catalog(dataset: StorageLocation, namespace: str) -> Catalog:
    """The catalog of catalog-less mode: tables are the folders of ``dataset``.

    Args:
        dataset: The dataset folder; a table is the folder ``<dataset>/<table name>``.
        namespace: The namespace of the tables (the dataset folder's name).

    Returns:
        A pyiceberg catalog that loads and commits tables by their folders.
    """
    catalog: Catalog = _folder_catalog_class()(dataset, namespace)
    return catalog


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
