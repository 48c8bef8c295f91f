"""The vocabulary of table hints: write dispositions, merge strategies, table formats, contracts.

Values that users pass as strings are ``Literal`` types here, with the tuple of allowed values
derived from the type, so a checker and the runtime validation agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal, TypedDict, get_args

from quiver.errors import InvalidHintValue, InvalidSchemaContract, did_you_mean
from quiver.schema.columns import C_DLT_ID
from quiver.schema.naming import NamingConvention, SnakeCaseNaming

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
CONTRACT_ENTITIES: Final = get_args(ContractEntity)

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


#: The keys of the dict form of ``write_disposition``.
WRITE_DISPOSITION_CONFIG_KEYS: Final = tuple(WriteDispositionConfig.__annotations__)


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
    except where noted). ``None`` means "not given", as in dlt."""

    table_name: str | ItemCallable | None
    parent_table_name: str | ItemCallable | None
    write_disposition: WriteDisposition | WriteDispositionConfig | ItemCallable | None
    columns: ColumnsHint | ItemCallable | None
    primary_key: KeyHint | ItemCallable | None
    merge_key: KeyHint | ItemCallable | None
    schema_contract: SchemaContractHint | ItemCallable | None
    table_format: TableFormatName | ItemCallable | None
    file_format: FileFormat | ItemCallable | None
    #: Not callable: nesting is decided before any item is seen.
    max_table_nesting: int | None


#: The keys of :class:`TableHints`, in declaration order.
TABLE_HINT_NAMES: Final = tuple(TableHints.__annotations__)

#: Table hint holding an Iceberg partition spec (``iceberg_adapter``).
ICEBERG_PARTITION_HINT: Final = "x-iceberg-partition"
#: Table hint holding Iceberg table properties set when the table is created (``iceberg_adapter``).
ICEBERG_TABLE_PROPERTIES_HINT: Final = "x-iceberg-table-properties"
ICEBERG_TRANSFORMS: Final = ("identity", "year", "month", "day", "hour", "bucket", "truncate")


def check_hint_values(hints: Mapping[str, Any], where: str) -> None:
    """Raise for a hint whose value is outside the vocabulary, where the hint is given.

    Callables of the item are checked when they are resolved; ``None`` (not given) and empty
    values (which remove a hint in ``apply_hints``) pass.

    Args:
        hints: hints by name, as a user passed them.
        where: names the function and resource in the message, e.g. ``"resource 'users'"``.

    Raises:
        InvalidHintValue: for an unknown write disposition, merge strategy or table format.
        InvalidSchemaContract: for an unknown contract mode or entity.
    """
    for name, check in _CHECKS.items():
        value = hints.get(name)
        if value is None or (isinstance(value, str) and not value) or _is_item_callable(value):
            continue
        check(value, where)


def check_write_disposition(value: Any, where: str) -> None:
    """``write_disposition`` as a shorthand string or in its dict form."""
    if isinstance(value, str):
        if value not in WRITE_DISPOSITIONS:
            raise InvalidHintValue.not_one_of(where, "write_disposition", value, WRITE_DISPOSITIONS)
        return
    if not isinstance(value, Mapping):
        raise InvalidHintValue(
            f"{where}: write_disposition must be a string or a dict, got {type(value).__name__}. "
            "Hint: e.g. write_disposition='merge' or "
            "write_disposition={'disposition': 'merge', 'strategy': 'upsert'}."
        )
    for key in value:
        if key not in WRITE_DISPOSITION_CONFIG_KEYS:
            raise InvalidHintValue.not_one_of(
                where, "a key of write_disposition", key, WRITE_DISPOSITION_CONFIG_KEYS
            )
    if "disposition" not in value:
        raise InvalidHintValue(
            f"{where}: the write_disposition dict {dict(value)!r} has no 'disposition'. "
            "Hint: e.g. {'disposition': 'merge', 'strategy': 'scd2'}."
        )
    check_write_disposition(value["disposition"], where)
    strategy = value.get("strategy")
    if strategy is not None and strategy not in MERGE_STRATEGIES:
        raise InvalidHintValue.not_one_of(
            where, "write_disposition['strategy']", strategy, MERGE_STRATEGIES
        )


