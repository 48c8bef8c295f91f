"""Mapping between Arrow types and dlt's data types.

dlt's data types are ``text, double, bool, timestamp, bigint, binary, json, decimal, wei, date,
time`` with optional ``precision``, ``scale`` and ``timezone``. A column schema is a plain dict
(the document stored on disk is dlt's format, so it stays a dict).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from quiver.errors import UnsupportedDataType

TColumnSchema = dict[str, Any]

#: dlt's data types, in the order of dlt's documentation.
DATA_TYPES: tuple[str, ...] = (
    "text",
    "double",
    "bool",
    "timestamp",
    "bigint",
    "binary",
    "json",
    "decimal",
    "wei",
    "date",
    "time",
)

DEFAULT_DECIMAL_PRECISION = 38
DEFAULT_DECIMAL_SCALE = 9
DEFAULT_TIMESTAMP_PRECISION = 6
_UNIT_PRECISION = {"s": 0, "ms": 3, "us": 6, "ns": 9}


def is_list_like(arrow_type: pa.DataType) -> bool:
    """True for every Arrow list flavour (list, large, fixed-size, views)."""
    return bool(
        pa.types.is_list(arrow_type)
        or pa.types.is_large_list(arrow_type)
        or pa.types.is_fixed_size_list(arrow_type)
        or pa.types.is_list_view(arrow_type)
        or pa.types.is_large_list_view(arrow_type)
    )


def is_nested(arrow_type: pa.DataType) -> bool:
    """True for struct, list and map types (dlt's ``json`` when kept nested)."""
    return bool(
        pa.types.is_struct(arrow_type) or is_list_like(arrow_type) or pa.types.is_map(arrow_type)
    )


def arrow_to_column(arrow_type: pa.DataType) -> TColumnSchema | None:
    """The dlt column properties for an Arrow type; ``None`` for the null type (no data yet).

    Raises:
        UnsupportedDataType: for an Arrow type with no dlt data type (e.g. a duration or a
            union); a ``TypeError``.
    """
    t = arrow_type
    if pa.types.is_dictionary(t):
        return arrow_to_column(t.value_type)
    if pa.types.is_null(t):
        return None
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return {"data_type": "text"}
    if pa.types.is_boolean(t):
        return {"data_type": "bool"}
    if pa.types.is_integer(t):
        bits = t.bit_width
        return {"data_type": "bigint"} if bits == 64 else {"data_type": "bigint", "precision": bits}
    if pa.types.is_floating(t):
        return {"data_type": "double"}
    if pa.types.is_timestamp(t):
        column: TColumnSchema = {"data_type": "timestamp"}
        if t.tz is None:
            # Naive timestamps are UTC by dlt's rules; only an explicit hint keeps them naive.
            pass
        precision = _UNIT_PRECISION[t.unit]
        if precision != DEFAULT_TIMESTAMP_PRECISION:
            column["precision"] = precision
        return column
    if pa.types.is_date(t):
        return {"data_type": "date"}
    if pa.types.is_time(t):
        return {"data_type": "time"}
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return {"data_type": "binary"}
    if pa.types.is_fixed_size_binary(t):
        return {"data_type": "binary", "precision": t.byte_width}
    if pa.types.is_decimal(t):
        return {"data_type": "decimal", "precision": t.precision, "scale": t.scale}
    if is_nested(t):
        return {"data_type": "json"}
    raise UnsupportedDataType.from_arrow_type(t)


def column_to_arrow(column: TColumnSchema) -> pa.DataType:
    """The Arrow type quiver writes to parquet for a dlt column.

    Timestamps are microseconds (what Delta and Iceberg store) and UTC unless the column says
    ``timezone: false``. ``json`` columns have no single Arrow type; callers keep the nested type
    they have (Arrow items) or serialize to text.

    Raises:
        UnsupportedDataType: for a ``data_type`` that is not one of :data:`DATA_TYPES`; a
            ``TypeError``.
    """
    data_type = column["data_type"]
    if data_type == "text":
        return pa.string()
    if data_type == "double":
        return pa.float64()
    if data_type == "bool":
        return pa.bool_()
    if data_type == "bigint":
        precision = column.get("precision")
        return {8: pa.int8(), 16: pa.int16(), 32: pa.int32()}.get(precision or 64, pa.int64())
    if data_type == "timestamp":
        tz = None if column.get("timezone") is False else "UTC"
        return pa.timestamp("us", tz)
    if data_type == "date":
        return pa.date32()
    if data_type == "time":
        return pa.time64("us")
    if data_type == "binary":
        return pa.binary()
    if data_type == "decimal":
        precision = column.get("precision") or DEFAULT_DECIMAL_PRECISION
        scale = column.get("scale")
        scale = DEFAULT_DECIMAL_SCALE if scale is None else scale
        return (
            pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
        )
    if data_type == "wei":
        return pa.decimal256(76, 0)
    if data_type == "json":
        return pa.string()
    raise UnsupportedDataType.unknown_data_type(data_type, DATA_TYPES)
