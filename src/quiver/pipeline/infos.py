"""What each step reports: ExtractInfo, NormalizeInfo, LoadInfo (dlt's shapes and wording).

Package and job infos (``LoadPackageInfo``, ``LoadJobInfo``) and the load metrics
(``LoadMetrics``, ``LoadJobMetrics``) have dlt's fields. Every info is also a JSON document
(``to_document`` / ``from_document``) so that the run trace survives the process
(:mod:`quiver.pipeline.trace`).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from quiver.errors import DestinationHasFailedJobs
from quiver.package.storage import SCHEMA_FILE, JobFile
from quiver.pipeline import resource_metrics as rm
from quiver.pipeline.failed_packages import FailedPackageInfo
from quiver.pipeline.load_metrics import (
    LoadJobMetrics,
    LoadMetrics,
    iso_time,
    metrics_document,
    metrics_from_document,
    parse_time,
)
from quiver.schema.model import Schema

__all__ = [
    "ExtractInfo",
    "JobFileInfo",
    "LoadInfo",
    "LoadJobInfo",
    "LoadJobMetrics",
    "LoadMetrics",
    "LoadPackageInfo",
    "NormalizeInfo",
    "StepInfo",
    "combine_normalize_infos",
]

#: The job folders of a package, as dlt names them in ``LoadPackageInfo.jobs``.
JOB_STATE_KEYS = ("new_jobs", "started_jobs", "completed_jobs", "failed_jobs")


@dataclass(frozen=True)
class PipelineName:
    """What ``info.pipeline`` gives: dlt's infos hold the pipeline, whose name users read."""

    pipeline_name: str


@dataclass
class StepInfo:
    """What every step info has: the pipeline, the step's start and end, the packages."""

    pipeline_name: str
    started_at: datetime.datetime
    finished_at: datetime.datetime | None = None
    loads_ids: list[str] = field(default_factory=list)

    @property
    def pipeline(self) -> PipelineName:
        """``info.pipeline.pipeline_name``, as in dlt."""
        return PipelineName(self.pipeline_name)

    @property
    def duration(self) -> float:
        end = self.finished_at or datetime.datetime.now(datetime.UTC)
        return (end - self.started_at).total_seconds()

    @property
    def is_empty(self) -> bool:
        """No package was processed."""
        return not self.loads_ids

    def _base_document(self) -> dict[str, Any]:
        return {
            "pipeline_name": self.pipeline_name,
            "started_at": iso_time(self.started_at),
            "finished_at": iso_time(self.finished_at),
            "loads_ids": list(self.loads_ids),
        }

    @staticmethod
    def _base_fields(document: dict[str, Any]) -> dict[str, Any]:
        return {
            "pipeline_name": document["pipeline_name"],
            "started_at": parse_time(document["started_at"]),
            "finished_at": parse_time(document.get("finished_at")),
            "loads_ids": list(document.get("loads_ids", [])),
        }


@dataclass
class ExtractInfo(StepInfo):
    """Rows extracted per table, per package; ``metrics[load_id][0]["resource_metrics"]``
    holds each resource's ``add_metrics`` results (``.custom_metrics``), as in dlt."""

    row_counts: dict[str, int] = field(default_factory=dict)
    metrics: rm.ExtractMetricsByLoad = field(default_factory=dict)

    def add_package(
        self, load_id: str, row_counts: dict[str, int], custom_metrics: dict[str, dict[str, Any]]
    ) -> None:
        """Count in one committed package."""
        self.loads_ids.append(load_id)
        for table, count in row_counts.items():
            self.row_counts[table] = self.row_counts.get(table, 0) + count
        self.metrics[load_id] = rm.package_metrics(custom_metrics)

    def asdict(self) -> dict[str, Any]:
        """A dict of plain values (for printing or loading with a pipeline)."""
        document = {**self._base_document(), "row_counts": dict(self.row_counts)}
        return {**document, "metrics": rm.metrics_document(self.metrics)}

    def to_document(self) -> dict[str, Any]:
        return self.asdict()

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> ExtractInfo:
        info = cls(**cls._base_fields(document), row_counts=dict(document.get("row_counts", {})))
        info.metrics = rm.metrics_from_document(document.get("metrics", {}))
        return info

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

    def asdict(self) -> dict[str, Any]:
        """A dict of plain values (for printing or loading with a pipeline)."""
        return {
            **self._base_document(),
            "row_counts": dict(self.row_counts),
            "discarded_row_counts": dict(self.discarded_row_counts),
            "discarded_value_counts": dict(self.discarded_value_counts),
        }

    def to_document(self) -> dict[str, Any]:
        return self.asdict()

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> NormalizeInfo:
        return cls(
            **cls._base_fields(document),
            row_counts=dict(document.get("row_counts", {})),
            discarded_row_counts=dict(document.get("discarded_row_counts", {})),
            discarded_value_counts=dict(document.get("discarded_value_counts", {})),
        )

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


