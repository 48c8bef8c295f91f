"""Merge loads into Delta tables: one ``MERGE`` commit per table, tagged with the load id.

The plan comes from :mod:`quiver.destinations.merge.plan`; this module turns it into delta-rs
``MERGE`` statements (target alias ``t``, source alias ``s``):

* upsert: ``ON keys`` → delete (hard deletes), update all, insert the rest;
* insert-only: ``ON keys`` → delete (hard deletes), insert where not matched;
* delete-insert and child tables: the source is the load's distinct keys tagged ``d`` plus its
  rows tagged ``i``; ``ON s.op = 'd' AND keys`` → delete every matched target row, and insert
  the ``i`` rows (which never match). Delete and insert land in one commit. An upsert into a
  table that holds a key of the load more than once runs this way too: "update when matched"
  would update every duplicate and keep them all, where Iceberg (and delete-insert) leave one;
* scd2: the source is the new versions tagged ``i`` plus the versions to retire tagged ``r``;
  ``ON s.op = 'r' AND version and valid_from match`` → set ``valid_to``, insert the ``i`` rows.

When all rows of the load are written as they are (no duplicates, no hard deletes) the source is
streamed from the package's parquet files. A table that does not exist yet is created from the
load's files without rewriting them, as an append is. New columns are added before the
``MERGE`` (``alter.add_columns``, a commit of its own, repeated harmlessly on retry).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from quiver.destinations.base import TableCommit
from quiver.destinations.delta import rewrite
from quiver.destinations.merge import children as children_plan
from quiver.destinations.merge import plan, scd2
from quiver.destinations.merge.plan import C_DLT_ID, C_DLT_ROOT_ID, OP_COLUMN, MergeSpec

if TYPE_CHECKING:
    import pyarrow.dataset as ds
    from deltalake import DeltaTable

    from quiver.destinations.delta.format import DeltaFormat

__all__ = ["merge"]

_HISTORY_PAGE = 50


def merge(fmt: DeltaFormat, commit: TableCommit) -> None:
    """Merge ``commit``'s files into its Delta table in one commit tagged with the load id."""
    spec = plan.merge_spec(commit)
    if spec.is_root:
        _merge_root(fmt, commit, spec)
    else:
        _merge_child(fmt, commit, spec)


# ------------------------------------------------------------------------------- root tables
def _merge_root(fmt: DeltaFormat, commit: TableCommit, spec: MergeSpec) -> None:
    if not commit.files:
        return
    plan.check_keys(spec, commit.arrow_schema)
    if spec.scd2 is not None:
        _merge_scd2(fmt, commit, spec)
        return
    dataset = plan.source_dataset(commit.files, commit.arrow_schema)
    columns = spec.selection_columns(commit.arrow_schema.names)
    keys = dataset.to_table(columns=columns)
    selection = plan.select_rows(keys, spec)
    table = fmt.open_table(commit.table_name)
    if table is None or spec.appends:
        if selection.passthrough:
            fmt.commit(dataclasses.replace(commit, disposition="append"))
        else:
            _write(fmt, commit, selection.apply(dataset.to_table(), drop_deleted=True))
        return

    target = _evolve(table, commit.arrow_schema)
    if spec.strategy in ("upsert", "delete-insert") and rewrite.supported(table, commit, target):
        # Deduplication found no repeated key: the primary key is unique in the load.
        unique = selection.keep is None and not spec.deduplicated
        groups = [
            (group, plan.distinct_keys(keys, group, unique=unique and group == spec.primary_key))
            for group in spec.delete_keys
        ]
        rows: pa.Table | pa.RecordBatchReader | None = None
        if not selection.passthrough:
            # Streamed from the files: a load with duplicates or deletes is never held whole.
            written = selection.written_mask(keys.num_rows)
            rows = (
                plan.stream_written(commit.files, commit.arrow_schema, written)
                if pc.any(written).as_py()
                else commit.arrow_schema.empty_table()
            )
        rewrite.replace_rows(fmt, table, commit, groups, rows)
        return
    if spec.strategy == "delete-insert" or (
        spec.strategy == "upsert" and _holds_duplicates(table, spec.primary_key, keys)
    ):
        # Every target row with a key of the load goes and the load's rows come: one row per
        # key afterwards, also where the table held duplicates of a key, as on Iceberg.
        deletes = [plan.distinct_keys(keys, group) for group in spec.delete_keys]
        inserts = _rows(dataset, target, selection, drop_deleted=True)
        merger = _delete_insert_merger(
            fmt, table, commit, target, spec.delete_keys, deletes, inserts
        )
        merger.execute()
        return
    # upsert (keys unique in the table) and insert-only: one MERGE on the keys.
    deleted = _deleted_sql(spec, commit.arrow_schema)
    kept = None if deleted is None else f"NOT ({deleted})"
    merger = table.merge(
        _rows(dataset, target, selection, drop_deleted=False),
        _key_predicate(spec.primary_key, keys),
        source_alias="s",
        target_alias="t",
        commit_properties=fmt.commit_properties(commit.load_id),
    )
    if deleted is not None:
        merger = merger.when_matched_delete(deleted)
    if spec.strategy == "upsert":
        merger = merger.when_matched_update_all(kept)
    merger.when_not_matched_insert_all(kept).execute()


