"""Load package infos and load metrics, as dlt documents them (docs:
running-in-production/running.md "Inspect and save the load info and trace";
API reference dlt.common.pipeline (LoadInfo, StepInfo) and dlt.common.storages.load_package
(LoadPackageInfo, LoadJobInfo, ParsedLoadJobFileName); dlt.pipeline.Pipeline
``get_load_package_info``, ``list_failed_jobs_in_package``).

Row counts are checked against the table read back with polars, not against quiver's counts.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import quiver
from quiver.errors import DestinationHasFailedJobs, LoadPackageNotFound
from quiver.pipeline.infos import LoadJobMetrics
from tests.readers import delta_rows_polars


def _pipeline(pipelines_dir: str, bucket: Path, name: str = "pkgs") -> Any:
    return quiver.pipeline(
        name,
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
        dataset_name="ds",
    )


def _rows(n: int = 7) -> list[dict[str, Any]]:
    return [{"id": i, "tags": [{"t": "a"}, {"t": "b"}, {"t": "c"}]} for i in range(n)]


def _int_table(bucket: Path) -> None:
    from deltalake import write_deltalake

    write_deltalake(str(bucket / "ds" / "events"), pa.table({"id": pa.array([1], pa.int64())}))


# ----------------------------------------------------------------------- packages
def test_loaded_package_info_has_jobs_with_file_info(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    info = pipeline.run(_rows(), table_name="items")
    assert info is not None
    (load_id,) = info.loads_ids
    package = pipeline.get_load_package_info(load_id)
    assert package.load_id == load_id and package.state == "loaded"
    assert package.schema_name == "pkgs" and package.schema is not None
    assert {"items", "items__tags"} <= set(package.schema.tables)
    assert package.schema_hash == package.schema.version_hash
    assert isinstance(package.completed_at, datetime.datetime)
    assert set(package.jobs) == {"new_jobs", "started_jobs", "completed_jobs", "failed_jobs"}
    assert package.jobs["new_jobs"] == package.jobs["failed_jobs"] == []
    jobs = package.jobs["completed_jobs"]
    assert sorted(job.job_file_info.table_name for job in jobs) == ["items", "items__tags"]
    for job in jobs:
        file_info = job.job_file_info
        assert job.state == "completed_jobs" and job.failed_message is None
        assert Path(job.file_path).name == file_info.file_name()
        assert job.file_size == os.path.getsize(job.file_path) > 0
        assert len(file_info.file_id) == 10 and file_info.retry_count == 0
        assert file_info.file_format == "parquet" and not file_info.is_compressed
        assert file_info.job_id() == f"{file_info.table_name}.{file_info.file_id}.parquet"
        assert job.created_at is not None and job.created_at.tzinfo is not None
        assert job.created_at <= package.completed_at and job.elapsed >= 0
        assert job.table_name == file_info.table_name
    flat = package.asdict()
    assert {j["job_id"] for j in flat["jobs"]} == {j.job_file_info.job_id() for j in jobs}
    assert flat["schema_name"] == "pkgs" and flat["state"] == "loaded"
    text = str(package)
    assert f"The package with load id {load_id} for schema pkgs is in LOADED state." in text
    assert "Job: items." in text and "File type: parquet" in text
    # the same info, as listed in LoadInfo
    assert info.load_packages[0].jobs["completed_jobs"] == jobs


def test_package_info_in_every_stage(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    extracted = pipeline.extract(_rows(), table_name="items")
    (load_id,) = extracted.loads_ids
    package = pipeline.get_load_package_info(load_id)
    assert package.state == "extracted" and package.completed_at is None
    (job,) = package.jobs["new_jobs"]
    assert job.job_file_info.table_name == "items" and job.state == "new_jobs"
    assert "NOT YET LOADED" in str(package)
    assert pipeline.get_load_package_state(load_id)["state"] == "extracted"

    pipeline.normalize()
    package = pipeline.get_load_package_info(load_id)
    assert package.state == "normalized"
    assert sorted(j.table_name for j in package.jobs["new_jobs"]) == ["items", "items__tags"]

    pipeline.load()
    assert pipeline.get_load_package_info(load_id).state == "loaded"
    assert pipeline.get_load_package_state(load_id)["state"] == "loaded"


def test_unknown_load_id_raises(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    info = pipeline.run(_rows(), table_name="items")
    assert info is not None
    with pytest.raises(LoadPackageNotFound) as raised:
        pipeline.get_load_package_info("1234.5")
    assert isinstance(raised.value, LookupError)
    assert "'1234.5'" in str(raised.value) and info.loads_ids[0] in str(raised.value)
    with pytest.raises(LoadPackageNotFound):
        pipeline.list_failed_jobs_in_package("1234.5")


def test_failed_jobs_of_an_aborted_package(pipelines_dir: str, bucket: Path) -> None:
    _int_table(bucket)
    pipeline = _pipeline(pipelines_dir, bucket)
    with pytest.raises(quiver.PipelineStepFailed) as failed:
        pipeline.run([{"id": "not a number"}], table_name="events")
    load_id = failed.value.load_id
    assert load_id is not None
    package = pipeline.get_load_package_info(load_id)
    assert package.state == "aborted"
    (job,) = pipeline.list_failed_jobs_in_package(load_id)
    assert job.state == "failed_jobs" and job.job_file_info.table_name == "events"
    assert job.failed_message is not None and "SchemaMismatchError" in job.failed_message
    assert package.jobs["failed_jobs"] == [job]
    # a new process sees the same
    attached = quiver.attach("pkgs", pipelines_dir=pipelines_dir)
    assert [j.failed_message for j in attached.list_failed_jobs_in_package(load_id)] == [
        job.failed_message
    ]


def test_failed_jobs_listed_and_raised_on_request(
    pipelines_dir: str, bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _int_table(bucket)
    monkeypatch.setenv("LOAD__RAISE_ON_FAILED_JOBS", "false")
    pipeline = _pipeline(pipelines_dir, bucket)
    info = pipeline.run([{"id": "x"}], table_name="events")
    assert info is not None and info.has_failed_jobs
    (load_id,) = info.loads_ids
    assert [j.table_name for j in pipeline.list_failed_jobs_in_package(load_id)] == ["events"]
    (metrics,) = info.metrics[load_id]
    assert [m.state for m in metrics["job_metrics"].values()] == ["failed"]
    with pytest.raises(DestinationHasFailedJobs) as raised:
        info.raise_on_failed_jobs()
    assert load_id in str(raised.value) and "events" in str(raised.value)


# ------------------------------------------------------------------------ metrics
def test_load_info_metrics_per_job(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    info = pipeline.run(_rows(), table_name="items")
    assert info is not None
    (load_id,) = info.loads_ids
    assert list(info.metrics) == [load_id]
    (metrics,) = info.metrics[load_id]  # one entry per package, as dlt
    assert metrics["dataset_name"] == "ds"
    assert metrics["started_at"] is not None and metrics["finished_at"] is not None
    assert metrics["started_at"] <= metrics["finished_at"]
    jobs = metrics["job_metrics"]
    package = info.load_packages[0]
    assert set(jobs) == {j.job_file_info.job_id() for j in package.jobs["completed_jobs"]}
    rows_by_table: dict[str, int] = {}
    for job_id, job in jobs.items():
        assert isinstance(job, LoadJobMetrics) and job.job_id == job_id
        assert job.state == "completed" and job.retry_count == 0
        assert Path(job.file_path).exists() and job.table_name in job_id
        assert job.started_at is not None and job.finished_at is not None
        assert metrics["started_at"] <= job.started_at <= job.finished_at
        assert job.finished_at <= metrics["finished_at"]
        assert job.remote_url is not None and job.remote_url.endswith(f"/ds/{job.table_name}")
        assert job.rows is not None
        rows_by_table[job.table_name] = rows_by_table.get(job.table_name, 0) + job.rows
    # rows per table, read back from the tables
    assert (
        rows_by_table
        == {
            "items": len(delta_rows_polars(bucket / "ds" / "items", "id")),
            "items__tags": len(delta_rows_polars(bucket / "ds" / "items__tags", "t")),
        }
        == {"items": 7, "items__tags": 21}
    )
    assert info.started_at <= metrics["started_at"] and info.finished_at is not None


def test_load_info_asdict_and_str(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    info = pipeline.run(_rows(), table_name="items")
    assert info is not None
    (load_id,) = info.loads_ids
    document = info.asdict()
    for key in (
        "pipeline",
        "job_metrics",
        "destination_type",
        "destination_displayable_credentials",
        "destination_name",
        "environment",
        "staging_type",
        "staging_name",
        "staging_displayable_credentials",
        "destination_fingerprint",
        "dataset_name",
        "loads_ids",
        "load_packages",
        "first_run",
        "started_at",
        "finished_at",
    ):
        assert key in document, key
    assert document["pipeline"] == {"pipeline_name": "pkgs"}
    assert document["loads_ids"] == [load_id] and document["first_run"] is True
    assert {m["load_id"] for m in document["job_metrics"]} == {load_id}
    assert {m["table_name"] for m in document["job_metrics"]} == {"items", "items__tags"}
    assert document["load_packages"][0]["load_id"] == load_id
    json.dumps(document, default=str)  # plain values, ready to store
    assert info.pipeline.pipeline_name == "pkgs"

    # str(load_info) as dlt prints it (verbosity 1), unchanged by the metrics
    lines = str(info).splitlines()
    assert lines[0].startswith("Pipeline pkgs load step completed in ")
    assert lines[1] == "1 load package(s) were loaded to destination filesystem and into dataset ds"
    assert lines[2] == f"The filesystem destination used {bucket.as_uri()} location to store data"
    assert lines[3] == f"Load package {load_id} is LOADED and contains no failed jobs"
    assert len(lines) == 4


def test_run_result_reaches_extract_and_normalize_figures(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    # A pending package first: run() finishes it, then loads the new data (docs/decisions.md).
    pipeline.extract(_rows(3), table_name="items")
    info = pipeline.run(_rows(4), table_name="items")
    assert info is not None and len(info.loads_ids) == 2
    # dlt: run()'s LoadInfo has no extract figures, the trace has; quiver gives both
    assert info.extract_info is not None and info.extract_info.row_counts == {"items": 4}
    assert info.normalize_info is not None
    assert info.normalize_info.row_counts == {"items": 7, "items__tags": 21}
    assert info.normalize_info.loads_ids == info.loads_ids
    assert pipeline.last_trace.last_extract_info is info.extract_info
    # load() alone has neither
    assert pipeline.load().extract_info is None


def test_load_info_and_trace_can_be_loaded_with_a_pipeline(
    pipelines_dir: str, bucket: Path
) -> None:
    # dlt's docs: pipeline.run([load_info], table_name="_load_info") and
    # pipeline.run([pipeline.last_trace], table_name="_trace"): objects go in as their asdict()
    pipeline = _pipeline(pipelines_dir, bucket)
    info = pipeline.run(_rows(), table_name="items")
    assert info is not None
    stored = pipeline.run([info], table_name="_load_info")
    assert stored is not None and not stored.has_failed_jobs
    rows = delta_rows_polars(bucket / "ds" / "_load_info", "dataset_name")
    assert [(r["dataset_name"], r["pipeline__pipeline_name"]) for r in rows] == [("ds", "pkgs")]
    jobs = delta_rows_polars(bucket / "ds" / "_load_info__job_metrics", "table_name")
    assert [(r["table_name"], r["rows"]) for r in jobs] == [("items", 7), ("items__tags", 21)]
    assert pipeline.run([pipeline.last_trace], table_name="_trace") is not None
    steps = delta_rows_polars(bucket / "ds" / "_trace__steps", "started_at")
    assert [r["step"] for r in steps] == ["extract", "normalize", "load"]
