"""Table maintenance for a pipeline's dataset: compact small files, vacuum, expire snapshots.

Every load adds files (one or more per table per package) and a commit; long-running pipelines
should compact and clean up now and then. These functions run on the tables the pipeline's
schemas know (data tables and the ``_dlt_*`` sidecars), one table at a time, so memory stays
bounded by what the engine needs for one table's compaction. Each action is a method of the
table's format (:class:`~quiver.destinations.base.TableFormat`); a format that cannot do one
reports it as skipped, with the reason in ``details["skipped"]``.

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
from typing import TYPE_CHECKING

from quiver.destinations.base import (
    MaintenanceResult,
    TableFormat,
    canonical_table_format,
    load_table_format,
)
from quiver.errors import PipelineConfigMissing

if TYPE_CHECKING:
    from quiver.pipeline.pipeline import Pipeline

__all__ = ["MaintenanceResult", "expire_snapshots", "optimize", "vacuum"]


def _tables(pipeline: Pipeline, tables: list[str] | None) -> Iterator[tuple[str, TableFormat]]:
    """(table name, table format) for every table of the pipeline that exists."""
    destination = pipeline.destination
    if destination is None:
        raise PipelineConfigMissing(
            pipeline.pipeline_name,
            "destination",
            "maintenance",
            "maintain the tables of a pipeline that has loaded into a destination, or pass "
            "destination=... to quiver.pipeline().",
        )
    dataset = destination.location().join(pipeline.dataset_name)
    formats: dict[str, TableFormat] = {}
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
                    format_name,
                    dataset,
                    f"quiver/{pipeline.pipeline_name}",
                    **destination.table_format_options(format_name),
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

    Args:
        pipeline: The pipeline whose tables to compact.
        tables: Only these tables; all the pipeline's tables if ``None``.
        target_size: The size of the files to write, in bytes (the engine's default if ``None``).

    Returns:
        One result per existing table.
    """
    return [
        table_format.optimize(name, target_size=target_size)
        for name, table_format in _tables(pipeline, tables)
    ]


def vacuum(
    pipeline: Pipeline,
    tables: list[str] | None = None,
    *,
    retention_hours: int = 168,
    dry_run: bool = False,
) -> list[MaintenanceResult]:
    """Delete data files no longer referenced by the table (Delta ``vacuum``).

    This also removes files a crashed load placed but never committed. Keep
    ``retention_hours`` longer than any reader's query and any pending package's age. Iceberg
    tables are skipped with a note (pyiceberg 0.12 has no orphan-file removal).

    Returns:
        One result per existing table (``details["files_deleted"]`` for Delta).
    """
    return [
        table_format.vacuum(name, retention_hours=retention_hours, dry_run=dry_run)
        for name, table_format in _tables(pipeline, tables)
    ]


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

    Returns:
        One result per existing table (``details["expired"]`` for Iceberg).
    """
    cutoff = datetime.datetime.now(datetime.UTC) - older_than
    return [
        table_format.expire_snapshots(name, older_than=cutoff)
        for name, table_format in _tables(pipeline, tables)
    ]
