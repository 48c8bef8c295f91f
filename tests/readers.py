"""Independent readers for what quiver wrote (never quiver's own code)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl


def delta_rows_polars(table_path: Path | str, sort_by: str | list[str]) -> list[dict[str, Any]]:
    """Rows of a Delta table read by polars, sorted."""
    return pl.read_delta(str(table_path)).sort(sort_by).to_dicts()


def delta_rows_deltalake(table_path: Path | str, sort_by: str) -> list[dict[str, Any]]:
    """Rows of a Delta table read by delta-rs' own query engine (DataFusion), sorted.

    ``DeltaTable.to_pyarrow_table()`` can abort the interpreter at exit (delta-rs#2184), so the
    table is read through ``QueryBuilder``.
    """
    from deltalake import DeltaTable, QueryBuilder

    table = DeltaTable(str(table_path))
    import pyarrow as pa

    result = QueryBuilder().register("t", table).execute(f'select * from t order by "{sort_by}"')
    arrow = pa.RecordBatchReader.from_stream(result).read_all()
    return pl.from_arrow(arrow).to_dicts()  # type: ignore[union-attr]


def delta_version(table_path: Path | str) -> int:
    from deltalake import DeltaTable

    return int(DeltaTable(str(table_path)).version())
