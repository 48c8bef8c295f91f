"""Unnest record batches into a root table and child tables, vectorized with Arrow compute.

Struct fields become ``parent__child`` columns; list columns become child tables
``<table>__<field>`` linked by ``_dlt_parent_id`` (the parent's ``_dlt_id``) and ordered by
``_dlt_list_idx``. Lists of scalars give a ``value`` column; lists of lists give an intermediate
table whose ``value`` list nests further (dlt's shape). ``max_nesting`` bounds how deep structs
and lists are unnested; deeper values stay as one nested column.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quiver.normalize.naming import SnakeCaseNaming
from quiver.normalize.row_ids import child_row_ids, hash_row_ids, random_row_ids

C_DLT_ID = "_dlt_id"
C_DLT_LOAD_ID = "_dlt_load_id"
C_DLT_PARENT_ID = "_dlt_parent_id"
C_DLT_LIST_IDX = "_dlt_list_idx"
C_DLT_ROOT_ID = "_dlt_root_id"
C_VALUE = "value"
DEFAULT_MAX_NESTING = 1000


@dataclass
class FlatTable:
    """One output table of a flattened batch."""

    name: str
    parent: str | None
    names: list[str] = field(default_factory=list)
    arrays: list[pa.Array] = field(default_factory=list)

    def add(self, name: str, array: pa.Array) -> None:
        self.names.append(name)
        self.arrays.append(array)

    def to_table(self) -> pa.Table:
        return pa.Table.from_arrays(self.arrays, names=self.names)


@dataclass(frozen=True)
class FlattenOptions:
    naming: SnakeCaseNaming
    load_id: str
    max_nesting: int = DEFAULT_MAX_NESTING
    add_dlt_load_id: bool = True
    add_dlt_id: bool = True
    root_key: bool = False
    #: Root ``_dlt_id`` from these columns' values (merge by primary key), not random.
    key_hash_columns: tuple[str, ...] = ()
    #: Root ``_dlt_id`` from all data columns' values (scd2 row versions), not random.
    row_hash: bool = False


def flatten_rows(
    batch: pa.RecordBatch, table_name: str, options: FlattenOptions
) -> list[FlatTable]:
    """Unnest a batch of rows (as the relational normalizer does for dicts)."""
    naming = options.naming
    root = FlatTable(table_name, None)
    lists: list[tuple[list[str], pa.Array, int]] = []
    _flatten_fields(
        [(name, _as_array(batch.column(i))) for i, name in enumerate(batch.schema.names)],
        [],
        root,
        lists,
        naming,
        options.max_nesting,
        0,
    )
    num_rows = batch.num_rows
    if options.add_dlt_load_id and C_DLT_LOAD_ID not in root.names:
        root.add(C_DLT_LOAD_ID, pa.repeat(pa.scalar(options.load_id, pa.string()), num_rows))
    if C_DLT_ID in root.names:
        row_ids = root.arrays[root.names.index(C_DLT_ID)]
    else:
        row_ids = _root_row_ids(root, table_name, options, num_rows)
        if options.add_dlt_id:
            root.add(C_DLT_ID, row_ids)
    tables = [root]
    root_ids = row_ids if options.root_key else None
    for path, list_array, depth in lists:
        _unnest_list(
            naming.make_path(table_name, *path),
            table_name,
            list_array,
            row_ids,
            root_ids,
            depth,
            options,
            tables,
        )
    return tables


def _root_row_ids(
    root: FlatTable, table_name: str, options: FlattenOptions, num_rows: int
) -> pa.Array:
    if options.row_hash:
        columns = [
            a for n, a in zip(root.names, root.arrays, strict=True) if not n.startswith("_dlt")
        ]
        return hash_row_ids(columns, table_name)
    if options.key_hash_columns:
        missing = [c for c in options.key_hash_columns if c not in root.names]
        if missing:
            raise ValueError(
                f"Table {table_name!r} merges on primary key {list(options.key_hash_columns)}, "
                f"but the data has no column {missing[0]!r}. Hint: check primary_key= or the "
                "column names after normalization (snake_case)."
            )
        return hash_row_ids(
            [root.arrays[root.names.index(c)] for c in options.key_hash_columns], table_name
        )
    return random_row_ids(num_rows)


def _flatten_fields(
    columns: list[tuple[str, pa.Array]],
    prefix: list[str],
    table: FlatTable,
    lists: list[tuple[list[str], pa.Array, int]],
    naming: SnakeCaseNaming,
    max_nesting: int,
    depth: int,
) -> None:
    for raw_name, array in columns:
        path = [*prefix, naming.normalize_identifier(raw_name)]
        kind = array.type
        if pa.types.is_struct(kind) and depth < max_nesting:
            children = array.flatten()  # parent nulls propagate into the children
            _flatten_fields(
                [(kind.field(i).name, child) for i, child in enumerate(children)],
                path,
                table,
                lists,
                naming,
                max_nesting,
                depth + 1,
            )
        elif _is_list(kind) and depth < max_nesting:
            lists.append((path, array, depth + 1))
        else:
            table.add(naming.make_path(*path), array)


def _unnest_list(
    child_name: str,
    parent_name: str,
    list_array: pa.Array,
    parent_ids: pa.Array,
    root_ids: pa.Array | None,
    depth: int,
    options: FlattenOptions,
    tables: list[FlatTable],
) -> None:
    values = pc.list_flatten(list_array)
    if len(values) == 0:
        return
    parent_index = pc.list_parent_indices(list_array)
    lengths = pc.fill_null(pc.list_value_length(list_array), 0).to_numpy(zero_copy_only=False)
    starts = np.cumsum(lengths) - lengths
    list_idx = np.arange(len(values), dtype=np.int64) - np.repeat(starts, lengths)
    my_parent_ids = pc.take(parent_ids, parent_index)
    row_ids = child_row_ids(my_parent_ids, child_name, list_idx)
    my_root_ids = pc.take(root_ids, parent_index) if root_ids is not None else None

    child = FlatTable(child_name, parent_name)
    lists: list[tuple[list[str], pa.Array, int]] = []
    value_type = values.type
    if pa.types.is_struct(value_type) and depth < options.max_nesting:
        _flatten_fields(
            [(value_type.field(i).name, arr) for i, arr in enumerate(values.flatten())],
            [],
            child,
            lists,
            options.naming,
            options.max_nesting,
            depth + 1,
        )
    elif _is_list(value_type) and depth < options.max_nesting:
        lists.append(([C_VALUE], values, depth + 1))
    else:
        child.add(C_VALUE, values)
    if my_root_ids is not None:
        child.add(C_DLT_ROOT_ID, my_root_ids)
    child.add(C_DLT_PARENT_ID, my_parent_ids)
    child.add(C_DLT_LIST_IDX, pa.array(list_idx, pa.int64()))
    child.add(C_DLT_ID, row_ids)
    tables.append(child)
    for path, nested, nested_depth in lists:
        _unnest_list(
            options.naming.make_path(child_name, *path),
            child_name,
            nested,
            row_ids,
            my_root_ids,
            nested_depth,
            options,
            tables,
        )


def rename_arrow_columns(batch: pa.RecordBatch, naming: SnakeCaseNaming) -> pa.RecordBatch:
    """Arrow items keep their shape: only top-level column names are normalized."""
    names = [naming.normalize_path(name) for name in batch.schema.names]
    return batch.rename_columns(names) if names != batch.schema.names else batch


def _is_list(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_list(kind)
        or pa.types.is_large_list(kind)
        or pa.types.is_fixed_size_list(kind)
        or pa.types.is_list_view(kind)
    )


def _as_array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


__all__ = [
    "C_DLT_ID",
    "C_DLT_LIST_IDX",
    "C_DLT_LOAD_ID",
    "C_DLT_PARENT_ID",
    "C_DLT_ROOT_ID",
    "FlatTable",
    "FlattenOptions",
    "flatten_rows",
    "rename_arrow_columns",
]
