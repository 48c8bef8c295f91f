"""``quiver.mark``: attach a table name or hints to an item a resource yields.

Examples:
    >>> import quiver
    >>> @quiver.resource
    ... def events():
    ...     yield quiver.mark.with_table_name({"id": 1}, "clicks")
    ...     yield quiver.mark.with_table_name({"id": 2}, "views")
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quiver.errors import NotSupportedYet
from quiver.extract.hints import make_hints
from quiver.extract.items import DataItemWithMeta, HintsMeta, MaterializedEmptyList, TableNameMeta

__all__ = [
    "make_hints",
    "make_nested_hints",
    "materialize_table_schema",
    "with_hints",
    "with_table_name",
]


def with_table_name(item: Any, table_name: str) -> DataItemWithMeta:
    """Send ``item`` (a row, a page or an Arrow object) to ``table_name``.

    Args:
        item: what the resource yields.
        table_name: the table to load it into (the resource's other hints apply).

    Returns:
        The item with its meta; yield it from the resource.
    """
    return DataItemWithMeta(TableNameMeta(table_name), item)


def with_hints(
    item: Any, hints: Mapping[str, Any], create_table_variant: bool = False
) -> DataItemWithMeta:
    """Apply ``hints`` to the resource when ``item`` reaches the extractor, then load ``item``.

    The hints are merged as ``Resource.merge_hints`` does (dlt's behaviour): they change the
    resource for the items that follow, unless ``create_table_variant`` is set.

    Args:
        item: what the resource yields.
        hints: from :func:`make_hints` (checked there, naming the resource).
        create_table_variant: apply the hints only to the table ``hints["table_name"]``
            (a variant of the resource's table) instead of to the resource.

    Returns:
        The item with its meta; yield it from the resource.

    Examples:
        >>> import quiver
        >>> @quiver.resource
        ... def events():
        ...     yield quiver.mark.with_hints(
        ...         {"id": 1}, quiver.mark.make_hints(write_disposition="replace")
        ...     )
    """
    return DataItemWithMeta(HintsMeta(dict(hints), create_table_variant), item)


def materialize_table_schema() -> MaterializedEmptyList:
    """An item with no rows that still creates its table, with the columns the hints declare.

    Yield it (usually inside :func:`with_hints` with the columns) to create an empty table:
    non-nullable columns are fine, since no row is written. A table that exists already is
    left as it is.

    Returns:
        An empty list the extractor recognizes.

    Examples:
        >>> import quiver
        >>> @quiver.resource(table_name="raw_events")
        ... def raw_events():
        ...     yield quiver.mark.with_hints(
        ...         quiver.mark.materialize_table_schema(),
        ...         quiver.mark.make_hints(
        ...             columns=[{"name": "id", "data_type": "bigint", "nullable": False}]
        ...         ),
        ...     )
    """
    return MaterializedEmptyList()


def make_nested_hints(**hints: Any) -> dict[str, Any]:
    """dlt's hints for a nested table (``nested_hints={"path": make_nested_hints(...)}``).

    Raises:
        NotSupportedYet: always; quiver does not apply hints to nested tables yet, and an
            argument it would ignore is refused instead.
    """
    raise NotSupportedYet(
        "quiver.mark.make_nested_hints()",
        f"apply {', '.join(sorted(hints)) or 'hints'} to a nested table",
        "leave the nested table to the data (its columns and types are inferred; "
        "max_table_nesting limits how deep), or yield the nested rows from a resource of their "
        "own with the hints you need.",
    )
