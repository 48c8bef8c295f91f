"""table_format="native": plain parquet, jsonl and csv files under a layout."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

import quiver


def _pipeline(pipelines_dir: str, bucket: Path, layout: str | None = None) -> quiver.Pipeline:
    kwargs = {"layout": layout} if layout else {}
    return quiver.pipeline(
        "plain",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(
            bucket_url=str(bucket), table_format="native", **kwargs
        ),
        dataset_name="ds",
    )


ROWS = [{"id": 1, "name": "a", "tags": [{"t": "x"}]}, {"id": 2, "name": "b", "tags": []}]


@pytest.mark.parametrize("file_format", ["parquet", "jsonl", "csv"])
def test_files_per_format(pipelines_dir: str, bucket: Path, file_format: str) -> None:
    info = _pipeline(pipelines_dir, bucket).run(
        ROWS, table_name="items", loader_file_format=file_format
    )
    assert info is not None
    (load_id,) = info.loads_ids
    files = sorted((bucket / "ds" / "items").iterdir())
    assert len(files) == 1
    name = files[0].name
    assert name.startswith(f"{load_id}.") and name.endswith(f".{file_format}")
    reader = {"parquet": pl.read_parquet, "jsonl": pl.read_ndjson, "csv": pl.read_csv}[file_format]
    frame = reader(files[0]).sort("id")
    assert frame["id"].to_list() == [1, 2]
    assert frame["name"].to_list() == ["a", "b"]
    child = reader(next((bucket / "ds" / "items__tags").iterdir()))
    assert child["t"].to_list() == ["x"]
    loads = [
        json.loads(line)
        for p in (bucket / "ds" / "_dlt_loads").iterdir()
        for line in p.read_text().splitlines()
    ]
    assert [row["load_id"] for row in loads] == [load_id]


def test_replace_deletes_previous_files(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    pipeline.run(ROWS, table_name="items")
    pipeline.run(ROWS, table_name="items")
    assert len(list((bucket / "ds" / "items").iterdir())) == 2
    pipeline.run([{"id": 3, "name": "c"}], table_name="items", write_disposition="replace")
    (only,) = (bucket / "ds" / "items").iterdir()
    assert pl.read_parquet(only)["id"].to_list() == [3]


def test_custom_layout(pipelines_dir: str, bucket: Path) -> None:
    info = _pipeline(
        pipelines_dir, bucket, layout="{table_name}/{schema_name}/{load_id}.{file_id}.{ext}"
    ).run(ROWS, table_name="items")
    assert info is not None
    (folder,) = (bucket / "ds" / "items").iterdir()
    assert folder.name == "plain"


def test_merge_is_refused_with_the_formats_that_support_it(
    pipelines_dir: str, bucket: Path
) -> None:
    with pytest.raises(quiver.PipelineStepFailed) as failed:
        _pipeline(pipelines_dir, bucket).run(
            ROWS, table_name="items", write_disposition="merge", primary_key="id"
        )
    message = str(failed.value)
    assert "merge" in message and "'delta' or 'iceberg'" in message and "items" in message


def test_layout_must_keep_tables_in_folders() -> None:
    from quiver.destinations.files import FilesFormat
    from quiver.destinations.location import resolve_location

    with pytest.raises(ValueError, match="table_name"):
        FilesFormat(resolve_location("/tmp/x"), "app", layout="{load_id}.{ext}")


def test_delta_on_memory_fails_at_pipeline_creation(pipelines_dir: str) -> None:
    from quiver.errors import UnsupportedStorageError

    with pytest.raises(UnsupportedStorageError, match="memory") as failed:
        quiver.pipeline(
            "mem",
            pipelines_dir=pipelines_dir,
            destination=quiver.destinations.filesystem(bucket_url="memory://lake"),
        )
    assert "iceberg" in str(failed.value)


@pytest.mark.parametrize("table_format", ["iceberg", "native"])
def test_memory_filesystem_works_for_iceberg_and_files(
    pipelines_dir: str, table_format: str
) -> None:
    import fsspec

    bucket = f"memory://lake-{table_format}"
    info = quiver.pipeline(
        "mem",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=bucket, table_format=table_format),
    ).run(ROWS, table_name="items")
    assert info is not None
    fs = fsspec.filesystem("memory")
    assert fs.exists(f"/lake-{table_format}/mem_dataset/items")
    if table_format == "iceberg":
        from pyiceberg.table import StaticTable

        from quiver.destinations.location import FSSPEC_FILE_IO_IMPL

        metadata = sorted(
            p
            for p in fs.ls(f"/lake-{table_format}/mem_dataset/items/metadata", detail=False)
            if p.endswith(".metadata.json")
        )[-1]
        table = StaticTable.from_metadata(
            f"memory://{metadata.lstrip('/')}",
            # pyiceberg's own FsspecFileIO lacks the memory scheme; quiver's subclass adds it.
            properties={"py-io-impl": FSSPEC_FILE_IO_IMPL, "quiver.fsspec-schemes": "memory"},
        )
        assert sorted(table.scan().to_arrow().column("id").to_pylist()) == [1, 2]
