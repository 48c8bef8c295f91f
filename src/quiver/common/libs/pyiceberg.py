"""``quiver.common.libs.pyiceberg``: a pipeline's Iceberg tables as ``pyiceberg`` tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quiver.common.libs.tables import open_tables

if TYPE_CHECKING:
    from quiver.pipeline.pipeline import Pipeline

__all__ = ["get_iceberg_tables"]


def get_iceberg_tables(
    pipeline: Pipeline,
    *tables: str,
    schema_name: str | None = None,
    include_dlt_tables: bool = False,
) -> dict[str, Any]:
    """The Iceberg tables of the pipeline's default schema (or ``schema_name``).

    Args:
        pipeline: a pipeline that loaded Iceberg tables.
        *tables: only these tables; none: every Iceberg table with data.
        schema_name: another schema of the pipeline.
        include_dlt_tables: also the ``_dlt_*`` tables.

    Returns:
        ``{table name: pyiceberg.table.Table}`` (from the destination's catalog).

    Raises:
        TableNotFound: (a ``ValueError``) a named table is not an Iceberg table of the schema.
    """
    return open_tables(
        pipeline, "iceberg", tables, schema_name=schema_name, include_dlt_tables=include_dlt_tables
    )
