"""Errors of reading a pipeline's dataset back: ``pipeline.dataset()`` and its relations."""

from __future__ import annotations

from collections.abc import Sequence

from quiver.errors.base import QuiverError, did_you_mean


class DatasetError(QuiverError):
    """Reading the dataset of a pipeline failed."""


class TableNotFound(DatasetError, KeyError, ValueError):
    """A table is not in the dataset's schema, or is in it but has no data in the destination.

    A ``KeyError`` (``dataset["x"]``) and a ``ValueError`` (``dataset.table("x")``), as in dlt.

    Attributes:
        table_name: The table asked for.
        dataset_name: The dataset.
    """

    def __init__(self, table_name: str, dataset_name: str, message: str) -> None:
        self.table_name = table_name
        self.dataset_name = dataset_name
        super().__init__(message)

    def __str__(self) -> str:
        # KeyError.__str__ would quote the message.
        return str(self.args[0]) if self.args else ""

    @classmethod
    def not_in_schema(
        cls, table_name: str, dataset_name: str, available: Sequence[str]
    ) -> TableNotFound:
        """The schema has no such table."""
        listed = ", ".join(available) if available else "none"
        return cls(
            table_name,
            dataset_name,
            f"Table {table_name!r} is not in dataset {dataset_name!r}; its tables are: {listed}."
            f"{did_you_mean(table_name, available)} Hint: table names are normalized "
            "(snake_case); list them with dataset.tables.",
        )

    @classmethod
    def not_loaded(cls, table_name: str, dataset_name: str, location: str) -> TableNotFound:
        """The schema knows the table but the destination has no table there yet."""
        return cls(
            table_name,
            dataset_name,
            f"Table {table_name!r} of dataset {dataset_name!r} has no data at {location} yet. "
            "Hint: run the pipeline (its load step creates the table), or check that "
            "bucket_url and dataset_name point where it loaded.",
        )


class SchemaNotFound(DatasetError, ValueError):
    """``pipeline.dataset(schema=...)`` names a schema the pipeline does not have."""

    def __init__(self, schema_name: str, pipeline_name: str, available: Sequence[str]) -> None:
        self.schema_name = schema_name
        listed = ", ".join(available) if available else "none"
        super().__init__(
            f"Schema {schema_name!r} is not a schema of pipeline {pipeline_name!r} (its "
            f"schemas: {listed}).{did_you_mean(schema_name, available)} Hint: leave schema out "
            "to read the tables of every schema."
        )


class DatasetQueryError(DatasetError, ValueError):
    """A SQL query over the dataset failed in DuckDB.

    Attributes:
        query: The query text.
    """

    def __init__(self, query: str, reason: str) -> None:
        self.query = query
        shown = query if len(query) <= 200 else query[:200] + "..."
        super().__init__(
            f"Query {shown!r} failed: {reason}. Hint: tables are referenced by their names in "
            "dataset.tables (quote names that are not plain identifiers); the SQL dialect is "
            "DuckDB's."
        )
