"""Table hints of resources: checked where they are given, resolved per table.

Every place that takes the hint vocabulary (``@resource``, ``@transformer``, ``apply_hints``,
``quiver.mark.make_hints``) builds hints with :func:`build_hints`: unknown keywords raise
:class:`~quiver.errors.UnknownArgument` and values outside the vocabulary
:class:`~quiver.errors.InvalidHintValue`, each with the closest valid name and the resource.
The stored form keeps callables of the item (*dynamic* hints) as they are; the write disposition
dict becomes the shorthand plus ``x-`` hints and ``columns`` a dict of column schemas. When the
extractor sees the first item of a table it resolves the callables (checking what they return)
and turns the hints into a table schema: keys become column hints and the incremental cursor
gets the ``incremental`` column hint."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Unpack

from quiver.errors import (
    InconsistentTableTemplate,
    InvalidHintValue,
    NotSupportedYet,
    ResourceTypeError,
    UnknownArgument,
)
from quiver.extract.state import current_resource_name
from quiver.schema.columns import C_DLT_ID, DEFAULT_VALIDITY_COLUMN_NAMES
from quiver.schema.hints import (
    TABLE_HINT_NAMES,
    TableHints,
    check_hint_values,
    check_write_disposition,
)
from quiver.schema.naming import NamingConvention

#: Table hints the write disposition dict expands to (removed when the disposition changes).
DISPOSITION_EXTRAS: Final = (
    "x-merge-strategy",
    "x-stage-data-deduplicated",
    "x-boundary-timestamp",
)
#: Keys of stored hints besides the table hints and ``x-`` table hints.
ADDITIONAL_TABLE_HINTS: Final = "additional_table_hints"

#: dlt arguments that quiver takes but does not act on yet: what they would do, what to do now.
_NOT_SUPPORTED: Final = {
    "references": (
        "record references between tables in the schema",
        "remove references=...; Delta and Iceberg tables do not use them.",
    ),
    "spec": (
        "read the arguments' configuration through that spec class",
        "remove spec=...; quiver injects the arguments whose default is quiver.config.value "
        "or quiver.secrets.value.",
    ),
    "incremental": (
        "change the resource's incremental from an item",
        "pass incremental= to @quiver.resource or to Resource.apply_hints instead.",
    ),
}


def reject_unknown(given: Iterable[str], allowed: Iterable[str], where: str) -> None:
    """Raise :class:`UnknownArgument` (with a "did you mean") for a name not in ``allowed``."""
    allowed = tuple(allowed)
    for name in given:
        if name not in allowed:
            raise UnknownArgument(where, name, allowed)


def reject_unsupported(where: str, **arguments: Any) -> None:
    """Raise :class:`NotSupportedYet` for a dlt argument that was given (not ``None``)."""
    for name, value in arguments.items():
        if value is not None:
            would, instead = _NOT_SUPPORTED[name]
            raise NotSupportedYet(f"{name}= ({where})", would, instead)


def normalize_columns_hint(
    columns: Any, where: str = "columns"
) -> dict[str, dict[str, Any]] | None:
    """``columns=`` as a dict name → column schema (accepts a dict, a list, or a pydantic model).

    Args:
        columns: a dict of column schemas (``{"id": {"data_type": "bigint"}}``), a list of
            column schemas with ``name``, or a pydantic model class.
        where: names the function and resource in errors.

    Returns:
        Column schemas by name, or ``None`` when ``columns`` is ``None``.

    Raises:
        ResourceTypeError: for anything else (also a ``TypeError``).
    """
    if columns is None:
        return None
    if isinstance(columns, Mapping):
        return {name: {"name": name, **dict(col)} for name, col in columns.items()}
    if isinstance(columns, Sequence) and not isinstance(columns, str):
        return {col["name"]: dict(col) for col in columns}
    fields = getattr(columns, "model_fields", None)
    if fields is not None:
        from quiver.extract.pydantic_columns import pydantic_to_columns

        return pydantic_to_columns(columns)
    raise ResourceTypeError(
        f"{where}: columns must be a dict, a list of column schemas or a pydantic model, got "
        f"{type(columns).__name__}. Hint: e.g. columns={{'id': {{'data_type': 'bigint'}}}}."
    )


def write_disposition_hints(
    write_disposition: Any, where: str = "write_disposition"
) -> dict[str, Any]:
    """The dict form ``{"disposition": "merge", "strategy": ...}`` → shorthand + table hints.

    scd2 adds the validity columns and the row version column as dlt does.

    Raises:
        InvalidHintValue: for an unknown disposition, strategy or key of the dict form.
    """
    if write_disposition is None or callable(write_disposition) or write_disposition == "":
        return {"write_disposition": write_disposition}
    check_write_disposition(write_disposition, where)
    if isinstance(write_disposition, str):
        return {"write_disposition": write_disposition}
    disposition = write_disposition["disposition"]
    hints: dict[str, Any] = {"write_disposition": disposition}
    if disposition != "merge":
        return hints
    strategy = write_disposition.get("strategy")
    if strategy is not None:
        hints["x-merge-strategy"] = strategy
    if write_disposition.get("deduplicated"):
        hints["x-stage-data-deduplicated"] = True
    if strategy == "scd2":
        if "boundary_timestamp" in write_disposition:
            hints["x-boundary-timestamp"] = write_disposition["boundary_timestamp"]
        valid_from, valid_to = (
            write_disposition.get("validity_column_names") or DEFAULT_VALIDITY_COLUMN_NAMES
        )
        row_version = write_disposition.get("row_version_column_name", C_DLT_ID)
        hints["columns"] = {
            valid_from: {
                "name": valid_from,
                "data_type": "timestamp",
                "nullable": True,
                "x-valid-from": True,
            },
            valid_to: {
                "name": valid_to,
                "data_type": "timestamp",
                "nullable": True,
                "x-valid-to": True,
                "x-active-record-timestamp": write_disposition.get("active_record_timestamp"),
            },
            row_version: {
                "name": row_version,
                "nullable": False,
                "x-row-version": True,
                "unique": False,
                "row_key": False,
            },
        }
    return hints


def merge_columns(
    existing: dict[str, dict[str, Any]] | None, new: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Column schemas of ``new`` merged over ``existing`` property by property."""
    merged = {name: dict(column) for name, column in (existing or {}).items()}
    for name, column in new.items():
        merged[name] = {**merged.get(name, {}), **column}
    return merged