def _holds_duplicates(table: DeltaTable, columns: Sequence[str], keys: pa.Table) -> bool:
    """Whether the table holds a key of the load more than once (appended before the merge).

    An "update when matched" MERGE would update every such row and keep them all; the caller
    then replaces them instead. Reads only the key columns, pruned to the load's key range.
    """
    loaded = plan.distinct_keys(keys, columns)
    if loaded.num_rows == 0:
        return False
    existing = _read(table, columns, None, keys=loaded)
    existing = existing.filter(plan.matching_mask(existing, loaded, columns))
    return plan.dedup_indices(existing, columns) is not None


def _merge_scd2(fmt: DeltaFormat, commit: TableCommit, spec: MergeSpec) -> None:
    assert spec.scd2 is not None
    options = spec.scd2
    rows = scd2.with_row_version(
        plan.source_dataset(commit.files, commit.arrow_schema).to_table(), spec
    )
    table = fmt.open_table(commit.table_name)
    if table is None:
        _write(fmt, commit, scd2.plan_scd2(rows, None, spec).inserts)
        return
    target = _evolve(table, scd2.scd2_schema(rows.schema, spec))
    active = _read(
        table,
        scd2.active_columns(spec),
        _active_filter(options.valid_to, options.active),
    )
    changes = scd2.plan_scd2(rows, active, spec)
    if changes.inserts.num_rows == 0 and changes.retire.num_rows == 0:
        return
    inserts = _tagged(plan.align(changes.inserts, target), "i")
    retire = _tagged(plan.align(changes.retire, target), "r")
    source = pa.concat_tables([inserts, retire])
    on = _key_predicate([options.version_column, options.valid_from])
    (
        table.merge(
            source,
            f"s.{OP_COLUMN} = 'r' AND {on}",
            source_alias="s",
            target_alias="t",
            commit_properties=fmt.commit_properties(commit.load_id),
        )
        .when_matched_update({_quote(options.valid_to): f"s.{_quote(options.valid_to)}"})
        .when_not_matched_insert_all(f"s.{OP_COLUMN} = 'i'", except_cols=[OP_COLUMN])
        .execute()
    )


# ------------------------------------------------------------------------------ child tables
def _merge_child(fmt: DeltaFormat, commit: TableCommit, spec: MergeSpec) -> None:
    dataset = plan.source_dataset(commit.files, commit.arrow_schema)
    table = fmt.open_table(commit.table_name)
    if spec.scd2 is not None:
        _merge_scd2_child(fmt, commit, spec, table, dataset.to_table())
        return
    root_schema = _root_schema(commit, spec)
    parent = children_plan.parent_rows(
        plan.package_files(commit, spec.root_name), root_schema, spec
    )

    def root_before(columns: Sequence[str], keys: pa.Table) -> pa.Table:
        return _read_root_before(fmt, spec, columns, keys)

    children = children_plan.plan_children(spec, parent, root_before)
    # Child rows belong to root rows of this load: when all of those are written, so are all
    # child rows, and the load's files are used as they are (never read here).
    every_row = len(children.insert_root_ids) == len(parent.ids)
    written = None
    if not every_row:
        rows = dataset.to_table()
        written = children_plan.child_rows(rows, children.insert_root_ids)
    if table is None or len(children.delete_root_ids) == 0:
        if written is None:
            if commit.files:
                fmt.commit(dataclasses.replace(commit, disposition="append"))
        else:
            _write(fmt, commit, written)
        return
    target = _evolve(table, commit.arrow_schema)
    deletes = pa.table({C_DLT_ROOT_ID: children.delete_root_ids})
    if rewrite.supported(table, commit, target):
        rewrite.replace_rows(fmt, table, commit, [((C_DLT_ROOT_ID,), deletes)], written)
        return
    inserts = (
        _stream(dataset, target) if written is None else plan.align(written, target).to_reader()
    )
    merger = _delete_insert_merger(
        fmt, table, commit, target, [(C_DLT_ROOT_ID,)], [deletes], inserts
    )
    merger.execute()


