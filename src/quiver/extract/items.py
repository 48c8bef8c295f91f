"""What a resource may yield, and how each form reaches the extractor.

Rows (dicts, dataclasses, pydantic models, scalars) are buffered per table; Arrow-like items
(tables, batches, readers, anything with ``__arrow_c_stream__``, polars and pandas frames) pass
through as record batches without a round trip through Python objects. Items wrapped by
``quiver.mark`` carry a table name or hints with them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

#: Rows of a materialized list handed to the extractor at once (see ``docs/extract.md``).
LIST_PAGE_SIZE = 10_000


@dataclass(frozen=True)
class TableNameMeta:
    """Send the item to this table (``quiver.mark.with_table_name``)."""

    table_name: str


@dataclass(frozen=True)
class HintsMeta:
    """Apply these hints before the item is written (``quiver.mark.with_hints``)."""

    hints: dict[str, Any] = field(default_factory=dict)
    create_table_variant: bool = False


@dataclass(frozen=True)
class DataItemWithMeta:
    """An item (row, page or Arrow object) with a meta object attached."""

    meta: Any
    data: Any


def is_arrow_like(item: Any) -> bool:
    """True for items that are (or stream) Arrow data rather than Python rows."""
    if isinstance(item, pa.Table | pa.RecordBatch | pa.RecordBatchReader):
        return True
    if hasattr(item, "__arrow_c_stream__") or hasattr(item, "__arrow_c_array__"):
        return True
    return _is_pandas_frame(item)


def _is_pandas_frame(item: Any) -> bool:
    # Checked by name so that pandas is never imported by quiver itself.
    cls = type(item)
    return cls.__name__ == "DataFrame" and cls.__module__.startswith("pandas")


def arrow_batches(item: Any) -> Iterator[pa.RecordBatch]:
    """Stream record batches out of an Arrow-like item."""
    if isinstance(item, pa.RecordBatch):
        yield item
    elif isinstance(item, pa.Table):
        yield from item.to_batches()
    elif isinstance(item, pa.RecordBatchReader):
        yield from item
    elif _is_pandas_frame(item):
        # pandas' index is not data (dlt drops it too).
        yield from pa.Table.from_pandas(item, preserve_index=False).to_batches()
    elif hasattr(item, "__arrow_c_stream__"):
        yield from pa.RecordBatchReader.from_stream(item)
    else:
        array = pa.array(item)
        yield pa.RecordBatch.from_struct_array(array)


def to_arrow_table(item: Any) -> pa.Table | pa.RecordBatch:
    """An Arrow-like item as a table (a record batch stays a record batch)."""
    if isinstance(item, pa.Table | pa.RecordBatch):
        return item
    if isinstance(item, pa.RecordBatchReader):
        return item.read_all()
    if _is_pandas_frame(item):
        return pa.Table.from_pandas(item, preserve_index=False)
    if hasattr(item, "__arrow_c_stream__"):
        return pa.RecordBatchReader.from_stream(item).read_all()
    return pa.Table.from_batches(list(arrow_batches(item)))


def as_item_iterator(data: Any, *, as_pages: bool = False) -> Iterator[Any]:
    """What a resource's data yields, item by item.

    A dict, an Arrow object or a string is one item; other iterables yield their elements.
    With ``as_pages``, a materialized list of rows is handed over in pages of
    :data:`LIST_PAGE_SIZE` rows (the same rows, fewer hand-offs).
    """
    if data is None:
        return iter(())
    if (
        isinstance(data, dict | str | bytes)
        or is_arrow_like(data)
        or type(data) is DataItemWithMeta
    ):
        return iter((data,))
    if as_pages and isinstance(data, list | tuple) and len(data) > 1 and _is_row(data[0]):
        size = LIST_PAGE_SIZE
        return (list(data[i : i + size]) for i in range(0, len(data), size))
    if isinstance(data, Iterable):
        return iter(data)
    return iter((data,))


def _is_row(value: Any) -> bool:
    """A plain row (not a page, not an Arrow object, not a marked item)."""
    return not (
        isinstance(value, list | tuple) or type(value) is DataItemWithMeta or is_arrow_like(value)
    )


class MaterializedEmptyList(list[Any]):
    """``quiver.mark.materialize_table_schema()``: no rows, but the table is created with the
    columns its hints declare (the loader commits it empty if it does not exist)."""
