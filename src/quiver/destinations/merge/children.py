"""Child tables of upsert, insert-only and delete-insert merges: which rows go, which come.

Semantics are described in :mod:`quiver.destinations.merge.plan`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from quiver.destinations.merge.plan import (
    C_DLT_ID,
    C_DLT_ROOT_ID,
    MergeSpec,
    combine,
    dedup_indices,
    distinct_keys,
    matching_mask,
    select_rows,
    source_dataset,
)

__all__ = ["ChildPlan", "ParentRows", "RootBefore", "child_rows", "parent_rows", "plan_children"]


@dataclass(frozen=True)
class ParentRows:
    """The root rows of a load, as the merge of a child table needs them.

    Attributes:
        ids: ``_dlt_id`` of every root row of the load.
        written_ids: ``_dlt_id`` of the root rows the merge writes.
        deleted_ids: ``_dlt_id`` of the root rows that are hard deletes.
        keys: The load's distinct values of each group of :attr:`MergeSpec.delete_keys`
            (delete-insert only; empty for the other strategies).
    """

    ids: pa.Array
    written_ids: pa.Array
    deleted_ids: pa.Array
    keys: tuple[pa.Table, ...]


def parent_rows(files: Sequence[Path], schema: pa.Schema, spec: MergeSpec) -> ParentRows:
    """Read the root's rows of this load (only the id, key and hint columns)."""
    if not files or C_DLT_ID not in schema.names:
        empty = pa.array([], pa.string())
        return ParentRows(empty, empty, empty, ())
    columns = list(dict.fromkeys([C_DLT_ID, *spec.selection_columns(schema.names)]))
    rows = source_dataset(files, schema).to_table(columns=columns)
    selection = select_rows(rows, spec)
    kept = selection.apply(rows, drop_deleted=False)
    ids = combine(kept[C_DLT_ID])
    return ParentRows(
        ids=combine(rows[C_DLT_ID]),
        written_ids=ids.filter(pc.invert(selection.deleted)),
        deleted_ids=ids.filter(selection.deleted),
        # Only delete-insert reads the root table by key (its root ids are random).
        keys=tuple(distinct_keys(rows, group) for group in spec.delete_keys)
        if spec.strategy == "delete-insert"
        else (),
    )


@dataclass(frozen=True)
class ChildPlan:
    """What a merge does to a child table (upsert, insert-only, delete-insert).

    Attributes:
        delete_root_ids: Target child rows whose ``_dlt_root_id`` is one of these are deleted.
        insert_root_ids: The load's child rows whose ``_dlt_root_id`` is one of these are written.
    """

    delete_root_ids: pa.Array
    insert_root_ids: pa.Array


#: Reads the root table as it was before this load: ``(key columns, key values)`` → the rows
#: (``_dlt_id`` and the key columns) whose key is among the values.
RootBefore = Callable[[Sequence[str], pa.Table], pa.Table]


def plan_children(spec: MergeSpec, parent: ParentRows, root_before: RootBefore) -> ChildPlan:
    """Which child rows to delete and which to write, from the root rows of the load.

    Root ids of upsert and insert-only tables are hashes of the primary key, so a load's root
    ids are the target's ids for the same keys; delete-insert root ids are random, so the ids of
    replaced root rows are read from the root table as it was before this load.
    """
    empty = pa.array([], pa.string())
    if spec.strategy == "upsert":
        return ChildPlan(parent.ids, parent.written_ids)
    if spec.appends:
        return ChildPlan(empty, parent.written_ids)
    if spec.strategy == "insert-only":
        ids = pa.table({C_DLT_ID: parent.written_ids})
        existed = root_before([C_DLT_ID], ids)
        new = parent.written_ids.filter(pc.invert(matching_mask(ids, existed, [C_DLT_ID])))
        return ChildPlan(parent.deleted_ids, new)
    replaced = [
        combine(root_before(group, keys)[C_DLT_ID])
        for group, keys in zip(spec.delete_keys, parent.keys, strict=True)
        if keys.num_rows
    ]
    deleted = pa.concat_arrays([a.cast(pa.string()) for a in replaced]) if replaced else empty
    return ChildPlan(deleted, parent.written_ids)


def child_rows(rows: pa.Table, root_ids: pa.Array) -> pa.Table:
    """The child rows of the given roots, one per ``_dlt_id`` (the last one)."""
    written = rows.filter(matching_mask(rows, pa.table({C_DLT_ROOT_ID: root_ids}), [C_DLT_ROOT_ID]))
    if C_DLT_ID in written.column_names:
        # Duplicate root keys in one load give their child rows the same ids.
        keep = dedup_indices(written, [C_DLT_ID])
        if keep is not None:
            written = written.take(keep)
    return written