def _merge_scd2_child(
    fmt: DeltaFormat,
    commit: TableCommit,
    spec: MergeSpec,
    table: DeltaTable | None,
    rows: pa.Table,
) -> None:
    assert spec.scd2 is not None
    existing = pa.table({C_DLT_ID: pa.array([], pa.string())})
    if table is not None:
        existing = _read(table, [C_DLT_ID], None)
    roots = None
    if spec.scd2.random_root_ids:
        root = fmt.open_table(spec.root_name)
        roots = _read(root, [C_DLT_ID], None) if root is not None else existing.slice(0, 0)
    written = scd2.scd2_child_rows(rows, existing, roots)
    if written.num_rows == 0:
        return
    if table is None:
        _write(fmt, commit, written)
        return
    target = _evolve(table, commit.arrow_schema)
    (
        table.merge(
            plan.align(written, target),
            _key_predicate([C_DLT_ID]),
            source_alias="s",
            target_alias="t",
            commit_properties=fmt.commit_properties(commit.load_id),
        )
        .when_not_matched_insert_all()
        .execute()
    )


def _root_schema(commit: TableCommit, spec: MergeSpec) -> pa.Schema:
    import pyarrow.parquet as pq

    files = plan.package_files(commit, spec.root_name)
    if not files:
        return pa.schema([])
    return pa.unify_schemas([pq.read_schema(path) for path in files])


def _read_root_before(
    fmt: DeltaFormat, spec: MergeSpec, columns: Sequence[str], keys: pa.Table
) -> pa.Table:
    """Root rows (``_dlt_id`` + ``columns``) matching ``keys``, before this load's commit."""
    wanted = list(dict.fromkeys([C_DLT_ID, *columns]))
    root = fmt.open_table(spec.root_name)
    before = None if root is None else _version_before(root, fmt, spec)
    if before is None:
        return pa.table({name: pa.array([], pa.string()) for name in wanted})
    rows = _read(before, wanted, None, keys=keys)
    return rows.filter(plan.matching_mask(rows, keys, list(columns)))


def _version_before(root: DeltaTable, fmt: DeltaFormat, spec: MergeSpec) -> DeltaTable | None:
    """The root table just before this load's commit; ``None`` if the load created it."""
    from quiver.destinations.delta.format import LOAD_ID_METADATA_KEY

    limit: int | None = _HISTORY_PAGE
    while True:
        history = root.history(limit)
        for entry in history:
            if entry.get(LOAD_ID_METADATA_KEY) == spec.load_id:
                version = int(entry["version"])
                if version == 0:
                    return None
                return fmt.open_table(spec.root_name, version=version - 1)
        if limit is None or len(history) < limit:
            return root  # the load did not change the root: it is as it was
        limit = None


# ------------------------------------------------------------------------------------ helpers
def _evolve(table: DeltaTable, schema: pa.Schema) -> pa.Schema:
    """Add the columns of ``schema`` the table lacks; return the table's schema as Arrow."""
    from deltalake.schema import Field

    current = pa.schema(table.schema().to_arrow())
    missing = [f for f in schema if f.name not in current.names]
    if missing:
        table.alter.add_columns([Field.from_arrow(f) for f in missing])
        current = pa.schema(table.schema().to_arrow())
    return current


def _rows(
    dataset: ds.Dataset,
    target: pa.Schema,
    selection: plan.Selection,
    *,
    drop_deleted: bool,
) -> pa.RecordBatchReader:
    """The load's rows in the target's schema: streamed from the files when all are kept."""
    if selection.passthrough:
        return _stream(dataset, target)
    rows = selection.apply(dataset.to_table(), drop_deleted=drop_deleted)
    return plan.align(rows, target).to_reader()


def _stream(dataset: ds.Dataset, target: pa.Schema) -> pa.RecordBatchReader:
    """The rows of the load's files in the target's schema, batch by batch."""
    import pyarrow.dataset as pads

    return pads.dataset(dataset.files, schema=target, format="parquet").scanner().to_reader()


