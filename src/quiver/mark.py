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

from quiver.extract.hints import make_hints
from quiver.extract.items import DataItemWithMeta, HintsMeta, MaterializedEmptyList, TableNameMeta
from quiver.extract.nested_hints import check_nested_table_hints

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
    """Hints for a nested table, for ``nested_hints={"purchases": make_nested_hints(...)}``.

    Nested tables take ``columns`` (data types and other column hints of the nested rows).
    The other hints raise :class:`~quiver.errors.NotSupportedYet`: ``schema_contract`` (the
    resource's contract applies to its nested tables), ``primary_key``, ``merge_key``,
    ``write_disposition``, ``references`` (they would make the nested table a table of its own).

    Args:
        **hints: ``columns`` (a dict, a list of column schemas or a pydantic model).

    Returns:
        The hints, checked; pass them in ``nested_hints=`` of ``@quiver.resource``,
        ``apply_hints`` or ``make_hints``.

    Raises:
        NotSupportedYet: for a hint other than ``columns``.

    Examples:
        >>> import quiver
        >>> @quiver.resource(
        ...     nested_hints={
        ...         "purchases": quiver.mark.make_nested_hints(
        ...             columns=[{"name": "price", "data_type": "decimal"}]
        ...         )
        ...     }
        ... )
        ... def customers():
        ...     yield {"id": 1, "purchases": [{"id": 1, "price": "1.50"}]}
    """
    return check_nested_table_hints(hints, "quiver.mark.make_nested_hints()")
