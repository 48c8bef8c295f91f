"""Maintenance: compaction and vacuum keep every row; expire snapshots keeps the data."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

import quiver
from quiver import maintenance
from tests.readers import Lake


@pytest.mark.parametrize("table_format", ["delta", "iceberg"])
def test_compact_vacuum_expire_keep_rows(
    pipelines_dir: str, tmp_path: Path, table_format: str
) -> None:
    lake = Lake(table_format, "local", f"file://{tmp_path / 'lake'}")
    pipeline = quiver.pipeline(
        "maint",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(
            bucket_url=lake.bucket_url, table_format=table_format
        ),
        dataset_name="ds",
    )
    for start in range(0, 50, 10):
        pipeline.run([{"id": i, "v": f"x{i}"} for i in range(start, start + 10)], table_name="t")

    results = maintenance.optimize(pipeline, ["t"])
    if table_format == "delta":
        (result,) = results
        assert result.details["numFilesRemoved"] == 5 and result.details["numFilesAdded"] == 1
        vacuumed = maintenance.vacuum(pipeline, ["t"], retention_hours=0)
        assert vacuumed[0].details["files_deleted"] == 5
    else:  # pyiceberg cannot rewrite data files: reported as skipped, with the reason
        (result,) = results
        assert result.skipped and "pyiceberg" in result.details["skipped"]
    expired = maintenance.expire_snapshots(pipeline, ["t"], older_than=datetime.timedelta(0))
    assert [r.table_name for r in expired] == ["t"]
    if table_format == "iceberg":
        assert expired[0].details["expired"] == 4  # all but the current of 5 snapshots
    assert sorted(lake.read("ds", "t")["id"].to_list()) == list(range(50))
