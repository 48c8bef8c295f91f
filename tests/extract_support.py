"""Helpers for the extract tests: a pipeline into local Delta, and readers for what it wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

import quiver


def make_pipeline(pipelines_dir: str, bucket: Path, name: str = "ext") -> quiver.Pipeline:
    return quiver.pipeline(
        name,
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
        dataset_name="ds",
    )


def table_rows(bucket: Path, table: str, sort_by: str | list[str] = "id") -> list[dict[str, Any]]:
    """Rows of a loaded Delta table (read by polars), sorted, without quiver's lineage columns."""
    frame = pl.read_delta(str(bucket / "ds" / table)).sort(sort_by)
    return [{k: v for k, v in row.items() if not k.startswith("_dlt_")} for row in frame.to_dicts()]


def column_names(bucket: Path, table: str) -> list[str]:
    return [
        c for c in pl.read_delta(str(bucket / "ds" / table)).columns if not c.startswith("_dlt_")
    ]


def extracted_batches(pipeline: quiver.Pipeline) -> dict[str, list[list[pa.RecordBatch]]]:
    """Record batches of every file of the newest extracted package, by table (one list per file)."""
    load_id = pipeline.list_extracted_load_packages()[-1]
    jobs = pipeline.working_dir / "extracted" / load_id / "jobs" / "new"
    files: dict[str, list[list[pa.RecordBatch]]] = {}
    for path in sorted(jobs.iterdir()):
        if path.name.endswith(".arrow.parquet"):  # Arrow items on the fast path: a row group
            parquet = pq.ParquetFile(path)  # per extracted batch
            groups = range(parquet.num_row_groups)
            batches = [b for i in groups for b in parquet.read_row_group(i).to_batches()]
        else:
            with pa.memory_map(str(path)) as source:
                batches = list(pa.ipc.open_stream(source))
        files.setdefault(path.name.split(".")[0], []).append(batches)
    return files


def extracted_rows(pipeline: quiver.Pipeline, table: str) -> list[dict[str, Any]]:
    """Rows the newest extracted package holds for a table (before normalize)."""
    files = extracted_batches(pipeline).get(table, [])
    return [row for batches in files for batch in batches for row in batch.to_pylist()]


def package_tables(pipeline: quiver.Pipeline) -> dict[str, Any]:
    """Table schemas of the newest extracted package."""
    import json

    load_id = pipeline.list_extracted_load_packages()[-1]
    package = pipeline.working_dir / "extracted" / load_id
    tables: dict[str, Any] = json.loads((package / "schema.json").read_text())["tables"]
    return tables
