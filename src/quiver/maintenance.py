"""Table maintenance for a pipeline's dataset: compact small files, vacuum, expire snapshots.

Every load adds files (one or more per table per package) and a commit; long-running pipelines
should compact and clean up now and then. These functions run on the tables the pipeline's
schemas know (data tables and the ``_dlt_*`` sidecars), one table at a time, so memory stays
bounded by what the engine needs for one table's compaction.

Examples:
    >>> import quiver  # doctest: +SKIP
    >>> from quiver import maintenance
    >>> maintenance.optimize(pipeline)          # compact small files (Delta)
    >>> maintenance.vacuum(pipeline, retention_hours=168)
    >>> maintenance.expire_snapshots(pipeline, older_than=datetime.timedelta(days=7))
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from quiver.destinations.base import canonical_table_format, load_table_format

if TYPE_CHECKING:
    from quiver.pipeline.pipeline import Pipeline


@dataclass
class MaintenanceResult:
    """What one maintenance action did to one table."""

    table_name: str
    table_format: str
    action: str
    details: dict[str, Any] = field(default_factory=dict)


def _tables(pipeline: Pipeline, tables: list[str] | None) -> Iterator[tuple[str, Any]]:
    """(table name, table format instance) for every table of the pipeline that exists."""
    destination = pipeline.destination
    if destination is None:
        raise ValueError(f"pipeline {pipeline.pipeline_name!r} has no destination to maintain")
    dataset = destination.location().join(pipeline.dataset_name)
    formats: dict[str, Any] = {}
    seen: set[str] = set()
    for schema in pipeline.schemas.values():
        for name in schema.tables:
            if name in seen or (tables is not None and name not in tables):
                continue
            seen.add(name)
            hint = schema.table_hint(name, "table_format") or destination.table_format
            format_name = canonical_table_format(hint)
            if format_name not in formats:
                formats[format_name] = load_table_format(
                    format_name, dataset, f"quiver/{pipeline.pipeline_name}"
                )
            table_format = formats[format_name]
            if table_format.table_exists(name):
                yield name, table_format


def optimize(
    pipeline: Pipeline, tables: list[str] | None = None, *, target_size: int | None = None
) -> list[MaintenanceResult]:
    """Compact small files into larger ones (Delta: ``optimize.compact``).

    Iceberg tables are skipped with a note: pyiceberg 0.12 has no data-file rewrite; compact them
    with an engine that has one (Spark, Trino) if needed.
    """
    results = []
    for name, table_format in _tables(pipeline, tables):
        if table_format.name == "delta":
            table = table_format._open(name)
            metrics = table.optimize.compact(target_size=target_size)
            results.append(MaintenanceResult(name, "delta", "optimize", dict(metrics)))
        else:
            results.append(
                MaintenanceResult(name, table_format.name, "optimize", {"skipped": "unsupported"})
            )
    return results


def vacuum(
    pipeline: Pipeline,
    tables: list[str] | None = None,
    *,
    retention_hours: int = 168,
    dry_run: bool = False,
) -> list[MaintenanceResult]:
    """Delete data files no longer referenced by the table (Delta ``vacuum``).

    This also removes files a crashed load placed but never committed. Keep
    ``retention_hours`` longer than any reader's query and any pending package's age.
    """
    results = []
    for name, table_format in _tables(pipeline, tables):
        if table_format.name == "delta":
            table = table_format._open(name)
            removed = table.vacuum(
                retention_hours=retention_hours,
                dry_run=dry_run,
                enforce_retention_duration=False,
            )
            results.append(
                MaintenanceResult(name, "delta", "vacuum", {"files_deleted": len(removed)})
            )
    return results


def expire_snapshots(
    pipeline: Pipeline,
    tables: list[str] | None = None,
    *,
    older_than: datetime.timedelta = datetime.timedelta(days=7),
) -> list[MaintenanceResult]:
    """Expire old Iceberg snapshots; for Delta, clean up old log entries (``cleanup_metadata``).

    Expired Iceberg snapshots take their load ids with them: a package older than ``older_than``
    that is still pending could then be committed twice, so keep the window longer than any
    package may wait.
    """
    results = []
    cutoff = datetime.datetime.now(datetime.UTC) - older_than
    for name, table_format in _tables(pipeline, tables):
        if table_format.name == "iceberg":
            table = table_format.load_table(name)
            before = len(table.metadata.snapshots)
            table.maintenance.expire_snapshots().older_than(cutoff).commit()
            after = len(table_format.load_table(name).metadata.snapshots)
            results.append(
                MaintenanceResult(name, "iceberg", "expire_snapshots", {"expired": before - after})
            )
        elif table_format.name == "delta":
            table_format._open(name).cleanup_metadata()
            results.append(MaintenanceResult(name, "delta", "cleanup_metadata"))
    return results
