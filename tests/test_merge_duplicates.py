"""A merge into a table that already holds duplicate keys gives the same table on Delta and Iceberg.

A table gets duplicate keys when it was appended to before it became a merge table, or when
another tool wrote it. dlt expects the primary key to be unique and does not say what happens
otherwise (its Delta upsert updates every duplicate, its Iceberg upsert keeps one row). quiver
picks one rule for both formats (docs/merge.md, "Duplicate keys already in the table"):

* upsert and delete-insert: every target row with a key in the load is replaced, so the key ends
  with exactly the load's row;
* insert-only: rows already in the table are never touched, duplicates included;
* a hard delete removes every row with the key.

Tables are read back with polars (Delta) and pyiceberg (Iceberg), not with quiver.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import quiver
from tests.readers import Lake

UPSERT = {"disposition": "merge", "strategy": "upsert"}
INSERT_ONLY = {"disposition": "merge", "strategy": "insert-only"}
DELETE_INSERT = {"disposition": "merge", "strategy": "delete-insert"}
DUPLICATED = [
    {"id": 1, "v": "old-a"},
    {"id": 1, "v": "old-b"},
    {"id": 2, "v": "keep-a"},
    {"id": 2, "v": "keep-b"},
    {"id": 3, "v": "gone-a"},
    {"id": 3, "v": "gone-b"},
]


@pytest.fixture(params=["delta", "iceberg"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    return Lake(request.param, "local", f"file://{tmp_path / 'lake'}")


def _values(lake: Lake) -> list[tuple[Any, Any]]:
    return sorted((row["id"], row["v"]) for row in lake.rows("ds", "t", ["id", "v"]))


def _table_with_duplicates(lake: Lake, pipelines_dir: str) -> quiver.Pipeline:
    pipeline: quiver.Pipeline = lake.pipeline(pipelines_dir, "dups")
    pipeline.run(DUPLICATED, table_name="t", write_disposition="append")
    assert _values(lake) == sorted((r["id"], r["v"]) for r in DUPLICATED)
    return pipeline


@pytest.mark.parametrize("disposition", [UPSERT, DELETE_INSERT], ids=["upsert", "delete-insert"])
def test_a_key_in_the_load_replaces_every_row_with_that_key(
    lake: Lake, pipelines_dir: str, disposition: dict[str, str]
) -> None:
    pipeline = _table_with_duplicates(lake, pipelines_dir)
    load = [{"id": 1, "v": "new"}, {"id": 4, "v": "inserted"}]
    pipeline.run(load, table_name="t", write_disposition=disposition, primary_key="id")
    assert _values(lake) == [
        (1, "new"),
        (2, "keep-a"),  # keys absent from the load keep their duplicates
        (2, "keep-b"),
        (3, "gone-a"),
        (3, "gone-b"),
        (4, "inserted"),
    ]


def test_insert_only_leaves_existing_duplicates_alone(lake: Lake, pipelines_dir: str) -> None:
    pipeline = _table_with_duplicates(lake, pipelines_dir)
    load = [{"id": 1, "v": "ignored"}, {"id": 4, "v": "inserted"}]
    pipeline.run(load, table_name="t", write_disposition=INSERT_ONLY, primary_key="id")
    assert _values(lake) == [
        (1, "old-a"),
        (1, "old-b"),
        (2, "keep-a"),
        (2, "keep-b"),
        (3, "gone-a"),
        (3, "gone-b"),
        (4, "inserted"),
    ]


@pytest.mark.parametrize("disposition", [UPSERT, DELETE_INSERT], ids=["upsert", "delete-insert"])
def test_a_hard_delete_removes_every_row_with_the_key(
    lake: Lake, pipelines_dir: str, disposition: dict[str, str]
) -> None:
    pipeline = _table_with_duplicates(lake, pipelines_dir)
    load = [{"id": 3, "v": None, "deleted": True}, {"id": 1, "v": "new", "deleted": False}]
    pipeline.run(
        load,
        table_name="t",
        write_disposition=disposition,
        primary_key="id",
        columns={"deleted": {"hard_delete": True, "data_type": "bool"}},
    )
    assert _values(lake) == [(1, "new"), (2, "keep-a"), (2, "keep-b")]


def test_upsert_twice_converges_to_one_row_per_key(lake: Lake, pipelines_dir: str) -> None:
    pipeline = _table_with_duplicates(lake, pipelines_dir)
    for value in ("first", "second"):
        load = [{"id": key, "v": f"{value}-{key}"} for key in (1, 2, 3)]
        pipeline.run(load, table_name="t", write_disposition=UPSERT, primary_key="id")
    assert _values(lake) == [(1, "second-1"), (2, "second-2"), (3, "second-3")]


def test_upsert_with_child_rows_on_every_lake(any_lake: Lake, pipelines_dir: str) -> None:
    """The copy-on-write merge (Delta) reads, rewrites and places files on S3 as on local disk."""
    pipeline: quiver.Pipeline = any_lake.pipeline(pipelines_dir, "lakes")
    first = [{"id": key, "v": f"a{key}", "tags": [f"t{key}", "x"]} for key in range(1, 5)]
    pipeline.run(first, table_name="t", write_disposition=UPSERT, primary_key="id")
    second = [
        {"id": 2, "v": "b2", "tags": ["only"]},  # update: its child rows are replaced
        {"id": 4, "v": "b4", "tags": []},  # update: its child rows are deleted
        {"id": 9, "v": "b9", "tags": ["new"]},  # insert
    ]
    pipeline.run(second, table_name="t", write_disposition=UPSERT, primary_key="id")
    roots = any_lake.rows("ds", "t", "id")
    assert [(r["id"], r["v"]) for r in roots] == [
        (1, "a1"),
        (2, "b2"),
        (3, "a3"),
        (4, "b4"),
        (9, "b9"),
    ]
    ids = {r["_dlt_id"]: r["id"] for r in roots}
    children = any_lake.rows("ds", "t__tags", ["_dlt_root_id", "value"])
    assert sorted((ids[c["_dlt_root_id"]], c["value"]) for c in children) == [
        (1, "t1"),
        (1, "x"),
        (2, "only"),
        (3, "t3"),
        (3, "x"),
        (9, "new"),
    ]


@pytest.mark.parametrize("disposition", [UPSERT, DELETE_INSERT], ids=["upsert", "delete-insert"])
def test_partitioned_tables_agree_too(
    lake: Lake, pipelines_dir: str, disposition: dict[str, str]
) -> None:
    """Partitioned Delta tables merge with delta-rs' MERGE (not copy-on-write): same rule."""
    pipeline: quiver.Pipeline = lake.pipeline(pipelines_dir, "parts")
    hints = {"part": {"partition": True}}
    rows = [{**row, "part": row["id"] % 2} for row in DUPLICATED]
    pipeline.run(rows, table_name="t", write_disposition="append", columns=hints)
    if lake.table_format == "delta":
        from deltalake import DeltaTable

        partitions = DeltaTable(lake.table_url("ds", "t").removeprefix("file://"))
        assert partitions.metadata().partition_columns == ["part"]
    load = [{"id": 1, "v": "new", "part": 1}, {"id": 4, "v": "inserted", "part": 0}]
    pipeline.run(
        load, table_name="t", write_disposition=disposition, primary_key="id", columns=hints
    )
    assert _values(lake) == [
        (1, "new"),
        (2, "keep-a"),
        (2, "keep-b"),
        (3, "gone-a"),
        (3, "gone-b"),
        (4, "inserted"),
    ]
