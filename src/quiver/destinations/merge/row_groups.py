"""Which row groups of a target file a copy-on-write merge reads again.

A merge that deletes rows rewrites each file holding one of them without it. The rows of the
file were matched on its key columns; a row group whose rows all go need not be read (decoded)
again: an upsert that replaces most of a file decodes only what it keeps. Used by the Delta and
Iceberg merges.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = ["kept_row_groups"]


def kept_row_groups(metadata: pq.FileMetaData, keep: pa.Array) -> list[tuple[int, pa.Array]]:
    """``(row group, its slice of keep)`` for the row groups that keep at least one row.

    Args:
        metadata: The file's footer.
        keep: One flag per row of the file, in file order: whether the row stays.
    """
    kept = []
    offset = 0
    for group in range(metadata.num_row_groups):
        rows = metadata.row_group(group).num_rows
        group_keep = keep.slice(offset, rows)
        if pc.any(group_keep).as_py():
            kept.append((group, group_keep))
        offset += rows
    return kept
