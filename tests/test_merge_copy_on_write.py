"""Upserts with child tables into tables whose files hold several row groups.

Delta merges rewrite only the target files (and, inside them, only the row groups) that keep
rows; this checks the result against dlt's documented upsert semantics, by hand:

* a parent in the load replaces the target row with its key, and its child rows replace the
  old ones, whether it now has more, fewer or no children;
* a row whose ``hard_delete`` column is true deletes the parent and its children;
* new parents come with their children; within the load the last row of a key wins.

The target is first loaded in two runs (two files per table) and a third that sends a row
again unchanged (its files are rewritten). Then, on Delta, it is compacted by delta-rs into one
file of 3-row row groups, so some row groups lose every row, some a few and some none; or left
in several files whose key columns are matched in one lookup, or one lookup per file. Iceberg
tables get the table property ``write.parquet.row-group-limit=3``, so the files rewritten by the
third load hold 3-row row groups. Both formats must agree. Read back with deltalake /
pyiceberg, not quiver.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

import quiver
from quiver.destinations.adapters import iceberg_adapter
from tests.readers import Lake

UPSERT = {"disposition": "merge", "strategy": "upsert"}


@pytest.fixture(
    params=["delta-row-groups", "delta-files", "delta-file-by-file", "iceberg-row-groups"]
)
def layout(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "delta-file-by-file":
        from quiver.destinations.merge import plan

        monkeypatch.setattr(plan, "MATCH_ROWS", 1)
        monkeypatch.setattr(plan, "_STREAM_ROWS", 2)  # the load's kept rows, 2 at a time
    return str(request.param)


@pytest.fixture
def lake(layout: str, tmp_path: Path) -> Lake:
    return Lake(layout.split("-")[0], "local", f"file://{tmp_path / 'lake'}")


@quiver.resource(
    name="t",
    primary_key="id",
    write_disposition=UPSERT,
    columns={"deleted": {"hard_delete": True, "data_type": "bool"}},
)
def parents(rows: list[dict[str, Any]]) -> Any:
    yield rows


def _parent(key: int, value: str, skus: list[str], deleted: bool | None = None) -> dict[str, Any]:
    return {"id": key, "v": value, "deleted": deleted, "items": [{"sku": s} for s in skus]}


def _iceberg_row_groups(lake: Lake, table: str) -> list[int]:
    """Row groups of each data file of the Iceberg table (pyiceberg's StaticTable)."""
    from pyiceberg.table import StaticTable

    metadata = lake.newest_iceberg_metadata("ds", table)
    static = StaticTable.from_metadata(metadata)
    files = [task.file.file_path for task in static.scan().plan_files()]
    return [pq.read_metadata(path.removeprefix("file://")).num_row_groups for path in files]


def _compact(lake: Lake, table: str) -> None:
    """Rewrite the Delta table into one file of 3-row row groups (delta-rs' optimize)."""
    from deltalake import DeltaTable, WriterProperties

    path = Path(lake.bucket_url.removeprefix("file://")) / "ds" / table
    properties = WriterProperties(max_row_group_size=3, write_batch_size=3)
    DeltaTable(str(path)).optimize.compact(writer_properties=properties)
    (file,) = DeltaTable(str(path)).file_uris()
    assert pq.read_metadata(file).num_row_groups == 4  # what the test is about


def test_upsert_with_children_into_files_of_many_row_groups(
    lake: Lake, layout: str, pipelines_dir: str
) -> None:
    pipeline: quiver.Pipeline = lake.pipeline(pipelines_dir, "cow")
    resource = parents
    if layout == "iceberg-row-groups":
        resource = iceberg_adapter(parents, table_properties={"write.parquet.row-group-limit": "3"})
    # Parent i has i % 3 children: child rows 1-0 2-0 2-1 | 4-0 5-0 5-1 | 7-0 8-0 8-1 | ...
    first = [_parent(i, f"old{i}", [f"{i}-{j}" for j in range(i % 3)]) for i in range(12)]
    pipeline.run(resource(first[:6]))
    pipeline.run(resource(first[6:]))
    pipeline.run(resource([first[5]]))  # the same row again: the tables do not change
    if layout == "delta-row-groups":
        _compact(lake, "t")
        _compact(lake, "t__items")
    if layout == "iceberg-row-groups":
        assert max(_iceberg_row_groups(lake, "t")) > 1  # what the test is about

    pipeline.run(
        resource(
            [
                _parent(0, "new0", ["0-new"]),  # no children before, one now
                _parent(1, "new1", ["1-a", "1-b", "1-c"]),  # more children
                _parent(2, "new2", ["2-a"]),  # fewer children
                _parent(4, "gone", ["4-x"], deleted=True),  # hard delete: parent and children
                _parent(5, "new5", []),  # every child vanished
                _parent(7, "first7", ["7-first"]),
                _parent(7, "new7", ["7-new"]),  # the last row of a key wins
                _parent(12, "new12", ["12-a", "12-b"]),  # new parents
                _parent(13, "new13", []),
            ]
        )
    )

    roots = lake.rows("ds", "t", "id")
    assert [(r["id"], r["v"]) for r in roots] == [
        (0, "new0"),
        (1, "new1"),
        (2, "new2"),
        (3, "old3"),
        (5, "new5"),
        (6, "old6"),
        (7, "new7"),
        (8, "old8"),
        (9, "old9"),
        (10, "old10"),
        (11, "old11"),
        (12, "new12"),
        (13, "new13"),
    ]
    key_of = {r["_dlt_id"]: r["id"] for r in roots}
    children = lake.rows("ds", "t__items", "sku")
    assert sorted((key_of[c["_dlt_root_id"]], c["sku"]) for c in children) == [
        (0, "0-new"),
        (1, "1-a"),
        (1, "1-b"),
        (1, "1-c"),
        (2, "2-a"),
        (7, "7-new"),
        (8, "8-0"),
        (8, "8-1"),
        (10, "10-0"),
        (11, "11-0"),
        (11, "11-1"),
        (12, "12-a"),
        (12, "12-b"),
    ]
    assert len({c["_dlt_id"] for c in children}) == len(children)
