"""Unnest record batches into a root table and child tables, vectorized with Arrow compute.

This is dlt's relational normalizer (``dlt/common/normalizers/json/relational.py``) applied to
whole columns instead of single dicts:

- struct fields become ``parent__child`` columns, names normalized part by part (dlt's
  break-path normalization, so a key ``a__b`` and a nested ``{"a": {"b": ...}}`` both give
  ``a__b``; in different rows they share the column, in one row they are a name collision and
  raise :class:`NameCollisionError`);
- list columns become child tables ``<table>__<field>`` linked by ``_dlt_parent_id`` (the
  parent's ``_dlt_id``) and ordered by ``_dlt_list_idx``; lists of scalars give a ``value``
  column; a list of lists gives an intermediate table with lineage only whose inner lists go to
  ``<table>__list`` (dlt wraps each inner list in a mock row ``{"list": [...]}``);
- nesting is counted down from ``max_nesting`` as dlt does: flattening a struct and entering a
  list each cost one level, the rows of a child table sit one level below their parent's rows
  (wherever the list was found), and a struct or list met at level 0 - or at a column the schema
  stores as ``json`` - stays one nested column (a ``json`` column).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quiver.errors import MissingPrimaryKeyColumn, NameCollisionError
from quiver.schema.columns import (
    C_DLT_ID,
    C_DLT_LIST_IDX,
    C_DLT_LOAD_ID,
    C_DLT_PARENT_ID,
    C_DLT_ROOT_ID,
)
from quiver.schema.naming import NamingConvention
from quiver.schema.row_ids import child_row_ids, hash_row_ids, random_row_ids
from quiver.schema.types import arrow_to_column, is_list_like

C_VALUE = "value"
#: dlt names the mock column of a list of lists ``list``; its rows go to ``<table>__list``.
C_LIST = "list"
#: dlt replaces blank keys with this name.
EMPTY_KEY_IDENTIFIER = "_empty"
DEFAULT_MAX_NESTING = 1000
#: The batcher's variant of a key whose values are dicts in some rows and lists in others.
NESTED_VARIANT_SUFFIX = "__v_json"
#: Between a column name and ``<type>`` in the name of a variant the batcher makes.
VARIANT_SEPARATOR = "__v_"


@dataclass
class FlatTable:
    """One output table of a flattened batch."""

    name: str
    parent: str | None
    names: list[str] = field(default_factory=list)
    arrays: list[pa.Array] = field(default_factory=list)
    #: The source path of each column (for collision messages).
    sources: dict[str, str] = field(default_factory=dict)
    #: The name components (parent table path + field path) the name was made from.
    path: tuple[str, ...] = ()
    #: The nesting level of this table's rows (dlt counts down to 0).
    level: int = DEFAULT_MAX_NESTING

    #: Rows (not Arrow items): two keys that normalize to one name share the column unless
    #: one row holds both (dlt's rule: a collision is a property of one item, not of a batch).
    merge_disjoint: bool = False

    def add(self, name: str, array: pa.Array, source: str | None = None) -> None:
        if name in self.sources:
            if not self.merge_disjoint:
                raise NameCollisionError(self.name, name, self.sources[name], source or name)
            self._merge(name, array, source or name)
            return
        self.sources[name] = source or name
        self.names.append(name)
        self.arrays.append(array)

    def replace(self, name: str, array: pa.Array) -> None:
        """Set a column's values, replacing the column if the data has one already."""
        if name in self.sources:
            self.arrays[self.names.index(name)] = array
        else:
            self.add(name, array)

    def _merge(self, name: str, array: pa.Array, source: str) -> None:
        """Values of a second key with the same normalized name, in rows that lack the first.

        Values of another type go to the variant ``<name>__v_<type>`` that the coercer moves
        into the column where they fit (first type wins), as dlt coerces row by row.
        """
        index = self.names.index(name)
        existing = self.arrays[index]
        both = pc.and_(pc.is_valid(existing), pc.is_valid(array))
        if pc.any(both).as_py():
            example = pc.filter(array, both)[0].as_py()
            rows = int(pc.sum(both).as_py())
            raise NameCollisionError(self.name, name, self.sources[name], source, rows, example)
        if pa.types.is_null(array.type):
            return
        if not pa.types.is_null(existing.type) and array.type != existing.type:
            kind = (arrow_to_column(array.type) or {}).get("data_type", "text")
            if kind != (arrow_to_column(existing.type) or {}).get("data_type"):
                self.add(f"{name}{VARIANT_SEPARATOR}{kind}", array, source)
                return
            try:  # one data type of two widths (int32 and int64): the first width holds both
                array = pc.cast(array, existing.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
                raise NameCollisionError(self.name, name, self.sources[name], source) from error
        self.arrays[index] = (
            array if pa.types.is_null(existing.type) else pc.coalesce(existing, array)
        )

    def column(self, name: str) -> pa.Array | None:
        return self.arrays[self.names.index(name)] if name in self.sources else None

    @property
    def num_rows(self) -> int:
        return len(self.arrays[0]) if self.arrays else 0

    def to_table(self) -> pa.Table:
        return pa.Table.from_arrays(self.arrays, names=self.names)


@dataclass(frozen=True)
class FlattenOptions:
    naming: NamingConvention
    load_id: str
    max_nesting: int = DEFAULT_MAX_NESTING
    add_dlt_load_id: bool = True
    add_dlt_id: bool = True
    root_key: bool = False
    #: Root ``_dlt_id`` from these columns' values (merge by primary key), not random.
    key_hash_columns: tuple[str, ...] = ()
    #: Root ``_dlt_id`` from all data columns' values (scd2 row versions), not random.
    row_hash: bool = False
    #: ``(table, column) -> True`` when the schema stores the column as ``json`` (kept nested).
    is_json: Callable[[str, str], bool] | None = None
    #: The batch holds rows (keys of different rows may normalize to one name), not an Arrow
    #: item (whose columns all belong to every row).
    from_rows: bool = False


def flatten_rows(
    batch: pa.RecordBatch, table_name: str, options: FlattenOptions
) -> list[FlatTable]:
    """Unnest a batch of rows (as the relational normalizer does for dicts).

    Returns the root table first, then child tables, parents before their children.
    """
    root = FlatTable(
        table_name,
        None,
        path=(table_name,),
        level=options.max_nesting,
        merge_disjoint=options.from_rows,
    )
    lists: list[tuple[tuple[str, ...], str, pa.Array]] = []
    _flatten_fields(
        [(name, _as_array(batch.column(i))) for i, name in enumerate(batch.schema.names)],
        (),
        "",
        root,
        lists,
        root.level,
        options,
    )
    num_rows = batch.num_rows
    if options.add_dlt_load_id:
        # dlt overwrites a ``_dlt_load_id`` the data brings: the column says which load wrote it.
        root.replace(C_DLT_LOAD_ID, pa.repeat(pa.scalar(options.load_id, pa.string()), num_rows))
    existing_ids = root.column(C_DLT_ID)
    if existing_ids is not None:
        row_ids = existing_ids
    else:
        row_ids = _root_row_ids(root, table_name, options, num_rows)
        if options.add_dlt_id or lists:
            # Child rows link to their parent by _dlt_id, so unnested lists need it.
            root.add(C_DLT_ID, row_ids)
    tables = [root]
    root_ids = row_ids if options.root_key else None
    _unnest_lists(root, lists, row_ids, root_ids, options, tables)
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
        missing = [c for c in options.key_hash_columns if c not in root.sources]
        if missing:
            raise MissingPrimaryKeyColumn(table_name, options.key_hash_columns, missing[0])
        return hash_row_ids(
            [root.arrays[root.names.index(c)] for c in options.key_hash_columns], table_name
        )
    return random_row_ids(num_rows)


def _normalize_key(naming: NamingConvention, raw_name: str) -> str:
    return naming.normalize_path(raw_name) if raw_name.strip() else EMPTY_KEY_IDENTIFIER


def shorten_fragments(naming: NamingConvention, *parts: str) -> str:
    """dlt's ``shorten_fragments``: join normalized parts with ``__`` and shorten the result."""
    joined = naming.make_path(*parts)
    return naming.shorten_identifier(joined, joined, naming.max_length)


def _flatten_fields(
    columns: list[tuple[str, pa.Array]],
    prefix: tuple[str, ...],
    source_prefix: str,
    table: FlatTable,
    lists: list[tuple[tuple[str, ...], str, pa.Array]],
    level: int,
    options: FlattenOptions,
) -> None:
    naming = options.naming
    for raw_name, array in columns:
        path = (*prefix, _normalize_key(naming, raw_name))
        source = f"{source_prefix}.{raw_name}" if source_prefix else raw_name
        column_name = path[0] if len(path) == 1 else shorten_fragments(naming, *path)
        kind = array.type
        nested = pa.types.is_struct(kind) or is_list_like(kind)
        if nested and raw_name.endswith(NESTED_VARIANT_SUFFIX):
            # The batcher split a key holding dicts in some rows and lists in others; dlt
            # unnests both under the key's own name (columns a__x and child table t__a).
            base_path = (*prefix, _normalize_key(naming, raw_name[: -len(NESTED_VARIANT_SUFFIX)]))
            base_name = shorten_fragments(naming, *base_path)
            if level > 0 and not _is_json(options, table.name, base_name):
                path = base_path
            else:
                nested = False  # kept whole: the coercer merges it into the json column
        if nested and level > 0 and not _is_json(options, table.name, column_name):
            if pa.types.is_struct(kind):
                children = array.flatten()  # parent nulls propagate into the children
                _flatten_fields(
                    [(kind.field(i).name, child) for i, child in enumerate(children)],
                    path,
                    source,
                    table,
                    lists,
                    level - 1,
                    options,
                )
            else:
                _check_list_collision(table, lists, path, source, array)
                lists.append((path, source, array))
            continue
        table.add(column_name, array, source)


def _check_list_collision(
    table: FlatTable,
    lists: list[tuple[tuple[str, ...], str, pa.Array]],
    path: tuple[str, ...],
    source: str,
    array: pa.Array,
) -> None:
    """Two keys whose lists go to one child table: fine in different rows (each row's list
    unnests once), a collision in one row (their child rows would share ids)."""
    for other_path, other_source, other in lists:
        if other_path != path:
            continue
        both = pc.and_(pc.is_valid(other), pc.is_valid(array))
        if not table.merge_disjoint or pc.any(both).as_py():
            rows = int(pc.sum(both).as_py() or 0)
            name = "__".join(path)
            raise NameCollisionError(table.name, name, other_source, source, rows, "[...]")


def _is_json(options: FlattenOptions, table_name: str, column_name: str) -> bool:
    return options.is_json is not None and options.is_json(table_name, column_name)


def _unnest_lists(
    parent: FlatTable,
    lists: list[tuple[tuple[str, ...], str, pa.Array]],
    parent_ids: pa.Array,
    root_ids: pa.Array | None,
    options: FlattenOptions,
    tables: list[FlatTable],
) -> None:
    for path, source, list_array in lists:
        _unnest_list(
            (*parent.path, *path), parent, source, list_array, parent_ids, root_ids, options, tables
        )


def _unnest_list(
    child_path: tuple[str, ...],
    parent: FlatTable,
    source: str,
    list_array: pa.Array,
    parent_ids: pa.Array,
    root_ids: pa.Array | None,
    options: FlattenOptions,
    tables: list[FlatTable],
) -> None:
    values = pc.list_flatten(list_array)
    if len(values) == 0:
        return
    naming = options.naming
    child_name = shorten_fragments(naming, *child_path)
    parent_index = pc.list_parent_indices(list_array)
    lengths = pc.fill_null(pc.list_value_length(list_array), 0).to_numpy(zero_copy_only=False)
    starts = np.cumsum(lengths) - lengths
    list_idx = np.arange(len(values), dtype=np.int64) - np.repeat(starts, lengths)
    my_parent_ids = pc.take(parent_ids, parent_index)
    row_ids = child_row_ids(my_parent_ids, child_name, list_idx)
    my_root_ids = pc.take(root_ids, parent_index) if root_ids is not None else None

    child = FlatTable(
        child_name,
        parent.name,
        path=child_path,
        level=parent.level - 1,
        merge_disjoint=options.from_rows,
    )
    lists: list[tuple[tuple[str, ...], str, pa.Array]] = []
    value_type = values.type
    if pa.types.is_struct(value_type):
        _flatten_fields(
            [(value_type.field(i).name, arr) for i, arr in enumerate(values.flatten())],
            (),
            source,
            child,
            lists,
            child.level,
            options,
        )
    elif is_list_like(value_type):
        # dlt normalizes each inner list as a mock row {"list": inner} one level down.
        child.level -= 1
        if child.level > 0 and not _is_json(options, child_name, C_LIST):
            lists.append(((C_LIST,), f"{source}[]", values))
        else:
            child.add(C_LIST, values, f"{source}[]")
    else:
        child.add(C_VALUE, values, f"{source}[]")
    if my_root_ids is not None:
        child.add(C_DLT_ROOT_ID, my_root_ids)
    child.add(C_DLT_PARENT_ID, my_parent_ids)
    child.add(C_DLT_LIST_IDX, pa.array(list_idx, pa.int64()))
    child.add(C_DLT_ID, row_ids)
    tables.append(child)
    _unnest_lists(child, lists, row_ids, my_root_ids, options, tables)


def rename_arrow_columns(
    batch: pa.RecordBatch, naming: NamingConvention, table_name: str = "<arrow item>"
) -> pa.RecordBatch:
    """Arrow items keep their shape: only top-level column names are normalized."""
    names = [_normalize_key(naming, name) for name in batch.schema.names]
    if len(set(names)) != len(names):
        seen: dict[str, str] = {}
        for raw, name in zip(batch.schema.names, names, strict=True):
            if name in seen:
                raise NameCollisionError(table_name, name, seen[name], raw)
            seen[name] = raw
    return batch.rename_columns(names) if names != batch.schema.names else batch


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
    "shorten_fragments",
]
