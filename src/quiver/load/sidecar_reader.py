"""Read small sidecar tables back (``_dlt_version`` hashes, ``_dlt_loads``) from any format."""

from __future__ import annotations

from typing import Any

import pyarrow as pa


def read_small_table(table_format: Any, table_name: str, columns: list[str]) -> pa.Table | None:
    """The whole (small) table with ``columns``, or ``None`` when the table does not exist."""
    if table_format.name == "delta":
        table = table_format._open(table_name)
        if table is None:
            return None
        from deltalake import QueryBuilder

        select = ", ".join(f'"{c}"' for c in columns)
        result = QueryBuilder().register("t", table).execute(f"select {select} from t")
        data = pa.RecordBatchReader.from_stream(result).read_all()
        return data.cast(pa.schema([pa.field(f.name, _plain(f.type)) for f in data.schema]))
    if table_format.name == "iceberg":
        iceberg_table = table_format.load_table(table_name)
        if iceberg_table is None:
            return None
        return iceberg_table.scan(selected_fields=tuple(columns)).to_arrow()
    if table_format.name == "native":
        rows = table_format.read_rows(table_name)
        return None if rows is None else rows.select(columns)
    raise ValueError(f"cannot read sidecar tables of table format {table_format.name!r}")


def _plain(kind: pa.DataType) -> pa.DataType:
    # DataFusion returns view types; plain strings are what the rest of quiver expects.
    if pa.types.is_string_view(kind):
        return pa.string()
    if pa.types.is_binary_view(kind):
        return pa.binary()
    return kind
