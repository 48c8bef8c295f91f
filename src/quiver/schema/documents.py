"""The documents quiver writes to disk, as TypedDicts: what each file holds, key by key.

Only documents are TypedDicts (internal models are dataclasses). The shapes are dlt's, so that a
working folder, a schema file or a ``_dlt_pipeline_state`` row written by one tool reads in the
other:

- :data:`ColumnSchema`, :data:`TableSchema`, :class:`SchemaDocument`: ``schemas/<name>.schema.json``
  and the ``schema.json`` of each load package (dlt's stored schema, engine version 11);
- :class:`PipelineState`: the working folder's ``state.json``;
- :class:`StateRow`: a ``_dlt_pipeline_state`` row (without ``_dlt_load_id``/``_dlt_id``), as
  extract hands it to the loader in ``package_state.json``.

Table and column documents use keys with dashes (dlt's ``x-...`` hints), so they are declared
with the functional syntax. A document read from disk is not validated against these types: they
say what quiver writes and what its readers may expect.
"""

# No ``from __future__ import annotations``: TypedDict reads Required/NotRequired from the
# evaluated annotations, and tests and readers use __required_keys__ at runtime.
from typing import Any, Literal, NotRequired, Required, TypedDict

#: dlt's data types.
DataType = Literal[
    "text", "double", "bool", "timestamp", "bigint", "binary", "json", "decimal", "wei", "date",
    "time",
]  # fmt: skip

#: A column of a table schema: its type and hints (dlt's ``TColumnSchema``).
ColumnSchema = TypedDict(
    "ColumnSchema",
    {
        "name": Required[str],
        "data_type": DataType,
        "nullable": bool,
        "precision": int,
        "scale": int,
        # True: time zone aware (UTC); False: naive.
        "timezone": bool,
        "description": str,
        "primary_key": bool,
        "merge_key": bool,
        "partition": bool,
        "cluster": bool,
        "unique": bool,
        "sort": bool,
        "row_key": bool,
        "parent_key": bool,
        "root_key": bool,
        "hard_delete": bool,
        "dedup_sort": Literal["asc", "desc"],
        # The incremental cursor column of its resource.
        "incremental": bool,
        # A variant column holding values that did not fit the column's type.
        "variant": bool,
        # scd2: the validity columns and the row version column.
        "x-valid-from": bool,
        "x-valid-to": bool,
        "x-active-record-timestamp": Any,
        "x-row-version": bool,
        "x-normalizer": dict[str, Any],
    },
    total=False,
)

#: A table of a schema: its columns, hints and the normalizer's bookkeeping (dlt's
#: ``TTableSchema``). Child tables have ``parent``; table-level hints of a child (e.g.
#: ``write_disposition``) are inherited from its root table.
TableSchema = TypedDict(
    "TableSchema",
    {
        "name": Required[str],
        "columns": Required[dict[str, ColumnSchema]],
        "description": str,
        "parent": str,
        "resource": str,
        "write_disposition": Literal["append", "replace", "merge", "skip"],
        "table_format": str,
        "file_format": str,
        "schema_contract": str | dict[str, str],
        # quiver's older spelling of x-normalizer.max_nesting, moved there when saved.
        "max_table_nesting": int,
        # seen-data, evolve-columns-once, max_nesting, retype-hints.
        "x-normalizer": dict[str, Any],
        "x-loader": dict[str, Any],
        "x-merge-strategy": Literal["delete-insert", "upsert", "insert-only", "scd2"],
        "x-stage-data-deduplicated": bool,
        "x-boundary-timestamp": Any,
        "x-row-version-column-name": str,
        "x-iceberg-partition": list[dict[str, Any]],
        "x-iceberg-table-properties": dict[str, str],
    },
    total=False,
)


class SchemaSettings(TypedDict, total=False):
    """``settings`` of a schema document."""

    #: Type detections run on text values (``iso_timestamp``).
    detections: list[str]
    #: Column hints set by name pattern (``re:<regex>`` or an exact name), per hint.
    default_hints: dict[str, list[str]]
    #: Data types set by name pattern.
    preferred_types: dict[str, DataType]
    schema_contract: str | dict[str, str]
    #: Source-level ``root_key`` propagation (``@source(root_key=True)``).
    root_key: bool
    #: quiver's older spelling of ``normalizers.json.config.max_nesting``.
    max_table_nesting: int


class JsonNormalizer(TypedDict, total=False):
    module: Required[str]
    #: ``max_nesting`` (the source's ``max_table_nesting``) and ``propagation``.
    config: dict[str, Any]


class Normalizers(TypedDict, total=False):
    """``normalizers`` of a schema document: the naming convention and the relational one."""

    names: Required[str]
    json: JsonNormalizer


class SchemaDocument(TypedDict):
    """A stored schema (``schemas/<name>.schema.json``, a package's ``schema.json``)."""

    name: str
    version: int
    version_hash: str
    engine_version: int
    tables: dict[str, TableSchema]
    settings: NotRequired[SchemaSettings]
    normalizers: NotRequired[Normalizers]
    #: Earlier version hashes, newest first (at most 10).
    previous_hashes: NotRequired[list[str]]
    #: Hash of the ``import_schema_path`` file last applied (quiver and dlt skip it when
    #: unchanged).
    imported_version_hash: NotRequired[str]


# --------------------------------------------------------------------------- pipeline state
class StoredDestination(TypedDict):
    """The destination a pipeline last used, so that ``attach`` restores it."""

    bucket_url: str
    table_format: str
    destination_name: str


class LocalState(TypedDict, total=False):
    """``_local`` of the pipeline state: facts about this working folder, never sent anywhere."""

    #: No package of this pipeline was loaded yet.
    first_run: bool
    #: ``_version_hash`` of the state last handed to a package (so unchanged state is not
    #: stored again).
    _last_extracted_hash: str | None
    #: When that happened (ISO 8601, UTC).
    _last_extracted_at: str
    _dev_mode: bool


class PipelineState(TypedDict):
    """The pipeline state (``state.json``; dlt's ``TPipelineState``).

    ``sources`` holds what resources and sources keep between runs:
    ``{<source>: {<user keys>..., resources: {<resource>: {<user keys>..., incremental: ...}}}}``.
    ``_version_hash`` hashes everything but ``_local`` and the version fields;
    ``_state_version`` grows by one whenever that hash changes.
    """

    _state_version: int
    _state_engine_version: int
    _version_hash: NotRequired[str]
    pipeline_name: str
    dataset_name: NotRequired[str]
    default_schema_name: NotRequired[str]
    schema_names: list[str]
    destination_type: NotRequired[str]
    destination_name: NotRequired[str]
    destination: NotRequired[StoredDestination]
    staging: NotRequired[StoredDestination]
    sources: dict[str, Any]
    _local: LocalState


class StateRow(TypedDict):
    """A ``_dlt_pipeline_state`` row, without the ``_dlt_load_id`` and ``_dlt_id`` the loader adds.

    ``state`` is the pipeline state without ``_local``, as base64 of zlib-compressed typed JSON;
    ``created_at`` is ISO 8601 in UTC.
    """

    version: int
    engine_version: int
    pipeline_name: str
    state: str
    created_at: str
    version_hash: str
