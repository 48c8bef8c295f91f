"""What the pipeline writes into and reads out of load packages: package states and infos.

Each step hands facts to the next in the package's ``package_state.json``
(:class:`~quiver.package.storage.PackageState`); the functions here build those documents and
the :class:`~quiver.pipeline.infos.LoadPackageInfo` that ``LoadInfo`` lists and
``Pipeline.get_load_package_info`` returns, and the load metrics of ``LoadInfo.metrics``.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq

from quiver.load.loader import PackageLoadResult
from quiver.package.storage import JOB_STATES, PackageState, PackageStorage
from quiver.pipeline.infos import (
    JobFileInfo,
    LoadJobInfo,
    LoadJobMetrics,
    LoadMetrics,
    LoadPackageInfo,
)
from quiver.schema.documents import StateRow

#: Extracted job files that failed leave their traceback beside them in this file.
EXCEPTION_SUFFIX = ".exception"


def extracted_state(
    created_at: datetime.datetime,
    replaced_tables: set[str],
    row_counts: dict[str, int],
    pipeline_state: StateRow | None,
) -> PackageState:
    """The package state extract writes: what it replaced, how many rows, and the state row.

    Args:
        created_at: when the package was made.
        replaced_tables: root tables whose content the package replaces.
        row_counts: rows extracted per table.
        pipeline_state: the ``_dlt_pipeline_state`` row to load with this package's data, or
            ``None`` when the state did not change (only the last package of an extract
            carries it).
    """
    state: PackageState = {
        "state": "extracted",
        "created_at": created_at.isoformat(),
        "replaced_tables": sorted(replaced_tables),
        "row_counts": row_counts,
    }
    if pipeline_state is not None:
        state["pipeline_state"] = pipeline_state
    return state


def normalized_state(
    extracted: PackageState,
    row_counts: dict[str, int],
    discarded_rows: dict[str, int],
    discarded_values: dict[str, int],
) -> PackageState:
    """The extracted package's state, moved to ``normalized`` with normalize's counts."""
    state: PackageState = {**extracted}
    state["state"] = "normalized"
    state["normalized_row_counts"] = row_counts
    state["discarded_row_counts"] = discarded_rows
    state["discarded_value_counts"] = discarded_values
    return state


def find_package(storage: PackageStorage, load_id: str) -> Path | None:
    """The package's folder: loaded (or aborted), else normalized, else extracted, else
    failed at normalize."""
    for stage in ("loaded", "normalized", "extracted", "failed"):
        path = storage.path(stage, load_id)
        if path.is_dir():
            return path
    return None


def package_info(storage: PackageStorage, package: Path) -> LoadPackageInfo:
    """The info of a package in any stage: its state, schema and jobs by state.

    Args:
        storage: the pipeline's package storage.
        package: the package folder (from :func:`find_package`).
    """
    package_state = storage.read_package_state(package)
    stage = package.parent.name
    completed_at = _time(package_state.get("completed_at"))
    # Job ages are measured to the package's completion, or to now while it is pending.
    until = completed_at or datetime.datetime.now(datetime.UTC)
    jobs: dict[str, list[LoadJobInfo]] = {}
    for job_state in JOB_STATES:
        jobs[f"{job_state}_jobs"] = [
            _job_info(path, f"{job_state}_jobs", until)
            for path in storage.jobs(package, job_state)
            if not path.name.endswith(EXCEPTION_SUFFIX)
        ]
    schema = storage.read_schema(package)
    return LoadPackageInfo(
        package.name,
        str(package),
        "failed" if stage == "failed" else package_state.get("state", stage),
        str(schema["name"]),
        completed_at,
        jobs,
        str(schema.get("version_hash", "")),
    )


def _job_info(path: Path, state: str, until: datetime.datetime) -> LoadJobInfo:
    stat = path.stat()
    created_at = datetime.datetime.fromtimestamp(stat.st_mtime, datetime.UTC)
    return LoadJobInfo(
        state,
        str(path),
        stat.st_size,
        created_at,
        max(0.0, (until - created_at).total_seconds()),
        JobFileInfo.parse(path.name),
        failure_message(path) if state == "failed_jobs" else None,
    )


def _time(value: str | None) -> datetime.datetime | None:
    return datetime.datetime.fromisoformat(value) if value else None


def load_metrics(
    result: PackageLoadResult,
    package: LoadPackageInfo,
    dataset_name: str,
    table_url: Callable[[str], str | None],
) -> LoadMetrics:
    """The metrics of one loaded package: a :class:`LoadJobMetrics` per job file.

    Args:
        result: what the loader did with each table.
        package: the package's info after the load (where its job files are now).
        dataset_name: the dataset the package went to.
        table_url: the location of a table (``remote_url``), by table name.
    """
    where = {
        Path(job.file_path).name: job
        for key in ("completed_jobs", "failed_jobs")
        for job in package.jobs.get(key, [])
    }
    job_metrics: dict[str, LoadJobMetrics] = {}
    for table in result.tables:
        state = "failed" if table.failed_message is not None else "completed"
        url = table_url(table.table_name)
        for original in table.files:
            job = where.get(original.name)
            file_path = job.file_path if job else str(original)
            parsed = JobFileInfo.parse(original.name)
            job_metrics[parsed.job_id()] = LoadJobMetrics(
                job_id=parsed.job_id(),
                file_path=file_path,
                table_name=table.table_name,
                started_at=table.started_at,
                finished_at=table.finished_at,
                state=state,
                remote_url=url,
                retry_count=parsed.retry_count,
                rows=_rows(Path(file_path)),
            )
    starts = [t.started_at for t in result.tables if t.started_at is not None]
    return LoadMetrics(
        started_at=min(starts) if starts else result.completed_at,
        finished_at=result.completed_at,
        job_metrics=job_metrics,
        dataset_name=dataset_name,
    )


def _rows(path: Path) -> int | None:
    """Rows in a parquet job file, from its footer (no data is read)."""
    if path.suffix != ".parquet" or not path.exists():
        return None
    return int(pq.read_metadata(path).num_rows)


def failed_jobs(storage: PackageStorage, package: Path) -> list[LoadJobInfo]:
    """The failed jobs of a package, each with its error message."""
    return package_info(storage, package).jobs.get("failed_jobs", [])


def failure_message(job: Path) -> str | None:
    """The last line of a failed job's traceback (``<job>.exception``): the error itself."""
    exception = job.with_name(job.name + EXCEPTION_SUFFIX)
    if not exception.exists():
        return None
    lines = exception.read_text().strip().splitlines()
    return lines[-1] if lines else None