class JobFileInfo(NamedTuple):
    """A job file's name, parsed: ``<table_name>.<file_id>.<retry_count>.<file_format>``.

    dlt's ``ParsedLoadJobFileName``. ``file_format`` is ``parquet`` for normalized jobs and
    ``arrow`` / ``rows.arrow`` (Arrow IPC) for extracted ones.
    """

    table_name: str
    file_id: str
    retry_count: int
    file_format: str
    is_compressed: bool = False

    def job_id(self) -> str:
        """The job's id: the file name without the retry count."""
        return f"{self.table_name}.{self.file_id}.{self.file_format}"

    def file_name(self) -> str:
        return f"{self.table_name}.{self.file_id}.{self.retry_count}.{self.file_format}"

    @classmethod
    def parse(cls, file_name: str) -> JobFileInfo:
        job = JobFile.parse(Path(file_name).name)
        return cls(job.table_name, job.file_id, job.retry_count, job.ext)


#: dlt's name for :class:`JobFileInfo`.
ParsedLoadJobFileName = JobFileInfo


@dataclass
class LoadJobInfo:
    """One job file of a package (dlt's ``LoadJobInfo``).

    Attributes:
        state: the folder the job is in: ``new_jobs``, ``started_jobs``, ``completed_jobs`` or
            ``failed_jobs``.
        file_path: the job file's absolute path.
        file_size: its size in bytes.
        created_at: when the file was last written (its modification time, UTC).
        elapsed: seconds from ``created_at`` to the package's completion (or to now, for a
            package that is not completed).
        job_file_info: the parsed file name (table, file id, retry count, format).
        failed_message: for a failed job, the error (the last line of its traceback).
    """

    state: str
    file_path: str
    file_size: int
    created_at: datetime.datetime | None
    elapsed: float
    job_file_info: JobFileInfo
    failed_message: str | None = None

    @property
    def table_name(self) -> str:
        return self.job_file_info.table_name

    def asdict(self) -> dict[str, Any]:
        """A flat dict: the job's fields, the parsed file name's fields and ``job_id``."""
        return {
            "state": self.state,
            "file_path": self.file_path,
            "file_size": self.file_size,
            "created_at": self.created_at,
            "elapsed": self.elapsed,
            "failed_message": self.failed_message,
            **self.job_file_info._asdict(),
            "job_id": self.job_file_info.job_id(),
        }

    def to_document(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "file_path": self.file_path,
            "file_size": self.file_size,
            "created_at": iso_time(self.created_at),
            "elapsed": self.elapsed,
            "job_file_info": self.job_file_info._asdict(),
            "failed_message": self.failed_message,
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> LoadJobInfo:
        return cls(
            document["state"],
            document["file_path"],
            document["file_size"],
            parse_time(document.get("created_at")),
            document.get("elapsed", 0.0),
            JobFileInfo(**document["job_file_info"]),
            document.get("failed_message"),
        )

    def asstr(self, verbosity: int = 0) -> str:
        info = self.job_file_info
        text = (
            f"Job: {info.job_id()}, table: {info.table_name} in {self.state}. "
            f"File type: {info.file_format}, size: {self.file_size} bytes. "
            f"Started on: {self.created_at} and completed in {self.elapsed:.2f} seconds."
        )
        if self.failed_message:
            text += "\nThe job FAILED TERMINALLY and cannot be restarted."
            if verbosity > 0:
                text += "\n" + self.failed_message
        return text

    def __str__(self) -> str:
        return self.asstr()


@dataclass
class LoadPackageInfo:
    """A load package and its jobs by state (dlt's ``LoadPackageInfo``).

    Attributes:
        load_id: the package's load id.
        package_path: its folder in the working folder.
        state: ``extracted``, ``normalized``, ``loaded`` or ``aborted``.
        schema_name: the name of the package's schema.
        completed_at: when load finished (or aborted) the package; ``None`` before.
        jobs: ``new_jobs``, ``started_jobs``, ``completed_jobs``, ``failed_jobs`` →
            :class:`LoadJobInfo` list.
        schema_hash: the version hash of the package's schema.
    """

    load_id: str
    package_path: str
    state: str
    schema_name: str
    completed_at: datetime.datetime | None
    jobs: dict[str, list[LoadJobInfo]] = field(default_factory=dict)
    schema_hash: str = ""

    @property
    def schema(self) -> Schema | None:
        """The package's schema, read from its folder (``None`` once the folder is gone)."""
        path = Path(self.package_path) / SCHEMA_FILE
        if not path.exists():
            return None
        return Schema.from_dict(json.loads(path.read_text(encoding="utf-8")))

    def asdict(self) -> dict[str, Any]:
        """A flat dict with the jobs as one list (dlt's shape, without ``tables``)."""
        return {
            "load_id": self.load_id,
            "package_path": self.package_path,
            "state": self.state,
            "completed_at": self.completed_at,
            "jobs": [job.asdict() for jobs in self.jobs.values() for job in jobs],
            "schema_hash": self.schema_hash,
            "schema_name": self.schema_name,
        }

    def to_document(self) -> dict[str, Any]:
        return {
            "load_id": self.load_id,
            "package_path": self.package_path,
            "state": self.state,
            "schema_name": self.schema_name,
            "schema_hash": self.schema_hash,
            "completed_at": iso_time(self.completed_at),
            "jobs": {key: [job.to_document() for job in jobs] for key, jobs in self.jobs.items()},
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> LoadPackageInfo:
        return cls(
            document["load_id"],
            document["package_path"],
            document["state"],
            document["schema_name"],
            parse_time(document.get("completed_at")),
            {
                key: [LoadJobInfo.from_document(job) for job in jobs]
                for key, jobs in document.get("jobs", {}).items()
            },
            document.get("schema_hash", ""),
        )

    def summary(self) -> str:
        """The package's line in ``str(load_info)``: its state and failed jobs."""
        failed = self.jobs.get("failed_jobs", [])
        if self.state == "loaded":
            status = "LOADED"
        elif self.state == "aborted":
            status = "ABORTED"
        else:
            return f"Load package {self.load_id} is {self.state.upper()} and NOT YET LOADED to the destination"
        jobs = f"contains {len(failed)} FAILED job(s)!" if failed else "contains no failed jobs"
        return f"Load package {self.load_id} is {status} and {jobs}"

    def asstr(self, verbosity: int = 0) -> str:
        """The package, its state and every job (dlt's ``LoadPackageInfo.asstr``)."""
        completed = (
            f"The package was {self.state.upper()} at {self.completed_at}"
            if self.completed_at
            else "The package is NOT YET LOADED to the destination"
        )
        lines = [
            f"The package with load id {self.load_id} for schema {self.schema_name} is in "
            f"{self.state.upper()} state. {completed}.",
            "Jobs details:",
        ]
        lines += [job.asstr(verbosity) for jobs in self.jobs.values() for job in jobs]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.asstr()


@dataclass
class LoadInfo(StepInfo):
    """What ``run()`` and ``load()`` return.

    ``str(load_info)`` says the pipeline, the load step's duration, how many packages went to
    which destination, location and dataset, and each package's state and failed jobs.

    Attributes:
        metrics: per load id, a one-element list of :class:`LoadMetrics`: when the package's
            load started and finished and a :class:`LoadJobMetrics` per job file.
        load_packages: a :class:`LoadPackageInfo` per package loaded (or aborted).
        extract_info: (quiver only) the extract of the ``run()`` that returned this info, or
            ``None`` (``load()``, or ``run()`` with only pending packages).
        normalize_info: (quiver only) the normalize steps of that ``run()``, combined.
        pending_load_ids: (quiver only) packages that were pending when ``run()`` started
            and were loaded before the new data.
        failed_packages: (quiver only) packages of this call that failed deterministically
            and were moved aside, with their errors (see ``Pipeline.list_failed_packages``).
    """

    destination_name: str = "filesystem"
    destination_type: str = "quiver.destinations.filesystem"
    destination_displayable_credentials: str = ""
    dataset_name: str = ""
    load_packages: list[LoadPackageInfo] = field(default_factory=list)
    first_run: bool = False
    metrics: dict[str, list[LoadMetrics]] = field(default_factory=dict)
    extract_info: ExtractInfo | None = None
    normalize_info: NormalizeInfo | None = None
    pending_load_ids: list[str] = field(default_factory=list)
    failed_packages: list[FailedPackageInfo] = field(default_factory=list)

    @property
    def has_failed_jobs(self) -> bool:
        jobs = any(p.jobs.get("failed_jobs") for p in self.load_packages)
        return jobs or bool(self.failed_packages)

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
            seen = {load_id for load_id, _, _ in failed}
            failed += [
                (f.load_id, f"(failed at {f.step})", f"{f.exception_type}: {f.message}")
                for f in self.failed_packages
                if f.load_id not in seen
            ]
            raise DestinationHasFailedJobs(self.pipeline_name, failed)

    def asdict(self) -> dict[str, Any]:
        """dlt's flat dict: the info's fields, the packages and one ``job_metrics`` list.

        ``pipeline`` is ``{"pipeline_name": ...}``; each entry of ``job_metrics`` is a
        :class:`LoadJobMetrics` as a dict with its ``load_id``.
        """
        return {
            "pipeline": {"pipeline_name": self.pipeline_name},
            "destination_type": self.destination_type,
            "destination_displayable_credentials": self.destination_displayable_credentials,
            "destination_name": self.destination_name,
            "environment": None,
            "staging_type": None,
            "staging_name": None,
            "staging_displayable_credentials": None,
            "destination_fingerprint": None,
            "dataset_name": self.dataset_name,
            "loads_ids": list(self.loads_ids),
            "load_packages": [package.asdict() for package in self.load_packages],
            "first_run": self.first_run,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "job_metrics": [
                {"load_id": load_id, **job._asdict()}
                for load_id, entries in self.metrics.items()
                for entry in entries
                for job in entry["job_metrics"].values()
            ],
        }

    def to_document(self) -> dict[str, Any]:
        return {
            **self._base_document(),
            "destination_name": self.destination_name,
            "destination_type": self.destination_type,
            "destination_displayable_credentials": self.destination_displayable_credentials,
            "dataset_name": self.dataset_name,
            "load_packages": [package.to_document() for package in self.load_packages],
            "first_run": self.first_run,
            "metrics": metrics_document(self.metrics),
            "pending_load_ids": self.pending_load_ids,
            "failed_packages": [failed.asdict() for failed in self.failed_packages],
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> LoadInfo:
        return cls(
            **cls._base_fields(document),
            destination_name=document.get("destination_name", "filesystem"),
            destination_type=document.get("destination_type", "quiver.destinations.filesystem"),
            destination_displayable_credentials=document.get(
                "destination_displayable_credentials", ""
            ),
            dataset_name=document.get("dataset_name", ""),
            load_packages=[LoadPackageInfo.from_document(p) for p in document["load_packages"]],
            first_run=bool(document.get("first_run", False)),
            metrics=metrics_from_document(document.get("metrics", {})),
            pending_load_ids=list(document.get("pending_load_ids", [])),
            failed_packages=[
                FailedPackageInfo.from_dict(f) for f in document.get("failed_packages", [])
            ],
        )

    def asstr(self, verbosity: int = 1) -> str:
        lines = [
            f"Pipeline {self.pipeline_name} load step completed in {self.duration:.2f} seconds",
            f"{len(self.loads_ids)} load package(s) were loaded to destination "
            f"{self.destination_name} and into dataset {self.dataset_name}",
            f"The {self.destination_name} destination used "
            f"{self.destination_displayable_credentials} location to store data",
        ]
        lines += [package.summary() for package in self.load_packages]
        if self.pending_load_ids:
            lines.append(f"Loaded first, pending from an earlier run: {self.pending_load_ids}")
        lines += [str(failed) for failed in self.failed_packages]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.asstr()


def combine_normalize_infos(infos: list[NormalizeInfo]) -> NormalizeInfo | None:
    """One NormalizeInfo for several normalize steps of a run (pending packages, then new)."""
    if not infos:
        return None
    combined = NormalizeInfo(infos[0].pipeline_name, infos[0].started_at, infos[-1].finished_at)
    for info in infos:
        combined.loads_ids += info.loads_ids
        combined.add_package(
            info.row_counts, info.discarded_row_counts, info.discarded_value_counts
        )
    return combined
