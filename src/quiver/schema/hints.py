"""The vocabulary of table hints: write dispositions, merge strategies, table formats, contracts.

Values that users pass as strings are ``Literal`` types here, with the tuple of allowed values
derived from the type, so a checker and the runtime validation agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal, TypedDict, get_args

from quiver.schema.columns import C_DLT_ID
from quiver.schema.naming import SnakeCaseNaming

WriteDisposition = Literal["append", "replace", "merge", "skip"]
WRITE_DISPOSITIONS: Final = get_args(WriteDisposition)

MergeStrategy = Literal["delete-insert", "upsert", "insert-only", "scd2"]
MERGE_STRATEGIES: Final = get_args(MergeStrategy)
#: The strategy of a table with a primary key and no merge key when none is given (dlt's default
#: on Delta and Iceberg); other tables default to ``delete-insert`` (dlt's default elsewhere).
DEFAULT_MERGE_STRATEGY: Final = "upsert"

TableFormatName = Literal["delta", "iceberg", "native"]
TABLE_FORMATS: Final = get_args(TableFormatName)
#: Other spellings of ``native`` (plain files, no table format).
TABLE_FORMAT_ALIASES: Final = {"none": "native", "files": "native"}

ContractMode = Literal["evolve", "discard_value", "freeze", "discard_row"]
CONTRACT_MODES: Final = get_args(ContractMode)
ContractEntity = Literal["tables", "columns", "data_type"]

FileFormat = Literal["parquet", "jsonl", "csv"]
FILE_FORMATS: Final = get_args(FileFormat)


class WriteDispositionConfig(TypedDict, total=False):
    """The dict form of ``write_disposition`` (dlt's), e.g. ``{"disposition": "merge", ...}``."""

    disposition: WriteDisposition
    strategy: MergeStrategy
    validity_column_names: Sequence[str]
    active_record_timestamp: Any
    boundary_timestamp: Any
    row_version_column_name: str
    deduplicated: bool


#: ``columns=``: column schemas by name, a list of column schemas with ``name``, or a pydantic
#: model class.
ColumnsHint = Mapping[str, Mapping[str, Any]] | Sequence[Mapping[str, Any]] | type
#: A key: one column name or several.
KeyHint = str | Sequence[str]
#: Any hint may also be a callable of the data item (a dynamic hint, resolved per item).
ItemCallable = Callable[[Any], Any]
SchemaContractHint = ContractMode | Mapping[ContractEntity, ContractMode]


class TableHints(TypedDict, total=False):
    """The table hints that ``@resource``, ``apply_hints``, ``mark.make_hints``,
    ``Pipeline.extract`` and ``Pipeline.run`` accept (each also accepts a callable of the item,
    except where noted)."""

    table_name: str | ItemCallable
    parent_table_name: str | ItemCallable
    write_disposition: WriteDisposition | WriteDispositionConfig | ItemCallable
    columns: ColumnsHint | ItemCallable
    primary_key: KeyHint | ItemCallable
    merge_key: KeyHint | ItemCallable
    schema_contract: SchemaContractHint | ItemCallable
    table_format: TableFormatName | ItemCallable
    file_format: FileFormat | ItemCallable
    #: Not callable: nesting is decided before any item is seen.
    max_table_nesting: int


#: The keys of :class:`TableHints`, in declaration order.
TABLE_HINT_NAMES: Final = tuple(TableHints.__annotations__)

#: Table hint holding an Iceberg partition spec (``iceberg_adapter``).
ICEBERG_PARTITION_HINT: Final = "x-iceberg-partition"
#: Table hint holding Iceberg table properties set at creation (``iceberg_adapter``).
ICEBERG_TABLE_PROPERTIES_HINT: Final = "x-iceberg-table-properties"
ICEBERG_TRANSFORMS: Final = ("identity", "year", "month", "day", "hour", "bucket", "truncate")


def resolve_strategy(table: Mapping[str, Any]) -> str:
    """The merge strategy of a root table schema: the hint, or the default for its keys."""
    strategy = table.get("x-merge-strategy")
    if strategy:
        return str(strategy)
    columns = table.get("columns", {}).values()
    has_primary_key = any(c.get("primary_key") for c in columns)
    has_merge_key = any(c.get("merge_key") for c in columns)
    return DEFAULT_MERGE_STRATEGY if has_primary_key and not has_merge_key else "delete-insert"


def row_version_column(table: Mapping[str, Any]) -> str:
    """The column identifying scd2 row versions: ``row_version_column_name`` or ``_dlt_id``."""
    columns: dict[str, dict[str, Any]] = table.get("columns", {})
    version = table.get("x-row-version-column-name")
    if isinstance(version, str):
        return column_name(columns, version)
    return next(
        (n for n, c in columns.items() if c.get("x-row-version") and n != C_DLT_ID), C_DLT_ID
    )


def column_name(columns: Mapping[str, Any], name: str) -> str:
    """``name`` as it is in ``columns``: as given, else normalized (hints may use raw names)."""
    if name in columns:
        return name
    return SnakeCaseNaming().normalize_path(name)
