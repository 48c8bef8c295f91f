"""Merge loads on Delta and Iceberg: upsert, insert-only, delete-insert, scd2, with nested tables,
hard deletes, dedup_sort, schema evolution and exactly-once, read back by independent readers
(polars for Delta, pyiceberg's StaticTable for Iceberg)."""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import quiver
from quiver.load import sidecars as sidecars_module
from tests.readers import Lake

UTC = datetime.UTC
UPSERT = {"disposition": "merge", "strategy": "upsert"}
INSERT_ONLY = {"disposition": "merge", "strategy": "insert-only"}
DELETE_INSERT = {"disposition": "merge", "strategy": "delete-insert"}
SCD2 = {"disposition": "merge", "strategy": "scd2"}


@pytest.fixture(params=["delta", "iceberg"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    return Lake(request.param, "local", f"file://{tmp_path / 'lake'}")


def _pipeline(lake: Lake, pipelines_dir: str, name: str = "merge") -> quiver.Pipeline:
    return lake.pipeline(pipelines_dir, name)  # type: ignore[no-any-return]


LINEAGE = ("_dlt_id", "_dlt_load_id", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx")


def _data(lake: Lake, table: str, sort_by: str | list[str]) -> list[dict[str, Any]]:
    """Rows without quiver's lineage columns."""
    return [
        {k: v for k, v in row.items() if k not in LINEAGE}
        for row in lake.rows("ds", table, sort_by)
    ]


def _load_time(load_id: str) -> datetime.datetime:
    micros = int(Decimal(load_id) * 1_000_000)
    return datetime.datetime(1970, 1, 1, tzinfo=UTC) + datetime.timedelta(microseconds=micros)


def _children(lake: Lake, root: str, child: str, value: str) -> set[tuple[Any, Any]]:
    """(root id column value, child value) pairs, joined through ``_dlt_root_id``."""
    ids = {r["_dlt_id"]: r["id"] for r in lake.rows("ds", root, "id")}
    return {(ids[r["_dlt_root_id"]], r[value]) for r in lake.rows("ds", child, value)}


# -------------------------------------------------------------------------------------- upsert
def test_upsert_updates_inserts_deletes_and_deduplicates(lake: Lake, pipelines_dir: str) -> None:
    pipeline = _pipeline(lake, pipelines_dir)
    columns = {"deleted": {"hard_delete": True, "data_type": "bool"}}
    first = [
        {"id": 1, "name": "a", "note": "n1"},
        {"id": 2, "name": "b", "note": "n2"},
        {"id": 3, "name": "c", "note": "n3"},
    ]
    pipeline.run(first, table_name="t", write_disposition=UPSERT, primary_key="id", columns=columns)
    second = [
        {"id": 2, "name": "b2"},  # update: the row is replaced, "note" becomes null
        {"id": 3, "deleted": True},  # hard delete
        {"id": 4, "name": "d-first"},
        {"id": 4, "name": "d-last"},  # duplicate key: the last row wins
        {"id": 5, "name": "e", "deleted": False},
    ]
    pipeline.run(
        second, table_name="t", write_disposition=UPSERT, primary_key="id", columns=columns
    )
    assert _data(lake, "t", "id") == [
        {"id": 1, "name": "a", "note": "n1", "deleted": None},
        {"id": 2, "name": "b2", "note": None, "deleted": None},
        {"id": 4, "name": "d-last", "note": None, "deleted": None},
        {"id": 5, "name": "e", "note": None, "deleted": False},
    ]


def test_upsert_arrow_items_with_a_new_column(lake: Lake, pipelines_dir: str) -> None:
    pipeline = _pipeline(lake, pipelines_dir)
    first = pa.table({"id": [1, 2, 3], "value": [10, 20, 30]})
    pipeline.run(first, table_name="t", write_disposition=UPSERT, primary_key="id")
    second = pa.table({"id": [3, 4], "value": [31, 40], "label": ["x", "y"]})
    pipeline.run(second, table_name="t", write_disposition=UPSERT, primary_key="id")
    assert lake.rows("ds", "t", "id") == [
        {"id": 1, "value": 10, "label": None},
        {"id": 2, "value": 20, "label": None},
        {"id": 3, "value": 31, "label": "x"},
        {"id": 4, "value": 40, "label": "y"},
    ]


def test_upsert_replaces_child_rows_and_deletes_vanished_ones(
    any_lake: Lake, pipelines_dir: str
) -> None:
    pipeline = _pipeline(any_lake, pipelines_dir)
    first = [
        {"id": 1, "items": [{"sku": "a", "tags": ["x", "y"]}, {"sku": "b", "tags": []}]},
        {"id": 2, "items": [{"sku": "c", "tags": ["z"]}]},
        {"id": 3, "items": [{"sku": "d", "tags": ["w"]}]},
    ]
    pipeline.run(first, table_name="t", write_disposition=UPSERT, primary_key="id")
    second = [
        {"id": 1, "items": [{"sku": "a2", "tags": ["x2"]}]},  # fewer children, new values
        {"id": 2, "items": []},  # every child vanished
        {"id": 4, "items": [{"sku": "e", "tags": ["v"]}]},
    ]
    pipeline.run(second, table_name="t", write_disposition=UPSERT, primary_key="id")
    assert [r["id"] for r in any_lake.rows("ds", "t", "id")] == [1, 2, 3, 4]
    assert _children(any_lake, "t", "t__items", "sku") == {(1, "a2"), (3, "d"), (4, "e")}
    assert _children(any_lake, "t", "t__items__tags", "value") == {(1, "x2"), (3, "w"), (4, "v")}


def test_children_vanish_when_no_row_of_the_load_has_any(lake: Lake, pipelines_dir: str) -> None:
    pipeline = _pipeline(lake, pipelines_dir)
    pipeline.run(
        [{"id": 1, "items": [{"sku": "a"}]}],
        table_name="t",
        write_disposition=UPSERT,
        primary_key="id",
    )
    pipeline.run(
        [{"id": 1, "items": []}], table_name="t", write_disposition=UPSERT, primary_key="id"
    )
    assert lake.read("ds", "t__items").height == 0


# --------------------------------------------------------------------------------- insert-only
def test_insert_only_ignores_existing_keys_and_their_children(
    lake: Lake, pipelines_dir: str
) -> None:
    pipeline = _pipeline(lake, pipelines_dir)
    first = [{"id": 1, "name": "a", "items": [{"sku": "a1"}]}, {"id": 2, "name": "b", "items": []}]
    pipeline.run(first, table_name="t", write_disposition=INSERT_ONLY, primary_key="id")
    second = [
        {"id": 1, "name": "a-changed", "items": [{"sku": "a1-changed"}, {"sku": "a2"}]},
        {"id": 2, "name": "b-changed", "items": [{"sku": "b1"}]},
        {"id": 3, "name": "c", "items": [{"sku": "c1"}]},
    ]
    pipeline.run(second, table_name="t", write_disposition=INSERT_ONLY, primary_key="id")
    assert _data(lake, "t", "id") == [
        {"id": 1, "name": "a"},
        {"id": 2, "name": "b"},
        {"id": 3, "name": "c"},
    ]
    assert _children(lake, "t", "t__items", "sku") == {(1, "a1"), (3, "c1")}


# ------------------------------------------------------------------------------- delete-insert
def test_delete_insert_by_merge_key_replaces_whole_batches(
    any_lake: Lake, pipelines_dir: str
) -> None:
    @quiver.resource(name="daily", write_disposition=DELETE_INSERT, merge_key="day")
    def daily(rows: list[dict[str, Any]]) -> Any:
        yield rows

    pipeline = _pipeline(any_lake, pipelines_dir)
    pipeline.run(
        daily(
            [
                {"day": 1, "name": "a", "items": [{"sku": "a1"}]},
                {"day": 1, "name": "b", "items": [{"sku": "b1"}]},
                {"day": 2, "name": "c", "items": [{"sku": "c1"}]},
            ]
        )
    )
    pipeline.run(daily([{"day": 1, "name": "x", "items": [{"sku": "x1"}, {"sku": "x2"}]}]))
    rows = any_lake.rows("ds", "daily", "name")
    assert [(r["day"], r["name"]) for r in rows] == [(2, "c"), (1, "x")]
    names = {r["_dlt_id"]: r["name"] for r in rows}
    skus = {
        (names[r["_dlt_root_id"]], r["sku"]) for r in any_lake.rows("ds", "daily__items", "sku")
    }
    assert skus == {("c", "c1"), ("x", "x1"), ("x", "x2")}


def test_delete_insert_dedup_sort_and_hard_deletes(lake: Lake, pipelines_dir: str) -> None:
    # dlt's documented example: the row with the highest lsn decides, a delete inserts nothing.
    @quiver.resource(
        name="t",
        primary_key="id",
        write_disposition=DELETE_INSERT,
        columns={"deleted_flag": {"hard_delete": True}, "lsn": {"dedup_sort": "desc"}},
    )
    def changes(rows: list[dict[str, Any]]) -> Any:
        yield rows

    pipeline = _pipeline(lake, pipelines_dir)
    pipeline.run(changes([{"id": 2, "val": "old", "lsn": 0, "deleted_flag": None}]))
    pipeline.run(
        changes(
            [
                {"id": 1, "val": "foo", "lsn": 1, "deleted_flag": None},
                {"id": 1, "val": "baz", "lsn": 3, "deleted_flag": None},
                {"id": 1, "val": "bar", "lsn": 2, "deleted_flag": True},
                {"id": 2, "val": "foo", "lsn": 1, "deleted_flag": False},
                {"id": 2, "lsn": 2, "deleted_flag": True},
                {"id": 3, "val": "first", "lsn": 5, "deleted_flag": None},
                {"id": 3, "val": "tie", "lsn": 5, "deleted_flag": None},
            ]
        )
    )
    assert _data(lake, "t", "id") == [
        {"id": 1, "val": "baz", "lsn": 3, "deleted_flag": None},
        {"id": 3, "val": "first", "lsn": 5, "deleted_flag": None},
    ]


def test_merge_without_keys_is_refused_before_extract(lake: Lake, pipelines_dir: str) -> None:
    # dlt refuses it on Delta/Iceberg: "No primary key defined for table `t`. `primary_key`
    # needs to be set when using the `upsert` merge strategy." (tests/test_validation.py)
    pipeline = _pipeline(lake, pipelines_dir)
    with pytest.raises(quiver.PipelineStepFailed, match="No primary key defined for table `t`"):
        pipeline.run([{"v": 1}], table_name="t", write_disposition="merge")
    assert not pipeline.has_pending_data


def test_upsert_without_primary_key_is_a_clear_error(lake: Lake, pipelines_dir: str) -> None:
    pipeline = _pipeline(lake, pipelines_dir)
    with pytest.raises(quiver.PipelineStepFailed) as failed:
        pipeline.run([{"v": 1}], table_name="events", write_disposition=UPSERT)
    message = str(failed.value)
    assert "events" in message and "primary key" in message and "upsert" in message


def test_compound_keys_and_primary_plus_merge_key(lake: Lake, pipelines_dir: str) -> None:
    pipeline = _pipeline(lake, pipelines_dir)
    keys = ("a", "b")
    first = [{"a": 1, "b": "x", "v": 1}, {"a": 1, "b": "y", "v": 2}, {"a": 2, "b": "x", "v": 3}]
    pipeline.run(first, table_name="c", write_disposition=UPSERT, primary_key=keys)
    second = [{"a": 1, "b": "y", "v": 20}, {"a": 1, "b": "y", "v": 21}, {"a": 2, "b": "y", "v": 4}]
    pipeline.run(second, table_name="c", write_disposition=UPSERT, primary_key=keys)
    assert _data(lake, "c", ["a", "b"]) == [
        {"a": 1, "b": "x", "v": 1},
        {"a": 1, "b": "y", "v": 21},
        {"a": 2, "b": "x", "v": 3},
        {"a": 2, "b": "y", "v": 4},
    ]

    # delete-insert with both keys: a target row goes if either key matches.
    @quiver.resource(name="d", write_disposition=DELETE_INSERT, primary_key="id", merge_key="day")
    def days(rows: list[dict[str, Any]]) -> Any:
        yield rows

    pipeline.run(days([{"id": 1, "day": 1}, {"id": 2, "day": 2}, {"id": 3, "day": 3}]))
    pipeline.run(days([{"id": 2, "day": 1}]))
    assert _data(lake, "d", "id") == [{"id": 2, "day": 1}, {"id": 3, "day": 3}]


def test_missing_key_column_is_a_clear_error(lake: Lake, pipelines_dir: str) -> None:
    pipeline = _pipeline(lake, pipelines_dir)
    with pytest.raises(quiver.PipelineStepFailed) as failed:
        pipeline.run(
            pa.table({"value": [1]}), table_name="t", write_disposition=UPSERT, primary_key="id"
        )
    assert "'id'" in str(failed.value) and "'t'" in str(failed.value)


# ----------------------------------------------------------------------------------------- scd2
def test_scd2_new_changed_retired_unchanged_and_reinserted(
    any_lake: Lake, pipelines_dir: str
) -> None:
    pipeline = _pipeline(any_lake, pipelines_dir)

    def run(rows: list[dict[str, Any]]) -> datetime.datetime:
        info = pipeline.run(rows, table_name="dim", write_disposition=SCD2)
        assert info is not None
        return _load_time(info.loads_ids[-1])

    t1 = run(
        [
            {"key": 1, "c": "foo", "items": [{"sku": "f"}]},
            {"key": 2, "c": "bar"},
            {"key": 3, "c": "baz"},
        ]
    )
    t2 = run(
        [
            {"key": 1, "c": "foo2", "items": [{"sku": "f2"}]},  # changed
            {"key": 2, "c": "bar"},  # unchanged
            {"key": 4, "c": "new"},  # new; key 3 is absent: retired
        ]
    )
    t3 = run(
        [
            {"key": 1, "c": "foo2", "items": [{"sku": "f2"}]},
            {"key": 3, "c": "baz"},  # reinserted; keys 2 and 4 retired
        ]
    )
    rows = _data(any_lake, "dim", ["key", "_dlt_valid_from"])
    assert rows == [
        {"key": 1, "c": "foo", "_dlt_valid_from": t1, "_dlt_valid_to": t2},
        {"key": 1, "c": "foo2", "_dlt_valid_from": t2, "_dlt_valid_to": None},
        {"key": 2, "c": "bar", "_dlt_valid_from": t1, "_dlt_valid_to": t3},
        {"key": 3, "c": "baz", "_dlt_valid_from": t1, "_dlt_valid_to": t2},
        {"key": 3, "c": "baz", "_dlt_valid_from": t3, "_dlt_valid_to": None},
        {"key": 4, "c": "new", "_dlt_valid_from": t2, "_dlt_valid_to": t3},
    ]
    # Child rows only for new versions, linked by the row hash.
    roots = any_lake.rows("ds", "dim", ["key", "_dlt_valid_from"])
    versions = {r["_dlt_id"]: (r["key"], r["c"]) for r in roots}
    items = any_lake.rows("ds", "dim__items", "sku")
    assert sorted((versions[r["_dlt_root_id"]], r["sku"]) for r in items) == [
        ((1, "foo"), "f"),
        ((1, "foo2"), "f2"),
    ]


def test_scd2_custom_names_active_timestamp_and_incremental_merge_key(
    lake: Lake, pipelines_dir: str
) -> None:
    active = datetime.datetime(9999, 12, 31, tzinfo=UTC)
    boundaries = [datetime.datetime(2024, 1, d, tzinfo=UTC) for d in (1, 2, 3)]

    @quiver.resource(name="dim", merge_key="customer")
    def dim(rows: list[dict[str, Any]]) -> Any:
        yield rows

    pipeline = _pipeline(lake, pipelines_dir)
    loads = [
        [{"customer": 1, "c": "foo"}, {"customer": 2, "c": "bar"}],
        [{"customer": 1, "c": "foo2"}],  # customer 2 absent: not retired (merge key)
        [{"customer": 2, "c": "bar", "gone": True}],  # hard delete retires customer 2
    ]
    for boundary, rows in zip(boundaries, loads, strict=True):
        resource = dim(rows).apply_hints(
            write_disposition={
                **SCD2,
                "validity_column_names": ["valid_from", "valid_until"],
                "active_record_timestamp": "9999-12-31",
                "boundary_timestamp": boundary.isoformat(),
            },
            columns={"gone": {"hard_delete": True, "data_type": "bool"}},
        )
        pipeline.run(resource)
    d1, d2, d3 = boundaries
    assert _data(lake, "dim", ["customer", "valid_from"]) == [
        {"customer": 1, "c": "foo", "valid_from": d1, "valid_until": d2, "gone": None},
        {"customer": 1, "c": "foo2", "valid_from": d2, "valid_until": active, "gone": None},
        {"customer": 2, "c": "bar", "valid_from": d1, "valid_until": d3, "gone": None},
    ]


def test_scd2_arrow_items_and_row_version_column(lake: Lake, pipelines_dir: str) -> None:
    pipeline = _pipeline(lake, pipelines_dir)
    hashed = {**SCD2, "boundary_timestamp": "2024-01-01"}
    pipeline.run(pa.table({"k": [1, 2], "v": ["a", "b"]}), table_name="h", write_disposition=hashed)
    hashed["boundary_timestamp"] = "2024-01-02"
    pipeline.run(pa.table({"k": [1, 2], "v": ["a", "B"]}), table_name="h", write_disposition=hashed)
    versioned = {**SCD2, "row_version_column_name": "version", "boundary_timestamp": "2024-01-01"}
    # The version column identifies a row version (unique, like a row hash).
    first = [
        {"k": 1, "v": "a", "version": "1.1", "items": [{"n": 1}]},
        {"k": 2, "v": "b", "version": "2.1", "items": [{"n": 2}]},
    ]
    pipeline.run(first, table_name="r", write_disposition=versioned)
    versioned["boundary_timestamp"] = "2024-01-02"
    # Only the version column decides: k=1 changed its value but not its version.
    second = [
        {"k": 1, "v": "a-ignored", "version": "1.1", "items": [{"n": 10}]},
        {"k": 2, "v": "b2", "version": "2.2", "items": [{"n": 20}]},
    ]
    pipeline.run(second, table_name="r", write_disposition=versioned)

    jan1, jan2 = (datetime.datetime(2024, 1, d, tzinfo=UTC) for d in (1, 2))
    for table, extra in (("h", {}), ("r", {"version": "1.1"})):
        rows = _data(lake, table, ["k", "_dlt_valid_from"])
        assert rows[0] == {
            "k": 1,
            "v": "a",
            **extra,
            "_dlt_valid_from": jan1,
            "_dlt_valid_to": None,
        }
        assert [(r["k"], r["_dlt_valid_from"], r["_dlt_valid_to"]) for r in rows] == [
            (1, jan1, None),
            (2, jan1, jan2),
            (2, jan2, None),
        ]
    # Root ids are random with a version column: child rows of unchanged versions are skipped.
    versions = {r["_dlt_id"]: r["version"] for r in lake.rows("ds", "r", "version")}
    items = lake.rows("ds", "r__items", "n")
    assert [(versions[r["_dlt_root_id"]], r["n"]) for r in items] == [
        ("1.1", 1),
        ("2.1", 2),
        ("2.2", 20),
    ]


# ------------------------------------------------------------------------------ exactly once
def _commits_with_load(lake: Lake, table: str, load_id: str) -> int:
    if lake.table_format == "delta":
        from deltalake import DeltaTable

        history = DeltaTable(lake.table_url("ds", table)).history()
        return sum(1 for entry in history if entry.get("quiver.load_id") == load_id)
    from pyiceberg.table import StaticTable

    metadata = StaticTable.from_metadata(lake.newest_iceberg_metadata("ds", table)).metadata
    ours = {
        s.snapshot_id: s
        for s in metadata.snapshots
        if s.summary is not None and s.summary.get("quiver.load_id") == load_id
    }
    # One transaction can add several snapshots (rewrite, append): count the first of each.
    return sum(1 for s in ours.values() if s.parent_snapshot_id not in ours)


@pytest.mark.parametrize("strategy", ["upsert", "delete-insert"])
def test_crash_after_commits_then_rerun_merges_once(
    lake: Lake, pipelines_dir: str, strategy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = _pipeline(lake, pipelines_dir)
    disposition = {"disposition": "merge", "strategy": strategy}
    first = [{"id": i, "v": 0, "items": [{"n": i}]} for i in range(4)]
    pipeline.run(first, table_name="t", write_disposition=disposition, primary_key="id")

    def boom(schema: Any, load_id: str) -> None:
        raise RuntimeError("boom")

    second = [{"id": i, "v": 1, "items": [{"n": 10 * i}, {"n": 10 * i + 1}]} for i in (1, 5)]
    with monkeypatch.context() as patch:  # every table committed, then the _dlt_loads row fails
        patch.setattr(sidecars_module, "loads_row", boom)
        with pytest.raises(quiver.PipelineStepFailed):
            pipeline.run(second, table_name="t", write_disposition=disposition, primary_key="id")
    info = pipeline.run()
    assert info is not None and len(info.loads_ids) == 1
    load_id = info.loads_ids[0]

    assert _data(lake, "t", "id") == [
        {"id": 0, "v": 0},
        {"id": 1, "v": 1},
        {"id": 2, "v": 0},
        {"id": 3, "v": 0},
        {"id": 5, "v": 1},
    ]
    assert _children(lake, "t", "t__items", "n") == {
        (0, 0),
        (1, 10),
        (1, 11),
        (2, 2),
        (3, 3),
        (5, 50),
        (5, 51),
    }
    for table in ("t", "t__items"):
        assert _commits_with_load(lake, table, load_id) == 1


@pytest.mark.parametrize("strategy", ["upsert", "insert-only", "delete-insert"])
def test_child_commit_retried_after_the_root_committed(
    lake: Lake, pipelines_dir: str, strategy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child table's merge that runs after its root's commit (a retry) sees the same plan."""
    from quiver.destinations.delta.format import DeltaFormat
    from quiver.destinations.iceberg.format import IcebergFormat

    pipeline = _pipeline(lake, pipelines_dir)
    disposition = {"disposition": "merge", "strategy": strategy}
    first = [{"id": i, "items": [{"n": i}]} for i in range(3)]
    pipeline.run(first, table_name="t", write_disposition=disposition, primary_key="id")

    format_class = DeltaFormat if lake.table_format == "delta" else IcebergFormat
    original = format_class.commit
    failures = []

    def flaky(self: Any, commit: Any) -> None:
        if commit.table_name == "t__items" and not failures:
            failures.append(commit.load_id)
            raise ConnectionError("connection reset while committing")
        original(self, commit)

    monkeypatch.setattr(format_class, "commit", flaky)
    second = [{"id": 1, "items": [{"n": 11}]}, {"id": 3, "items": [{"n": 33}]}]
    pipeline.run(second, table_name="t", write_disposition=disposition, primary_key="id")
    assert failures
    expected = {(0, 0), (1, 11), (2, 2), (3, 33)}
    if strategy == "insert-only":
        expected = {(0, 0), (1, 1), (2, 2), (3, 33)}
    assert _children(lake, "t", "t__items", "n") == expected