def _delete_insert_merger(
    fmt: DeltaFormat,
    table: DeltaTable,
    commit: TableCommit,
    target: pa.Schema,
    key_groups: Sequence[Sequence[str]],
    deletes: Sequence[pa.Table],
    inserts: pa.RecordBatchReader,
) -> Any:
    """A MERGE that deletes target rows matching any key group, then inserts ``inserts``."""
    # Delete rows carry only keys: every column of the source may be null.
    target = pa.schema([f.with_nullable(True) for f in target])
    schema = target.append(pa.field(OP_COLUMN, pa.string()))

    def batches() -> Any:
        for number, keys in enumerate(deletes):
            if keys.num_rows:
                yield from _tagged(plan.align(keys, target), f"d{number}").to_batches()
        for batch in inserts:
            rows = plan.align(pa.Table.from_batches([batch]), target)
            yield from _tagged(rows, "i").to_batches()

    matches = " OR ".join(
        f"(s.{OP_COLUMN} = 'd{number}' AND {_key_predicate(group, keys)})"
        for number, (group, keys) in enumerate(zip(key_groups, deletes, strict=True))
    )
    return (
        table.merge(
            pa.RecordBatchReader.from_batches(schema, batches()),
            matches,
            source_alias="s",
            target_alias="t",
            commit_properties=fmt.commit_properties(commit.load_id),
        )
        .when_matched_delete()
        .when_not_matched_insert_all(f"s.{OP_COLUMN} = 'i'", except_cols=[OP_COLUMN])
    )


def _write(fmt: DeltaFormat, commit: TableCommit, rows: pa.Table) -> None:
    """Write rows the load changed (dedup, deletes, validity) in one commit: an append."""
    from deltalake import write_deltalake

    if rows.num_rows == 0 and fmt.open_table(commit.table_name) is not None:
        return
    uri, options = fmt.storage(commit.table_name)
    write_deltalake(
        uri,
        rows,
        mode="append",
        schema_mode="merge",
        partition_by=commit.partition_by or None,
        storage_options=options or None,
        commit_properties=fmt.commit_properties(commit.load_id),
    )


def _read(
    table: DeltaTable,
    columns: Sequence[str],
    where: Any,
    *,
    keys: pa.Table | None = None,
) -> pa.Table:
    """Some columns of a Delta table (polars reads it), filtered by a polars expression."""
    import polars as pl

    frame = pl.scan_delta(table)
    if where is not None:
        frame = frame.filter(where)
    frame = frame.select(list(columns))
    if keys is not None and keys.num_columns == 1 and keys.num_rows:
        # Prune files by the key values' range; the exact match is done in Arrow.
        (name,) = keys.column_names
        low, high = pc.min_max(keys[name]).values()
        if low.is_valid:
            frame = frame.filter(pl.col(name).is_between(pl.lit(low.as_py()), pl.lit(high.as_py())))
    return frame.collect().to_arrow(compat_level=pl.CompatLevel.oldest())


def _active_filter(valid_to: str, active: Any) -> Any:
    import polars as pl

    column = pl.col(valid_to)
    return column.is_null() if active is None else column == active


def _tagged(rows: pa.Table, op: str) -> pa.Table:
    return rows.append_column(OP_COLUMN, pa.repeat(pa.scalar(op, pa.string()), rows.num_rows))


def _key_predicate(columns: Sequence[str], keys: pa.Table | None = None) -> str:
    """``t.k = s.k AND ...``, plus the range of the load's keys: files outside it are skipped."""
    terms = [f"t.{_quote(c)} = s.{_quote(c)}" for c in columns]
    if keys is not None and keys.num_rows:
        for column in columns:
            terms.extend(_range_sql(column, keys[column]))
    return " AND ".join(terms)


def _range_sql(column: str, values: pa.ChunkedArray) -> list[str]:
    data_type = values.type
    if values.null_count == len(values) or not (
        pa.types.is_integer(data_type)
        or pa.types.is_string(data_type)
        or pa.types.is_large_string(data_type)
    ):
        return []
    low, high = (_literal(v.as_py()) for v in pc.min_max(values).values())
    return [f"t.{_quote(column)} >= {low}", f"t.{_quote(column)} <= {high}"]


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(int(value))


def _deleted_sql(spec: MergeSpec, schema: pa.Schema) -> str | None:
    column = spec.hard_delete
    if column is None or column not in schema.names:
        return None
    if pa.types.is_boolean(schema.field(column).type):
        return f"s.{_quote(column)} IS TRUE"
    return f"s.{_quote(column)} IS NOT NULL"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
