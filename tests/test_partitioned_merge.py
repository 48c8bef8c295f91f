"""A merge into a partitioned Iceberg table registers the files normalize split by partition,
as an append does: no second encoding through pyiceberg's writer, and every file holds one
partition value that a reader's pruning can trust."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from pyiceberg.table import StaticTable

import quiver
from tests.readers import Lake


def test_upsert_into_a_partitioned_iceberg_table_registers_the_split_files(
    tmp_path: Path,
) -> None:
    lake = Lake("iceberg", "local", f"file://{tmp_path / 'lake'}")
    pipeline: quiver.Pipeline = lake.pipeline(str(tmp_path / "pipelines"), "parts")
    hints = {"part": {"partition": True}}
    first = [{"id": i, "v": "old", "part": i % 3} for i in range(6)]
    pipeline.run(first, table_name="t", write_disposition="merge", primary_key="id", columns=hints)
    second = [{"id": 1, "v": "new", "part": 1}, {"id": 7, "v": "added", "part": 1}]
    info = pipeline.run(
        second, table_name="t", write_disposition="merge", primary_key="id", columns=hints
    )
    load_id = info.loads_ids[0]

    table = StaticTable.from_metadata(lake.newest_iceberg_metadata("ds", "t"))
    rows = sorted((r["id"], r["v"], r["part"]) for r in table.scan().to_arrow().to_pylist())
    expected = [(i, "old", i % 3) for i in range(6) if i != 1] + [(1, "new", 1), (7, "added", 1)]
    assert rows == sorted(expected)

    tasks = list(table.scan().plan_files())
    from_this_load = [t.file for t in tasks if Path(t.file.file_path).name.startswith(load_id)]
    # The load's one partition (part=1) arrives as the file normalize wrote, under its own name.
    assert len(from_this_load) == 1
    assert from_this_load[0].partition[0] == 1
    written = pq.read_table(from_this_load[0].file_path.removeprefix("file://"))
    assert set(written.column("part").to_pylist()) == {1}
    assert sorted(written.column("id").to_pylist()) == [1, 7]
    # Pruning: a filter on the partition column plans only files of that partition.
    pruned = list(table.scan(row_filter="part == 1").plan_files())
    assert all(t.file.partition[0] == 1 for t in pruned)
