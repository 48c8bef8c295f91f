"""Partitioning: identity partitions on Delta and Iceberg, transforms on Iceberg."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

import quiver
from quiver.destinations.adapters import iceberg_adapter, iceberg_partition
from tests.readers import Lake

UTC = datetime.UTC


def _rows(start: int, count: int) -> list[dict[str, object]]:
    return [
        {
            "id": i,
            "country": ["PL", "DE", "US"][i % 3],
            "created_at": datetime.datetime(2024, 1, 1 + i % 5, 12, tzinfo=UTC),
        }
        for i in range(start, start + count)
    ]


def _pipeline(pipelines_dir: str, lake: Lake) -> quiver.Pipeline:
    return quiver.pipeline(
        "parts",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(
            bucket_url=lake.bucket_url, table_format=lake.table_format
        ),
        dataset_name="ds",
    )


@pytest.mark.parametrize("table_format", ["delta", "iceberg"])
def test_identity_partition_from_column_hint(
    pipelines_dir: str, tmp_path: Path, table_format: str
) -> None:
    lake = Lake(table_format, "local", f"file://{tmp_path / 'lake'}")
    pipeline = _pipeline(pipelines_dir, lake)
    hints = {"country": {"partition": True}}
    pipeline.run(_rows(0, 30), table_name="sales", columns=hints)
    pipeline.run(_rows(30, 9), table_name="sales", columns=hints)
    frame = lake.read("ds", "sales").sort("id")
    assert frame["id"].to_list() == list(range(39))
    assert frame["country"].to_list() == [["PL", "DE", "US"][i % 3] for i in range(39)]
    if table_format == "delta":
        folders = sorted(p.name for p in (tmp_path / "lake" / "ds" / "sales").iterdir())
        assert [f for f in folders if f.startswith("country=")] == [
            "country=DE",
            "country=PL",
            "country=US",
        ]
    else:
        from pyiceberg.table import StaticTable

        table = StaticTable.from_metadata(lake.newest_iceberg_metadata("ds", "sales"))
        assert [f.name for f in table.spec().fields] == ["country"]
    pipeline.run(_rows(100, 3), table_name="sales", columns=hints, write_disposition="replace")
    assert sorted(lake.read("ds", "sales")["id"].to_list()) == [100, 101, 102]


def test_iceberg_transforms(pipelines_dir: str, tmp_path: Path) -> None:
    lake = Lake("iceberg", "local", f"file://{tmp_path / 'lake'}")
    events = iceberg_adapter(
        quiver.resource(_rows(0, 20), name="events"),
        partition=[iceberg_partition.day("created_at"), iceberg_partition.bucket(4, "id")],
    )
    _pipeline(pipelines_dir, lake).run(events)
    from pyiceberg.table import StaticTable

    table = StaticTable.from_metadata(lake.newest_iceberg_metadata("ds", "events"))
    assert [str(f.transform) for f in table.spec().fields] == ["day", "bucket[4]"]
    assert sorted(table.scan().to_arrow().column("id").to_pylist()) == list(range(20))
    # Every data file belongs to one (day, bucket) partition: 5 distinct days, buckets 0..3.
    partitions = table.inspect.files().column("partition").to_pylist()
    assert {p["created_at_day"] for p in partitions} == {
        datetime.date(2024, 1, d) for d in range(1, 6)
    }
    assert {p["id_bucket_4"] for p in partitions} <= {0, 1, 2, 3}
