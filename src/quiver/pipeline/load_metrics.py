"""The load metrics of ``LoadInfo.metrics`` (dlt's shapes) and their JSON documents.

Kept apart from :mod:`quiver.pipeline.infos`, which re-exports the two types.
"""

from __future__ import annotations

import datetime
from typing import Any, NamedTuple, TypedDict

__all__ = [
    "LoadJobMetrics",
    "LoadMetrics",
    "iso_time",
    "metrics_document",
    "metrics_from_document",
    "parse_time",
]


def iso_time(value: datetime.datetime | None) -> str | None:
    """ISO 8601 text of a time; ``None`` stays ``None``."""
    return value.isoformat() if value is not None else None


def parse_time(value: Any) -> datetime.datetime | None:
    """The time written by :func:`iso_time` (anything but text is ``None``)."""
    return datetime.datetime.fromisoformat(value) if isinstance(value, str) else None


class LoadJobMetrics(NamedTuple):
    """How one job file was loaded (dlt's ``LoadJobMetrics``, plus ``rows``).

    quiver commits a table's job files together, so the files of one table share
    ``started_at`` and ``finished_at`` (the table commit's). ``remote_url`` is the table's
    location; ``rows`` (quiver only) is the number of rows in the file.
    """

    job_id: str
    file_path: str
    table_name: str
    started_at: datetime.datetime | None
    finished_at: datetime.datetime | None
    state: str
    remote_url: str | None
    retry_count: int = 0
    followup_jobs: list[str] | None = None
    rows: int | None = None


class LoadMetrics(TypedDict):
    """The load metrics of one package: ``LoadInfo.metrics[load_id][0]``."""

    started_at: datetime.datetime | None
    finished_at: datetime.datetime | None
    job_metrics: dict[str, LoadJobMetrics]
    dataset_name: str | None


def metrics_document(metrics: dict[str, list[LoadMetrics]]) -> dict[str, Any]:
    return {
        load_id: [
            {
                "started_at": iso_time(m["started_at"]),
                "finished_at": iso_time(m["finished_at"]),
                "dataset_name": m["dataset_name"],
                "job_metrics": {
                    job_id: {
                        **job._asdict(),
                        "started_at": iso_time(job.started_at),
                        "finished_at": iso_time(job.finished_at),
                    }
                    for job_id, job in m["job_metrics"].items()
                },
            }
            for m in entries
        ]
        for load_id, entries in metrics.items()
    }


def metrics_from_document(document: dict[str, Any]) -> dict[str, list[LoadMetrics]]:
    return {
        load_id: [
            LoadMetrics(
                started_at=parse_time(m.get("started_at")),
                finished_at=parse_time(m.get("finished_at")),
                dataset_name=m.get("dataset_name"),
                job_metrics={
                    job_id: LoadJobMetrics(
                        **{
                            **job,
                            "started_at": parse_time(job.get("started_at")),
                            "finished_at": parse_time(job.get("finished_at")),
                        }
                    )
                    for job_id, job in m.get("job_metrics", {}).items()
                },
            )
            for m in entries
        ]
        for load_id, entries in document.items()
    }
