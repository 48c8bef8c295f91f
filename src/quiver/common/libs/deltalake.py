"""``quiver.common.libs.deltalake``: a pipeline's Delta tables as ``deltalake.DeltaTable``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quiver.common.libs.tables import open_tables

if TYPE_CHECKING:
    from quiver.pipeline.pipeline import Pipeline

__all__ = ["get_delta_tables"]


def get_delta_tables(
    pipeline: Pipeline,
    *tables: str,
    schema_name: str | None = None,
    include_dlt_tables: bool = False,
) -> dict[str, Any]:
    """The Delta tables of the pipeline's default schema (or ``schema_name``).

    Args:
        pipeline: a pipeline that loaded Delta tables.
        *tables: only these tables; none: every Delta table with data.
        schema_name: another schema of the pipeline.
        include_dlt_tables: also the ``_dlt_*`` tables.

    Returns:
        ``{table name: deltalake.DeltaTable}``.

    Raises:
        TableNotFound: (a ``ValueError``) a named table is not a Delta table of the schema.

    Examples:
        >>> from quiver.common.libs.deltalake import get_delta_tables  # doctest: +SKIP
        >>> get_delta_tables(pipeline, "events")["events"].optimize.compact()  # doctest: +SKIP
    """
    return open_tables(
        pipeline, "delta", tables, schema_name=schema_name, include_dlt_tables=include_dlt_tables
    )
