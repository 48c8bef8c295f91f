"""What the pipeline writes into and reads out of load packages: package states and infos.

Each step hands facts to the next in the package's ``package_state.json``
(:class:`~quiver.package.storage.PackageState`); the functions here build those documents and
the :class:`~quiver.pipeline.infos.LoadPackageInfo` that ``LoadInfo`` lists.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from quiver.package.storage import JOB_STATES, PackageState, PackageStorage
from quiver.pipeline.infos import LoadJobInfo, LoadPackageInfo
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


def package_info(
    storage: PackageStorage, load_id: str, completed_at: datetime.datetime | None
) -> LoadPackageInfo:
    """The info of a package in ``loaded/`` (loaded or aborted): its state and jobs by state."""
    package = storage.path("loaded", load_id)
    jobs: dict[str, list[LoadJobInfo]] = {}
    for job_state in JOB_STATES:
        jobs[f"{job_state}_jobs"] = [
            LoadJobInfo(
                p.name.split(".")[0],
                str(p),
                p.stat().st_size,
                job_state,
                failure_message(p) if job_state == "failed" else None,
            )
            for p in storage.jobs(package, job_state)
            if not p.name.endswith(EXCEPTION_SUFFIX)
        ]
    package_state = storage.read_package_state(package)
    schema_name = str(storage.read_schema(package)["name"])
    return LoadPackageInfo(
        load_id,
        str(package),
        package_state.get("state", "loaded"),
        schema_name,
        completed_at,
        jobs,
    )


def failure_message(job: Path) -> str | None:
    """The last line of a failed job's traceback (``<job>.exception``): the error itself."""
    exception = job.with_name(job.name + EXCEPTION_SUFFIX)
    if not exception.exists():
        return None
    lines = exception.read_text().strip().splitlines()
    return lines[-1] if lines else None