def build_hints(given: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """Table hints as a resource stores them, checked where they are given.

    Only given hints are kept (``None`` means "not given"; an empty value, which removes a hint
    in ``apply_hints``, is kept). Callables stay callables (resolved per item later); everything
    else is checked and normalized now: the write disposition dict becomes the shorthand plus
    ``x-`` hints, ``columns`` a dict of column schemas.

    Args:
        given: table hints by name (the keys of :class:`~quiver.schema.hints.TableHints`).
        where: names the function and resource in errors, e.g. ``"resource 'users'"``.

    Raises:
        InvalidHintValue: for a value outside the vocabulary.
        InvalidSchemaContract: for an unknown contract mode or entity.
    """
    check_hint_values(given, where)
    hints = {
        name: value
        for name, value in given.items()
        if value is not None and name not in ("write_disposition", "columns")
    }
    disposition = write_disposition_hints(given.get("write_disposition"), where)
    scd2_columns = disposition.pop("columns", None)
    hints.update((k, v) for k, v in disposition.items() if v is not None)
    columns = given.get("columns")
    if _is_item_callable(columns):
        hints["columns"] = columns
    else:
        normalized = normalize_columns_hint(columns, where)
        if scd2_columns:
            normalized = merge_columns(scd2_columns, normalized or {})
        if normalized is not None:
            hints["columns"] = normalized
    return hints


def make_hints(
    *,
    additional_table_hints: Mapping[str, Any] | None = None,
    references: None = None,
    nested_hints: Mapping[str | tuple[str, ...], Mapping[str, Any]] | None = None,
    incremental: None = None,
    **hints: Unpack[TableHints],
) -> dict[str, Any]:
    """Table hints for ``quiver.mark.with_hints`` (dlt's ``make_hints``), checked now.

    Takes the hint keywords of ``@quiver.resource``; a hint may be a callable of the item.
    The result is in the form a resource stores its hints (see :func:`build_hints`), so
    ``with_hints`` applies it exactly as ``Resource.apply_hints`` would the same keywords.

    Args:
        additional_table_hints: table hints written to the schema as they are (``x-...``).
        references: not supported yet (raises).
        nested_hints: hints of nested tables by field path (see ``make_nested_hints``).
        incremental: not supported yet here (raises); give it to the resource.
        **hints: the table hints (``table_name``, ``write_disposition``, ``primary_key``...).

    Returns:
        The given hints, normalized; hints not given are absent.

    Raises:
        UnknownArgument: for a keyword that is not a hint (with the closest hint).
        InvalidHintValue: for an unknown write disposition, merge strategy or table format.
        NotSupportedYet: for ``references``, ``incremental`` or an unsupported nested hint.

    Examples:
        >>> make_hints(write_disposition={"disposition": "merge", "strategy": "upsert"})
        {'write_disposition': 'merge', 'x-merge-strategy': 'upsert'}
    """
    resource_name = current_resource_name()
    where = "quiver.mark.make_hints()" + (
        f" in resource {resource_name!r}" if resource_name else ""
    )
    reject_unknown(hints, MAKE_HINTS_ARGUMENTS, where)
    reject_unsupported(where, references=references, incremental=incremental)
    from quiver.extract.nested_hints import with_nested_hints  # it imports this module

    made = with_nested_hints(build_hints(hints, where=where), nested_hints, where)
    if additional_table_hints:
        made[ADDITIONAL_TABLE_HINTS] = dict(additional_table_hints)
    return made


#: The keywords :func:`make_hints` takes.
MAKE_HINTS_ARGUMENTS: Final = (
    *TABLE_HINT_NAMES,
    ADDITIONAL_TABLE_HINTS,
    "references",
    "nested_hints",
    "incremental",
)


def check_stored_names(hints: Mapping[str, Any], where: str) -> None:
    """Raise for a key that is neither a table hint nor an ``x-`` table hint."""
    allowed = (*TABLE_HINT_NAMES, ADDITIONAL_TABLE_HINTS, "nested_hints")
    for name in hints:
        if name not in allowed and not str(name).startswith("x-"):
            raise InvalidHintValue.not_one_of(where, "a hint name", name, allowed)


def validate_dynamic_hints(hints: Mapping[str, Any]) -> None:
    """If any hint is a callable of the item, ``table_name`` must be one too (dlt's rule)."""
    table_name = hints.get("table_name")
    dynamic = [
        name
        for name, value in hints.items()
        if name not in ("table_name", "incremental") and _is_item_callable(value)
    ]
    if dynamic and not callable(table_name):
        raise InconsistentTableTemplate(
            f"Hints {dynamic} are functions of the item but table_name {table_name!r} is not. "
            "Hint: make table_name a function of the item too (e.g. lambda item: item['type'])."
        )


def _is_item_callable(value: Any) -> bool:
    return callable(value) and not isinstance(value, type)


def is_dynamic(hints: Mapping[str, Any]) -> bool:
    return _is_item_callable(hints.get("table_name"))


def resolve_hints(
    hints: Mapping[str, Any], item: Any, where: str = "a dynamic hint"
) -> dict[str, Any]:
    """Hints with every callable applied to ``item`` (the item as the resource yielded it).

    The values the callables return are checked as given values are (``where`` names the
    resource in errors).
    """
    resolved: dict[str, Any] = {}
    for name, value in hints.items():
        if _is_item_callable(value):
            value = value(item)
            check_hint_values({name: value}, where)
            if name == "columns":
                value = normalize_columns_hint(value, where)
            elif name == "write_disposition":
                expanded = write_disposition_hints(value, where)
                columns = expanded.pop("columns", None)
                resolved.update(expanded)
                if columns:
                    resolved["columns"] = merge_columns(columns, resolved.get("columns") or {})
                continue
        if name == "columns" and resolved.get("columns"):
            value = merge_columns(resolved["columns"], value or {})
        resolved[name] = value
    return resolved


def table_schema_hints(
    hints: Mapping[str, Any],
    naming: NamingConvention,
    *,
    cursor_column: str | None = None,
    existing_columns: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Resolved resource hints → schema table hints with normalized column names.

    ``primary_key``/``merge_key`` become column hints, ``additional_table_hints`` are merged
    in as they are, and ``cursor_column`` (the incremental cursor) gets ``incremental: true``.

    A key given on the resource replaces the key (dlt's compound hints): the flag is set on
    its columns and cleared (``False``) on every other column of ``columns=`` and of
    ``existing_columns`` (the table in the schema); an empty key clears it everywhere.
    """
    skipped = (
        "table_name",
        "primary_key",
        "merge_key",
        "columns",
        "additional_table_hints",
        "parent_table_name",
        "nested_hints",  # hints of other tables (extract/nested_hints.py)
    )
    result = {k: v for k, v in hints.items() if k not in skipped and v is not None}
    if hints.get("parent_table_name"):
        result["parent"] = naming.normalize_table_identifier(str(hints["parent_table_name"]))
    columns: dict[str, dict[str, Any]] = {}
    for raw_name, column in (hints.get("columns") or {}).items():
        name = naming.normalize_path(raw_name)
        columns[name] = {**column, "name": name}
    for key_hint in ("primary_key", "merge_key"):
        if key_hint not in hints:
            continue
        value = hints[key_hint]
        keys = [naming.normalize_path(raw) for raw in key_columns(value)]
        for name, column in columns.items():
            if column.get(key_hint) and name not in keys:
                column[key_hint] = False
        for name, column in (existing_columns or {}).items():
            if column.get(key_hint) and name not in keys:
                columns.setdefault(name, {"name": name})[key_hint] = False
        for name in keys:
            columns.setdefault(name, {"name": name})[key_hint] = True
    if cursor_column is not None:
        name = naming.normalize_path(cursor_column)
        columns.setdefault(name, {"name": name})["incremental"] = True
    if columns:
        result["columns"] = columns
    result.update(hints.get("additional_table_hints") or {})
    return result


def key_columns(value: Any) -> list[str]:
    """A ``primary_key``/``merge_key`` hint as a list of column names."""
    if not value or callable(value):
        return []
    return [value] if isinstance(value, str) else list(value)
