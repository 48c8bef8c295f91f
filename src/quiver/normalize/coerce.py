"""Align a flattened table with the schema: infer new columns, cast known ones, split variants.

Everything here works on whole Arrow arrays. A column whose values do not cast to the type the
schema already has goes to a variant column ``<column>__v_<type>`` (dlt's rule) instead of
failing the load.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from quiver.normalize.flatten import (
    C_DLT_ID,
    C_DLT_LIST_IDX,
    C_DLT_LOAD_ID,
    C_DLT_PARENT_ID,
    C_DLT_ROOT_ID,
)
from quiver.schema.model import Schema
from quiver.schema.types import TColumnSchema, arrow_to_column, column_to_arrow, is_nested

_LINEAGE_HINTS: dict[str, TColumnSchema] = {
    C_DLT_LOAD_ID: {"data_type": "text", "nullable": False},
    C_DLT_ID: {"data_type": "text", "nullable": False, "unique": True, "row_key": True},
    C_DLT_PARENT_ID: {"data_type": "text", "nullable": False, "parent_key": True},
    C_DLT_LIST_IDX: {"data_type": "bigint", "nullable": False},
    C_DLT_ROOT_ID: {"data_type": "text", "nullable": False, "root_key": True},
}
_CAST_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError)


def coerce_table(
    schema: Schema, table_name: str, parent: str | None, data: pa.Table, *, from_rows: bool
) -> pa.Table:
    """Cast ``data`` to the schema's column types, adding new columns to the schema in place.

    Args:
        schema: the schema to read and evolve.
        table_name: the normalized table name.
        parent: the parent table for child tables.
        data: the flattened table with normalized column names.
        from_rows: True when the data came from Python rows (dlt infers decimals without
            precision and the default 38,9 applies); False for Arrow items (types kept as given).
    """
    table = schema.ensure_table(table_name, parent)
    if parent is not None and "parent" not in table:
        table["parent"] = parent
    columns = table.setdefault("columns", {})
    names: list[str] = []
    arrays: list[pa.Array] = []
    for name, array in zip(data.column_names, data.columns, strict=True):
        for out_name, out_array in _coerce_column(columns, name, array, from_rows):
            names.append(out_name)
            arrays.append(out_array)
    if data.num_rows:
        table.setdefault("x-normalizer", {})["seen-data"] = True
    return pa.Table.from_arrays(arrays, names=names)


def _coerce_column(
    columns: dict[str, TColumnSchema], name: str, array: Any, from_rows: bool
) -> list[tuple[str, pa.Array]]:
    existing = columns.get(name)
    inferred = arrow_to_column(array.type)
    if existing is None or "data_type" not in existing:
        if inferred is None:
            # dlt does not create a column from nulls alone.
            return []
        column = _new_column(name, inferred, existing, from_rows)
        target = _target_type(column, array.type)
        try:
            cast = _cast(array, target)
        except _CAST_ERRORS:
            # A hinted type the data does not fit: keep the inferred type, record it honestly.
            column = _new_column(name, inferred, None, from_rows)
            cast = _cast(array, _target_type(column, array.type))
        columns[name] = column
        return [(name, cast)]
    target = _target_type(existing, array.type)
    if inferred is None:
        return [(name, pa.nulls(len(array), target))]
    if inferred["data_type"] == existing["data_type"] or existing["data_type"] == "json":
        try:
            return [(name, _cast(array, target))]
        except _CAST_ERRORS:
            pass
    else:
        try:
            return [(name, _cast(array, target, safe=True))]
        except _CAST_ERRORS:
            pass
    variant = f"{name}__v_{inferred['data_type']}"
    result = _coerce_column(columns, variant, array, from_rows)
    if variant in columns:
        columns[variant]["variant"] = True
    return [(name, pa.nulls(len(array), target)), *result]


def _new_column(
    name: str, inferred: TColumnSchema, hints: TColumnSchema | None, from_rows: bool
) -> TColumnSchema:
    column: TColumnSchema = {"name": name, "nullable": True}
    if from_rows and inferred["data_type"] in ("decimal", "bigint"):
        inferred = {"data_type": inferred["data_type"]}
    column.update(inferred)
    column.update(_LINEAGE_HINTS.get(name, {}))
    if hints:
        column.update({k: v for k, v in hints.items() if v is not None})
    return column


def _target_type(column: TColumnSchema, current: pa.DataType) -> pa.DataType:
    if column["data_type"] == "json" and is_nested(current):
        return current
    if (
        column["data_type"] == "timestamp"
        and column.get("timezone") is None
        and pa.types.is_timestamp(current)
    ):
        return pa.timestamp("us", "UTC")
    return column_to_arrow(column)


def _cast(array: Any, target: pa.DataType, *, safe: bool = True) -> pa.Array:
    if array.type == target:
        return array
    if pa.types.is_timestamp(array.type) and pa.types.is_timestamp(target):
        # Truncating nanoseconds to microseconds is what Delta and Iceberg store anyway.
        return pc.cast(array, target, safe=False)
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return pc.cast(array, target, safe=safe)
