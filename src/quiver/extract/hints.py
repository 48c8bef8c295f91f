"""Table hints of resources: how the decorator arguments become schema table hints.

A resource keeps its hints as given (``table_name``, ``write_disposition``, ``columns``,
``primary_key``...), where any of them may be a callable of the item (a *dynamic* hint). When the
extractor sees the first item of a table it resolves the callables and turns the hints into a
table schema: the write disposition dict becomes the shorthand plus ``x-`` hints, ``columns``
becomes a dict of column schemas, keys become column hints and the incremental cursor gets the
``incremental`` column hint.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from quiver.schema.columns import C_DLT_ID, DEFAULT_VALIDITY_COLUMN_NAMES
from quiver.schema.hints import MERGE_STRATEGIES, WRITE_DISPOSITIONS
from quiver.schema.naming import SnakeCaseNaming

#: Hints that ``@resource``, ``apply_hints`` and ``make_hints`` accept.
HINT_NAMES = (
    "table_name",
    "parent_table_name",
    "write_disposition",
    "columns",
    "primary_key",
    "merge_key",
    "schema_contract",
    "table_format",
    "file_format",
    "max_table_nesting",
)


class InconsistentTableTemplate(ValueError):
    """A hint is a callable of the item but ``table_name`` is not."""


def normalize_columns_hint(columns: Any) -> dict[str, dict[str, Any]] | None:
    """``columns=`` as a dict name → column schema (accepts a dict, a list, or a pydantic model).

    Args:
        columns: a dict of column schemas (``{"id": {"data_type": "bigint"}}``), a list of
            column schemas with ``name``, or a pydantic model class.

    Returns:
        Column schemas by name, or ``None`` when ``columns`` is ``None``.

    Raises:
        TypeError: for anything else.
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
    raise TypeError(
        f"columns must be a dict, a list of column schemas or a pydantic model, got {columns!r}"
    )


def write_disposition_hints(write_disposition: Any) -> dict[str, Any]:
    """The dict form ``{"disposition": "merge", "strategy": ...}`` → shorthand + table hints.

    scd2 adds the validity columns and the row version column as dlt does.
    """
    if (
        write_disposition is None
        or isinstance(write_disposition, str)
        or callable(write_disposition)
    ):
        if isinstance(write_disposition, str) and write_disposition not in WRITE_DISPOSITIONS:
            raise ValueError(
                f"write_disposition {write_disposition!r} is not one of {WRITE_DISPOSITIONS}"
            )
        return {"write_disposition": write_disposition}
    disposition = write_disposition["disposition"]
    if disposition not in WRITE_DISPOSITIONS:
        raise ValueError(f"write_disposition {disposition!r} is not one of {WRITE_DISPOSITIONS}")
    hints: dict[str, Any] = {"write_disposition": disposition}
    if disposition != "merge":
        return hints
    strategy = write_disposition.get("strategy")
    if strategy is not None:
        if strategy not in MERGE_STRATEGIES:
            raise ValueError(f"merge strategy {strategy!r} is not one of {MERGE_STRATEGIES}")
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


def make_hints(
    table_name: Any = None,
    parent_table_name: Any = None,
    primary_key: Any = None,
    merge_key: Any = None,
    columns: Any = None,
    schema_contract: Any = None,
    table_format: Any = None,
    file_format: Any = None,
    write_disposition: Any = None,
    max_table_nesting: int | None = None,
    additional_table_hints: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Hints in the form ``apply_hints`` stores them: ``None`` means "not given".

    Callables stay callables (resolved per item later); everything else is normalized now.
    """
    hints: dict[str, Any] = {
        "table_name": table_name,
        "parent_table_name": parent_table_name,
        "primary_key": primary_key,
        "merge_key": merge_key,
        "schema_contract": schema_contract,
        "table_format": table_format,
        "file_format": file_format,
        "max_table_nesting": max_table_nesting,
    }
    disposition = write_disposition_hints(write_disposition)
    scd2_columns = disposition.pop("columns", None)
    hints.update(disposition)
    if callable(columns) and not isinstance(columns, type):
        hints["columns"] = columns
    else:
        normalized = normalize_columns_hint(columns)
        if scd2_columns:
            normalized = merge_columns(scd2_columns, normalized or {})
        hints["columns"] = normalized
    if additional_table_hints:
        hints["additional_table_hints"] = dict(additional_table_hints)
    return hints


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


def resolve_hints(hints: Mapping[str, Any], item: Any) -> dict[str, Any]:
    """Hints with every callable applied to ``item`` (the item as the resource yielded it)."""
    resolved: dict[str, Any] = {}
    for name, value in hints.items():
        if _is_item_callable(value):
            value = value(item)
            if name == "columns":
                value = normalize_columns_hint(value)
            elif name == "write_disposition":
                expanded = write_disposition_hints(value)
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
    naming: SnakeCaseNaming,
    *,
    cursor_column: str | None = None,
) -> dict[str, Any]:
    """Resolved resource hints → schema table hints with normalized column names.

    ``primary_key``/``merge_key`` become column hints, ``additional_table_hints`` are merged
    in as they are, and ``cursor_column`` (the incremental cursor) gets ``incremental: true``.
    """
    skipped = (
        "table_name",
        "primary_key",
        "merge_key",
        "columns",
        "additional_table_hints",
        "parent_table_name",
    )
    result = {k: v for k, v in hints.items() if k not in skipped and v is not None}
    if hints.get("parent_table_name"):
        result["parent"] = naming.normalize_table_identifier(str(hints["parent_table_name"]))
    columns: dict[str, dict[str, Any]] = {}
    for raw_name, column in (hints.get("columns") or {}).items():
        name = naming.normalize_path(raw_name)
        columns[name] = {**column, "name": name}
    for key_hint in ("primary_key", "merge_key"):
        value = hints.get(key_hint)
        if not value:
            continue
        for raw_name in [value] if isinstance(value, str) else list(value):
            name = naming.normalize_path(raw_name)
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


HintFunction = Callable[[Any], Any]
