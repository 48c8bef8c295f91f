"""scd2 planning: which root versions a load inserts and retires, and which child rows follow.

Semantics are described in :mod:`quiver.destinations.merge.plan`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from quiver.destinations.merge.plan import (
    C_DLT_ID,
    C_DLT_ROOT_ID,
    VALIDITY_TYPE,
    MergeSpec,
    Scd2Options,
    dedup_indices,
    deleted_mask,
    distinct_keys,
    matching_mask,
)
from quiver.errors import MergeConfigError

__all__ = [
    "Scd2Plan",
    "active_columns",
    "plan_scd2",
    "scd2_child_rows",
    "scd2_schema",
    "with_row_version",
]


@dataclass(frozen=True)
class Scd2Plan:
    """What an scd2 merge does to its root table.

    Attributes:
        inserts: New versions with their validity columns.
        retire: Active versions to retire: the version column, their ``valid_from`` (together a
            unique key) and ``valid_to`` set to the boundary.
    """

    inserts: pa.Table
    retire: pa.Table


def with_row_version(rows: pa.Table, spec: MergeSpec) -> pa.Table:
    """Add ``_dlt_id`` as the row hash when the load has none (Arrow items)."""
    options = _scd2(spec)
    if options.version_column in rows.column_names:
        return rows
    if options.version_column != C_DLT_ID:
        raise MergeConfigError(
            f"Table {spec.root_name!r} (load {spec.load_id}) uses column "
            f"{options.version_column!r} as scd2 row version, but the load has no such column. "
            "Hint: add it to the data or drop row_version_column_name."
        )
    from quiver.schema.row_ids import hash_row_ids

    data = [rows[n] for n in rows.column_names if not n.startswith("_dlt")]
    return rows.append_column(C_DLT_ID, hash_row_ids(data, spec.root_name))


def scd2_schema(schema: pa.Schema, spec: MergeSpec) -> pa.Schema:
    """The root table's schema with the row version and validity columns scd2 adds."""
    options = _scd2(spec)
    extra = []
    if options.version_column == C_DLT_ID and C_DLT_ID not in schema.names:
        extra.append(pa.field(C_DLT_ID, pa.string()))
    for name in (options.valid_from, options.valid_to):
        if name not in schema.names:
            extra.append(pa.field(name, VALIDITY_TYPE))
    return pa.schema([*schema, *extra], metadata=schema.metadata)


def active_columns(spec: MergeSpec) -> list[str]:
    """The target columns :func:`plan_scd2` needs of the active rows."""
    options = _scd2(spec)
    return list(dict.fromkeys([options.version_column, options.valid_from, *spec.merge_key]))


def plan_scd2(rows: pa.Table, active: pa.Table | None, spec: MergeSpec) -> Scd2Plan:
    """New and retired versions of an scd2 load.

    Args:
        rows: The load's root rows (with the row version column, see :func:`with_row_version`).
        active: The target's active rows (:func:`active_columns`), ``None`` for a new table.
        spec: The merge spec.
    """
    options = _scd2(spec)
    version = options.version_column
    live = rows.filter(pc.invert(deleted_mask(rows, spec.hard_delete)))
    keep = dedup_indices(live, [version], keep_last=False)
    if keep is not None:
        live = live.take(keep)
    if active is None or active.num_rows == 0:
        new = live
        retire = pa.table(
            {
                version: pa.array([], live.schema.field(version).type),
                options.valid_from: pa.array([], VALIDITY_TYPE),
            }
        )
    else:
        new = live.filter(pc.invert(matching_mask(live, active, [version])))
        gone = pc.invert(matching_mask(active, live, [version]))
        if spec.merge_key:
            in_load = matching_mask(active, distinct_keys(rows, spec.merge_key), spec.merge_key)
            gone = pc.and_(gone, in_load)
        retire = active.filter(gone).select([version, options.valid_from])
    boundary = pa.scalar(options.boundary, VALIDITY_TYPE)
    retire = _set_column(retire, options.valid_to, pa.repeat(boundary, retire.num_rows))
    new = _set_column(new, options.valid_from, pa.repeat(boundary, new.num_rows))
    new = _set_column(
        new, options.valid_to, pa.repeat(pa.scalar(options.active, VALIDITY_TYPE), new.num_rows)
    )
    return Scd2Plan(inserts=new, retire=retire)


def _set_column(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, values)
    return table.append_column(name, values)


def _scd2(spec: MergeSpec) -> Scd2Options:
    if spec.scd2 is None:
        raise MergeConfigError(
            f"Table {spec.table_name!r} (package {spec.load_id}) does not merge with scd2. "
            "Hint: set write_disposition={'disposition': 'merge', 'strategy': 'scd2'}."
        )
    return spec.scd2


def scd2_child_rows(
    rows: pa.Table, existing_ids: pa.Table, current_root_ids: pa.Table | None
) -> pa.Table:
    """The child rows of new scd2 root versions.

    Child ids derive from the root's row hash, so rows whose ``_dlt_id`` the target has belong
    to versions that were loaded before. With random root ids (a row version column) the child
    rows of roots that the root table does not hold (unchanged versions) are skipped instead.
    """
    new = rows.filter(pc.invert(matching_mask(rows, existing_ids, [C_DLT_ID])))
    if current_root_ids is not None:
        keys = current_root_ids.rename_columns([C_DLT_ROOT_ID])
        new = new.filter(matching_mask(new, keys, [C_DLT_ROOT_ID]))
    keep = dedup_indices(new, [C_DLT_ID], keep_last=False)
    return new if keep is None else new.take(keep)
