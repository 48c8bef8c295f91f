"""Tables a package creates without rows: ``quiver.mark.materialize_table_schema()``.

Extract records such a table with a row count of 0 (``row_counts`` in the package state) and
writes no file for it. Before the package's data commits, the loader creates each of those
tables that does not exist yet, empty, with the columns the schema declares (dlt's
``MaterializedEmptyList``: "Table ... is created with the defined schema and no rows"). A table
that exists is left alone: there is nothing to add to it.

Delta and Iceberg create a table from a commit without files. A format whose table is its
files (``native``) gets one empty parquet file with the columns, as dlt writes an empty file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from quiver.destinations.base import TableCommit, TableFormat
from quiver.errors import InternalError, LoadError
from quiver.load.retry import RetryPolicy, classify
from quiver.schema.model import Schema


def create_materialized_tables(
    package: Path,
    state: dict[str, Any],
    schema: Schema,
    tables_with_files: Collection[str],
    table_format: Callable[[str], TableFormat],
    default_format: str,
    arrow_schema: Callable[[str], pa.Schema],
    load_id: str,
    retry: RetryPolicy,
) -> None:
    """Create, empty, the tables the package materializes and that do not exist yet.

    Args:
        package: the package folder (an empty file is written there when a format needs one).
        state: the package state (its ``row_counts``, from extract).
        schema: the package's schema (the tables' declared columns and hints).
        tables_with_files: tables with rows in this package; their commit creates them.
        table_format: the loader's table format by name.
        default_format: the destination's table format, for tables without a hint.
        arrow_schema: the Arrow schema of a table from the schema's declared columns.
        load_id: the package, recorded in the creating commit.
        retry: the loader's retry policy.

    Raises:
        LoadError: the table could not be created (the package stays pending).
        InternalError: a bug in quiver.
    """
    row_counts: dict[str, int] = state.get("row_counts") or {}
    for name in sorted(t for t, rows in row_counts.items() if rows == 0):
        if name in tables_with_files or schema.table_hint(name, "write_disposition") == "skip":
            continue
        columns = arrow_schema(name)
        if not columns.names:
            continue  # no declared column: nothing a table could be created with
        try:
            target = table_format(str(schema.table_hint(name, "table_format") or default_format))
            commit = TableCommit(
                table_name=name,
                files=[],
                arrow_schema=columns,
                disposition="append",
                load_id=load_id,
                partition_by=schema.columns_with_hint(name, "partition"),
                table_schema=schema.tables.get(name, {}),
                schema=schema,
            )

            def create(target: TableFormat = target, commit: TableCommit = commit) -> None:
                if target.table_exists(commit.table_name):
                    return
                target.commit(commit)
                if not target.table_exists(commit.table_name):  # a table of files
                    empty = package / "materialized" / f"{commit.table_name}.empty.parquet"
                    empty.parent.mkdir(exist_ok=True)
                    pq.write_table(commit.arrow_schema.empty_table(), empty)
                    target.commit(dataclasses.replace(commit, files=[empty]))

            retry.run(create, what=f"Creating empty table {name!r} for package {load_id}")
        except Exception as error:
            kind = classify(error)
            if kind == "bug":
                raise InternalError("load", f"creating table {name!r}", load_id, error) from error
            # A terminal error aborts the package (the loader moves it out of the way).
            raise LoadError(name, load_id, error, retryable=kind != "terminal") from error
