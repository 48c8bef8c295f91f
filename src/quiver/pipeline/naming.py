"""Which naming convention a pipeline and each of its schemas use (``SCHEMA__NAMING``).

As in dlt, a schema stores its convention by name (``normalizers.names``) and keeps it: the
configured ``naming`` (``sources.<schema>.schema.naming``, ``sources.schema.naming``,
``schema.naming``) applies to a new schema, and to a stored one only if none of its tables holds
data yet; otherwise the change is refused with :class:`~quiver.errors.TableIdentifiersFrozen`
(dlt raises the same class), because renaming would strand the loaded tables and columns.

The dataset name goes through the convention of the pipeline's default schema
(``normalize_table_identifier``), as dlt normalizes the dataset folder's name.
"""

from __future__ import annotations

import datetime

from quiver.errors import InvalidDatasetName, TableIdentifiersFrozen
from quiver.package.schema_store import SchemaStore
from quiver.pipeline.local_state import dev_mode_dataset_name
from quiver.schema.model import Schema
from quiver.schema.naming import NamingConvention
from quiver.schema.naming_conventions import naming_convention
from quiver.settings import SchemaConfig, resolve

__all__ = [
    "DEFAULT_NAMING",
    "naming_of",
    "normalize_dataset_name",
    "pipeline_naming",
    "schema_naming",
]

#: dlt's default convention, used by a schema that names none.
DEFAULT_NAMING = "snake_case"


def configured_naming(schema_name: str) -> str | None:
    """The configured convention of schema ``schema_name``, ``None`` if none is configured."""
    return resolve(SchemaConfig, source_name=schema_name).naming


def naming_of(schema: Schema, max_length: int | None = None) -> NamingConvention:
    """The convention ``schema`` was built with (``normalizers.names``), names at most
    ``max_length`` long (the destination's limit; ``None``: no limit)."""
    return naming_convention(str(schema.normalizers.get("names") or DEFAULT_NAMING), max_length)


def schema_naming(schema: Schema, max_length: int | None = None) -> NamingConvention:
    """The convention to extract into ``schema`` with; a configured change is recorded in it.

    Args:
        schema: the live schema of a source (changed in place when its convention changes).
        max_length: the longest name the destination accepts (``None``: no limit).

    Returns:
        The convention.

    Raises:
        TableIdentifiersFrozen: another convention is configured and a table holds data.
        InvalidIdentifier: the configured name is not a known convention or module.
    """
    stored = str(schema.normalizers.get("names") or DEFAULT_NAMING)
    wanted = configured_naming(schema.name)
    if wanted is None or wanted == stored:
        return naming_convention(stored, max_length)
    naming = naming_convention(wanted, max_length)  # an unknown name fails before anything changes
    loaded = _loaded_table(schema)
    if loaded is not None:
        raise TableIdentifiersFrozen(schema.name, loaded, stored, wanted)
    schema.normalizers["names"] = wanted
    return naming


def pipeline_naming(schemas: SchemaStore, default_schema_name: str) -> NamingConvention:
    """The convention of the pipeline's dataset name: the default schema's (its configured one
    while none of its tables holds data, as :func:`schema_naming` would switch it), else the
    configured one, else ``snake_case``."""
    wanted = configured_naming(default_schema_name)
    if schemas.path(default_schema_name).exists():
        schema = schemas.load(default_schema_name)
        if wanted is None or _loaded_table(schema) is not None:
            return naming_of(schema)  # a refused change is reported when extract starts
    return naming_convention(wanted or DEFAULT_NAMING)


def _loaded_table(schema: Schema) -> str | None:
    """A data table of ``schema`` that received data, if any."""
    for table in schema.data_tables():
        if (table.get("x-normalizer") or {}).get("seen-data"):
            return str(table["name"])
    return None


def normalize_dataset_name(
    naming: NamingConvention,
    dataset_name: str,
    dev_mode: bool,
    pipeline_name: str | None = None,
) -> str:
    """``dataset_name`` (with dev mode's time suffix) through the convention's
    ``normalize_table_identifier``: ``My Dataset`` is ``my_dataset`` under ``snake_case`` (as in
    dlt) and stays as it is under ``direct``.

    Raises:
        InvalidDatasetName: the name is a path that leaves the bucket (``../x``, ``/x``), or
            its normalized form is not one plain folder name. Checked before any work, so a
            bad name never extracts or normalizes anything.
    """
    segments = dataset_name.replace("\\", "/").split("/")
    if ".." in segments or dataset_name.startswith(("/", "\\")):
        raise InvalidDatasetName(pipeline_name, dataset_name, "is a path that leaves the bucket")
    now = datetime.datetime.now(datetime.UTC)
    normalized = naming.normalize_table_identifier(
        dev_mode_dataset_name(dataset_name, now) if dev_mode else dataset_name
    )
    if normalized in (".", "..") or any(sep in normalized for sep in "/\\"):
        reason = f"is {normalized!r} after normalization, not one folder name"
        raise InvalidDatasetName(pipeline_name, dataset_name, reason)
    return normalized
