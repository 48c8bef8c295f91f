"""The tables of a pipeline's schema in one table format, opened by that format."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quiver.destinations.base import canonical_table_format, load_table_format
from quiver.errors import PipelineConfigMissing

if TYPE_CHECKING:
    from quiver.pipeline.pipeline import Pipeline


def open_tables(
    pipeline: Pipeline,
    table_format: str,
    tables: tuple[str, ...],
    *,
    schema_name: str | None,
    include_dlt_tables: bool,
) -> dict[str, Any]:
    """``{table name: engine table object}`` for the ``table_format`` tables of a schema.

    Args:
        pipeline: a pipeline that has loaded into a filesystem destination.
        table_format: ``"delta"`` or ``"iceberg"``.
        tables: table names (as given or normalized); none: every such table with data.
        schema_name: the schema to read; default: the pipeline's default schema.
        include_dlt_tables: also the ``_dlt_*`` tables.

    Raises:
        TableNotFound: (a ``ValueError``, as dlt's) a table asked for is not in the schema,
            is of another format, or has not been created yet.
        PipelineConfigMissing: the pipeline has no destination.
    """
    from quiver.errors import TableNotFound

    destination = pipeline.destination
    if destination is None:
        raise PipelineConfigMissing(
            pipeline.pipeline_name,
            "destination",
            f"open the {table_format} tables",
            "run the pipeline into a filesystem destination first.",
        )
    schema = pipeline.schemas[schema_name] if schema_name else pipeline.default_schema
    dataset = destination.location().join(pipeline.dataset_name)
    engine = load_table_format(
        table_format,
        dataset,
        f"quiver/{pipeline.pipeline_name}",
        **destination.table_format_options(table_format),
    )

    def format_of(name: str) -> str:
        hint = schema.table_hint(name, "table_format") or destination.table_format
        return canonical_table_format(hint)

    wanted = [pipeline.naming.normalize_table_identifier(t) for t in tables]
    if not wanted:
        wanted = [
            name
            for name in schema.tables
            if (include_dlt_tables or not name.startswith("_dlt"))
            and format_of(name) == table_format
        ]
    opened: dict[str, Any] = {}
    for name in wanted:
        if name not in schema.tables or format_of(name) != table_format:
            raise TableNotFound(
                name,
                pipeline.dataset_name,
                f"Schema {schema.name!r} has no {table_format} table {name!r}. Hint: pick from "
                f"{sorted(n for n in schema.tables if format_of(n) == table_format)}, or pass "
                "schema_name=... for another schema.",
            )
        # The engines' own objects: DeltaFormat.open_table / IcebergFormat.load_table.
        opener = getattr(engine, "open_table" if table_format == "delta" else "load_table")
        table = opener(name)
        if table is None:
            if tables:
                raise TableNotFound(
                    name,
                    pipeline.dataset_name,
                    f"Table {name!r} has no data in the destination yet. Hint: run the "
                    "pipeline first.",
                )
            continue
        opened[name] = table
    return opened
