"""``quiver.mark``: attach a table name or hints to an item a resource yields.

Examples:
    >>> import quiver
    >>> @quiver.resource
    ... def events():
    ...     yield quiver.mark.with_table_name({"id": 1}, "clicks")
    ...     yield quiver.mark.with_table_name({"id": 2}, "views")
"""

from __future__ import annotations

from typing import Any

from quiver.extract.items import DataItemWithMeta, HintsMeta, TableNameMeta

__all__ = ["make_hints", "with_hints", "with_table_name"]


def with_table_name(item: Any, table_name: str) -> DataItemWithMeta:
    """Send ``item`` (a row, a page or an Arrow object) to ``table_name``.

    Args:
        item: what the resource yields.
        table_name: the table to load it into (the resource's other hints apply).

    Returns:
        The item with its meta; yield it from the resource.
    """
    return DataItemWithMeta(TableNameMeta(table_name), item)


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
    """Hints for :func:`with_hints` (or ``Resource.apply_hints(**hints)``); ``None`` = not given."""
    given = {
        "table_name": table_name,
        "parent_table_name": parent_table_name,
        "primary_key": primary_key,
        "merge_key": merge_key,
        "columns": columns,
        "schema_contract": schema_contract,
        "table_format": table_format,
        "file_format": file_format,
        "write_disposition": write_disposition,
        "max_table_nesting": max_table_nesting,
        "additional_table_hints": additional_table_hints,
    }
    return {k: v for k, v in given.items() if v is not None}


def with_hints(
    item: Any, hints: dict[str, Any], create_table_variant: bool = False
) -> DataItemWithMeta:
    """Apply ``hints`` to the resource when ``item`` reaches the extractor, then load ``item``.

    Args:
        item: what the resource yields.
        hints: from :func:`make_hints`.
        create_table_variant: apply the hints only to the table ``hints["table_name"]``
            (a variant of the resource's table) instead of to the resource.

    Returns:
        The item with its meta; yield it from the resource.
    """
    return DataItemWithMeta(HintsMeta(dict(hints), create_table_variant), item)