def check_table_format(value: Any, where: str) -> None:
    """``table_format``: a format name or one of its aliases."""
    allowed = (*TABLE_FORMATS, *TABLE_FORMAT_ALIASES)
    if value not in allowed:
        raise InvalidHintValue.not_one_of(where, "table_format", value, allowed)


def check_schema_contract(value: Any, where: str) -> None:
    """``schema_contract``: one mode for everything, or modes by entity."""
    if isinstance(value, str):
        modes = {"*": value}
    elif isinstance(value, Mapping):
        modes = dict(value)
    else:
        raise InvalidSchemaContract(
            f"{where}: schema_contract must be a mode or a dict of modes, got "
            f"{type(value).__name__}. Hint: e.g. schema_contract='freeze' or "
            "schema_contract={'columns': 'discard_value'}."
        )
    for entity, mode in modes.items():
        if entity != "*" and entity not in CONTRACT_ENTITIES:
            raise InvalidSchemaContract(
                f"{where}: schema_contract has an unknown entity {entity!r}."
                f"{did_you_mean(entity, CONTRACT_ENTITIES)} Hint: the entities are "
                f"{list(CONTRACT_ENTITIES)}."
            )
        if mode not in CONTRACT_MODES:
            name = "schema_contract" if entity == "*" else f"schema_contract[{entity!r}]"
            raise InvalidSchemaContract(
                f"{where}: {name}={mode!r} is not one of {list(CONTRACT_MODES)}."
                f"{did_you_mean(mode, CONTRACT_MODES)} Hint: 'evolve' allows a change, 'freeze' "
                "fails on it, 'discard_row'/'discard_value' drop the data."
            )


_CHECKS: Final[dict[str, Callable[[Any, str], None]]] = {
    "write_disposition": check_write_disposition,
    "table_format": check_table_format,
    "schema_contract": check_schema_contract,
}


def _is_item_callable(value: Any) -> bool:
    return callable(value) and not isinstance(value, type)


def resolve_strategy(table: Mapping[str, Any]) -> str:
    """The merge strategy of a root table schema: the hint, or the default for its keys."""
    strategy = table.get("x-merge-strategy")
    if strategy:
        return str(strategy)
    columns = table.get("columns", {}).values()
    has_primary_key = any(c.get("primary_key") for c in columns)
    has_merge_key = any(c.get("merge_key") for c in columns)
    return DEFAULT_MERGE_STRATEGY if has_primary_key and not has_merge_key else "delete-insert"


def row_version_column(table: Mapping[str, Any], naming: NamingConvention | None = None) -> str:
    """The column identifying scd2 row versions: ``row_version_column_name`` or ``_dlt_id``.

    ``naming`` is the schema's convention, to find a raw name given as a table hint.
    """
    columns: dict[str, dict[str, Any]] = table.get("columns", {})
    version = table.get("x-row-version-column-name")
    if isinstance(version, str):
        return column_name(columns, version, naming)
    return next(
        (n for n, c in columns.items() if c.get("x-row-version") and n != C_DLT_ID), C_DLT_ID
    )


def column_name(
    columns: Mapping[str, Any], name: str, naming: NamingConvention | None = None
) -> str:
    """``name`` as it is in ``columns``: as given, else normalized (hints may use raw names).

    Args:
        columns: the table's columns by (normalized) name.
        name: a column name from a hint, raw or normalized.
        naming: the schema's naming convention (``SCHEMA__NAMING``); snake_case if not given.
    """
    if name in columns:
        return name
    return (naming or SnakeCaseNaming()).normalize_path(name)
