"""``quiver.sources.helpers.transform``: dlt's item transforms for ``add_map``.

Examples:
    >>> import pyarrow as pa
    >>> from quiver.sources.helpers.transform import add_row_hash_to_table
    >>> table = add_row_hash_to_table("row_hash")(pa.table({"id": [1, 2]}))
    >>> table.column_names, table.schema.field("row_hash").type
    (['id', 'row_hash'], DataType(int64))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from quiver.errors import ResourceTypeError
from quiver.schema.row_ids import hash_row_ids

__all__ = ["add_row_hash_to_table"]


def add_row_hash_to_table(row_hash_column_name: str) -> Callable[[Any], Any]:
    """A map that adds a content hash of each row as an int64 column (for scd2's row version).

    Use it on resources that yield Arrow tables or record batches (pandas data frames are
    converted to Arrow tables first), e.g.
    ``resource.add_map(add_row_hash_to_table("row_hash"))`` with
    ``write_disposition={"disposition": "merge", "strategy": "scd2",
    "row_version_column_name": "row_hash"}``.

    Equal rows get equal hashes in every run; the hash is computed vectorized over the Arrow
    columns (dlt hashes a pandas frame with ``hash_pandas_object``, so the numbers differ from
    dlt's; only equality matters for a row version).

    Args:
        row_hash_column_name: the column to add (replaced if present).

    Returns:
        A function of one item (table, batch or data frame) returning the item with the column.
    """

    def add_hash(item: Any) -> Any:
        table = _as_arrow(item)
        columns = [
            table.column(name) for name in table.column_names if name != row_hash_column_name
        ]
        hashes = _row_hashes(columns, table.num_rows)
        if row_hash_column_name in table.column_names:
            table = table.drop_columns([row_hash_column_name])
        return table.append_column(row_hash_column_name, hashes)

    return add_hash


def _as_arrow(item: Any) -> pa.Table | pa.RecordBatch:
    if isinstance(item, pa.Table | pa.RecordBatch):
        return item
    if hasattr(item, "__arrow_c_stream__") or type(item).__name__ == "DataFrame":
        return pa.table(item)
    raise ResourceTypeError(
        f"add_row_hash_to_table() takes Arrow tables, record batches or data frames, got "
        f"{type(item).__name__}. Hint: yield Arrow data from the resource, or compute the hash "
        "in the resource for Python rows."
    )


def _row_hashes(columns: list[Any], num_rows: int) -> pa.Array:
    """int64 hashes: the first 8 characters of quiver's 14-character row hash (48 bits)."""
    if num_rows == 0 or not columns:
        return pa.array(np.zeros(num_rows, dtype=np.int64))
    ids = hash_row_ids(columns, "row_hash")
    width = len(ids[0].as_py())
    offsets = np.frombuffer(ids.buffers()[1], dtype=np.int32)[ids.offset : ids.offset + 1]
    data = np.frombuffer(ids.buffers()[2], dtype=np.uint8)
    start = int(offsets[0])
    chars = data[start : start + num_rows * width].reshape(num_rows, width)[:, :8]
    return pa.array(np.ascontiguousarray(chars).view("<i8").reshape(-1))
