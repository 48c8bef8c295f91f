"""What each step reports: ExtractInfo, NormalizeInfo, LoadInfo (dlt's shapes and wording)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from quiver.errors import DestinationHasFailedJobs


@dataclass
class StepInfo:
    pipeline_name: str
    started_at: datetime.datetime
    finished_at: datetime.datetime | None = None
    loads_ids: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        end = self.finished_at or datetime.datetime.now(datetime.UTC)
        return (end - self.started_at).total_seconds()


@dataclass
class ExtractInfo(StepInfo):
    """Rows extracted per table, per package."""

    row_counts: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"Extracted data for the following tables ({len(self.loads_ids)} package(s)):"]
        lines += [f"- {table}: {count} row(s)" for table, count in self.row_counts.items()]
        return "\n".join(lines)


@dataclass
class NormalizeInfo(StepInfo):
    """Rows normalized per table (root and child tables), and what contracts discarded.

    Attributes:
        row_counts: rows written per table.
        discarded_row_counts: rows a ``discard_row`` (or ``tables: discard_*``) contract
            dropped per table, nested rows of dropped rows included; they are in the package's
            dead-letter files (``<package>/discarded/``).
        discarded_value_counts: values a ``discard_value`` contract dropped per table from
            rows that were loaded.
    """

    row_counts: dict[str, int] = field(default_factory=dict)
    discarded_row_counts: dict[str, int] = field(default_factory=dict)
    discarded_value_counts: dict[str, int] = field(default_factory=dict)

    def add_package(
        self,
        row_counts: dict[str, int],
        discarded_rows: dict[str, int] | None = None,
        discarded_values: dict[str, int] | None = None,
    ) -> None:
        for mine, theirs in (
            (self.row_counts, row_counts),
            (self.discarded_row_counts, discarded_rows or {}),
            (self.discarded_value_counts, discarded_values or {}),
        ):
            for table, count in theirs.items():
                mine[table] = mine.get(table, 0) + count

    def __str__(self) -> str:
        lines = ["Normalized data for the following tables:"]
        lines += [f"- {table}: {count} row(s)" for table, count in self.row_counts.items()]
        if self.discarded_row_counts or self.discarded_value_counts:
            lines.append("Discarded by schema contracts (see the package's discarded/ folder):")
            lines += [
                f"- {table}: {count} row(s)" for table, count in self.discarded_row_counts.items()
            ]
            lines += [
                f"- {table}: {count} value(s)"
                for table, count in self.discarded_value_counts.items()
            ]
        return "\n".join(lines)


@dataclass
class LoadJobInfo:
    table_name: str
    file_path: str
    file_size: int
    state: str
    failed_message: str | None = None


@dataclass
class LoadPackageInfo:
    load_id: str
    package_path: str
    state: str
    schema_name: str
    completed_at: datetime.datetime | None
    jobs: dict[str, list[LoadJobInfo]] = field(default_factory=dict)

    def asstr(self) -> str:
        failed = self.jobs.get("failed_jobs", [])
        if self.state == "loaded":
            status = "LOADED"
        elif self.state == "aborted":
            status = "ABORTED"
        else:
            return f"Load package {self.load_id} is {self.state.upper()} and NOT YET LOADED to the destination"
        jobs = f"contains {len(failed)} FAILED job(s)!" if failed else "contains no failed jobs"
        return f"Load package {self.load_id} is {status} and {jobs}"


@dataclass
class LoadInfo(StepInfo):
    """What ``run()`` and ``load()`` return.

    ``str(load_info)`` says the pipeline, the load step's duration, how many packages went to
    which destination, location and dataset, and each package's state and failed jobs.
    """

    destination_name: str = "filesystem"
    destination_type: str = "quiver.destinations.filesystem"
    destination_displayable_credentials: str = ""
    dataset_name: str = ""
    load_packages: list[LoadPackageInfo] = field(default_factory=list)
    first_run: bool = False
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def has_failed_jobs(self) -> bool:
        return any(p.jobs.get("failed_jobs") for p in self.load_packages)

    @property
    def is_empty(self) -> bool:
        return not self.loads_ids

    def raise_on_failed_jobs(self) -> None:
        """Raise if any package has failed jobs.

        Raises:
            DestinationHasFailedJobs: names each failed job's package, table and message.
        """
        if self.has_failed_jobs:
            failed = [
                (p.load_id, job.table_name, job.failed_message)
                for p in self.load_packages
                for job in p.jobs.get("failed_jobs", [])
            ]
            raise DestinationHasFailedJobs(self.pipeline_name, failed)

    def asdict(self) -> dict[str, Any]:
        return {
            "pipeline": {"pipeline_name": self.pipeline_name},
            "destination_name": self.destination_name,
            "destination_type": self.destination_type,
            "destination_displayable_credentials": self.destination_displayable_credentials,
            "dataset_name": self.dataset_name,
            "loads_ids": list(self.loads_ids),
            "first_run": self.first_run,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }

    def asstr(self, verbosity: int = 1) -> str:
        lines = [
            f"Pipeline {self.pipeline_name} load step completed in {self.duration:.2f} seconds",
            f"{len(self.loads_ids)} load package(s) were loaded to destination "
            f"{self.destination_name} and into dataset {self.dataset_name}",
            f"The {self.destination_name} destination used "
            f"{self.destination_displayable_credentials} location to store data",
        ]
        lines += [package.asstr() for package in self.load_packages]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.asstr()
