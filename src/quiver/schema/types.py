"""Mapping between Arrow types and dlt's data types.

dlt's data types are ``text, double, bool, timestamp, bigint, binary, json, decimal, wei, date,
time`` with optional ``precision``, ``scale`` and ``timezone``. A column schema is a plain dict
(the document stored on disk is dlt's format, so it stays a dict).
"""

from __future__ import annotations

import difflib
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
#: The most digits a decimal may have: Arrow's decimal128, Delta's and Iceberg's decimals.
MAX_DECIMAL_PRECISION = 38
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
        # Unsigned values need the signed type twice as wide (uint64: the widest there is).
        bits = min(t.bit_width * 2, 64) if pa.types.is_unsigned_integer(t) else t.bit_width
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


def decimal_column_for(arrow_type: pa.DataType) -> TColumnSchema:
    """The column for Python Decimals that Arrow inferred as ``arrow_type`` (exact values).

    dlt's default ``decimal(38, 9)`` when the values fit it; otherwise precision 38 with the
    scale the values need (integer digits keep their room), so no value is rounded.
    """
    integer_digits = arrow_type.precision - arrow_type.scale
    if (
        arrow_type.scale <= DEFAULT_DECIMAL_SCALE
        and integer_digits <= DEFAULT_DECIMAL_PRECISION - DEFAULT_DECIMAL_SCALE
    ):
        return {"data_type": "decimal"}
    scale = max(
        arrow_type.scale, min(DEFAULT_DECIMAL_SCALE, MAX_DECIMAL_PRECISION - integer_digits)
    )
    return {"data_type": "decimal", "precision": MAX_DECIMAL_PRECISION, "scale": scale}


#: Type names of SQL, Python and Arrow, and the dlt data type that stores them.
_DATA_TYPE_ALIASES = {
    "integer": "bigint",
    "int": "bigint",
    "long": "bigint",
    "int64": "bigint",
    "string": "text",
    "str": "text",
    "varchar": "text",
    "float": "double",
    "real": "double",
    "number": "double",
    "float64": "double",
    "boolean": "bool",
    "datetime": "timestamp",
    "bytes": "binary",
    "blob": "binary",
    "numeric": "decimal",
    "object": "json",
    "dict": "json",
    "struct": "json",
    "list": "json",
    "complex": "json",
}


def _meant_data_type(data_type: str) -> str | None:
    """The dlt data type a misspelled or foreign type name most likely means."""
    lowered = data_type.strip().lower()
    if lowered in DATA_TYPES:
        return lowered
    if lowered in _DATA_TYPE_ALIASES:
        return _DATA_TYPE_ALIASES[lowered]
    close = difflib.get_close_matches(lowered, [*DATA_TYPES, *_DATA_TYPE_ALIASES], n=1)
    if not close:
        return None
    return _DATA_TYPE_ALIASES.get(close[0], close[0])


def check_column_types(table_name: str, columns: dict[str, TColumnSchema]) -> None:
    """Fail early on column hints that no table format can store.

    Raises:
        UnsupportedDataType: naming the table and column, for a ``data_type`` that is not one of
            :data:`DATA_TYPES` (with a "did you mean") or a decimal of more than 38 digits.
    """
    for name, column in columns.items():
        data_type = column.get("data_type")
        if data_type is None:
            continue
        if data_type not in DATA_TYPES:
            suggestion = _meant_data_type(str(data_type))
            raise UnsupportedDataType.unknown_data_type(data_type, DATA_TYPES, suggestion).at(
                table_name, name
            )
        precision = column.get("precision")
        if data_type == "decimal" and precision is not None and precision > MAX_DECIMAL_PRECISION:
            raise UnsupportedDataType.decimal_too_wide(precision, MAX_DECIMAL_PRECISION).at(
                table_name, name
            )


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
