"""Python rows → Arrow record batches, one conversion per buffer, never per row.

The fast path hands the whole buffer to ``pa.array(rows)``, which infers one struct type over all
rows: it keeps the union of keys (``pa.Table.from_pylist`` would take the keys of the first row
only) and unifies int with float to double. When that inference fails (one key holds an int here
and a string there, a UUID, an enum...), the slow path converts column by column and splits values
that cannot share a type into variant columns ``<key>__v_<type>`` (dlt's naming), so a mixed
column never fails a load and no value is lost.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

_ARROW_INFERENCE_ERRORS = (
    pa.ArrowInvalid,
    pa.ArrowTypeError,
    pa.ArrowNotImplementedError,
    OverflowError,
)

# dlt's type name for the kind of a Python value, used to name variant columns.
_KIND_NAMES = {
    "bool": "bool",
    "number": "double",
    "int": "bigint",
    "float": "double",
    "str": "text",
    "datetime": "timestamp",
    "date": "date",
    "time": "time",
    "decimal": "decimal",
    "bytes": "binary",
    "dict": "json",
    "list": "json",
    "other": "text",
}


def rows_to_batch(rows: Sequence[dict[str, Any]]) -> pa.RecordBatch:
    """Convert a buffer of dict rows to one record batch with the union of their keys."""
    try:
        array = pa.array(rows)
    except _ARROW_INFERENCE_ERRORS:
        return _rows_to_batch_by_column(rows)
    if not pa.types.is_struct(array.type):
        raise TypeError(f"expected dict rows, got items converting to {array.type}")
    batch = pa.RecordBatch.from_struct_array(array)
    suspects = [f.name for f in batch.schema if _may_hide_mixed_kinds(f.type)]
    return _recheck_columns(batch, rows, suspects) if suspects else batch


def _may_hide_mixed_kinds(kind: pa.DataType) -> bool:
    # Arrow's inference silently turns datetime+date into date32 (dropping the time) and
    # str+bytes into binary; it also infers UUIDs as an extension type. These columns are rare,
    # so checking them row by row costs little. (bool+float → double keeps the values as 1.0
    # and 0.0; it is not checked, see docs/decisions.md.)
    return bool(
        pa.types.is_date32(kind)
        or pa.types.is_binary(kind)
        or isinstance(kind, pa.BaseExtensionType)
    )


def _recheck_columns(
    batch: pa.RecordBatch, rows: Sequence[dict[str, Any]], names: list[str]
) -> pa.RecordBatch:
    out_names: list[str] = []
    arrays: list[pa.Array] = []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if name not in names:
            out_names.append(name)
            arrays.append(column)
            continue
        values = [row.get(name) for row in rows]
        if len({type(v) for v in values if v is not None}) > 1:
            for out_name, array in _column_arrays(name, values):
                out_names.append(out_name)
                arrays.append(array)
        else:
            out_names.append(name)
            arrays.append(_plain_array(column))
    return pa.RecordBatch.from_arrays(arrays, names=out_names)


def _plain_array(array: pa.Array) -> pa.Array:
    """Arrow infers UUID objects as its uuid extension type; dlt stores UUIDs as text."""
    if isinstance(array.type, pa.BaseExtensionType):
        return pa.array([None if v is None else str(v) for v in array.to_pylist()], pa.string())
    return array


def _rows_to_batch_by_column(rows: Sequence[dict[str, Any]]) -> pa.RecordBatch:
    keys: dict[str, None] = {}
    for row in rows:
        for key in row:
            keys.setdefault(key)
    names: list[str] = []
    arrays: list[pa.Array] = []
    for key in keys:
        for name, array in _column_arrays(key, [row.get(key) for row in rows]):
            names.append(name)
            arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, names=names) if names else _empty_batch(len(rows))


def _empty_batch(num_rows: int) -> pa.RecordBatch:
    return pa.RecordBatch.from_struct_array(pa.array([{}] * num_rows, pa.struct([])))


def _column_arrays(name: str, values: list[Any]) -> list[tuple[str, pa.Array]]:
    """One array for a column, or a main array plus variant arrays for values of other kinds."""
    if len({type(v) for v in values if v is not None}) <= 1:
        try:
            return [(name, _plain_array(pa.array(values)))]
        except _ARROW_INFERENCE_ERRORS:
            pass
    values = [_to_plain(v) for v in values]
    kinds = [_kind(v) for v in values]
    distinct = list(dict.fromkeys(k for k in kinds if k is not None))
    if len(distinct) == 1:
        try:
            return [(name, _plain_array(pa.array(values)))]
        except _ARROW_INFERENCE_ERRORS:
            if distinct != ["number"]:
                return [(name, _single_kind_array(values, distinct[0]))]
        # Ints too large for an exact double next to floats: keep both, ints as the variant.
        kinds = [
            None if k is None else type(v).__name__ for v, k in zip(values, kinds, strict=True)
        ]
        distinct = list(dict.fromkeys(k for k in kinds if k is not None))
    result = []
    for position, kind in enumerate(distinct):
        column_values = [v if k == kind else None for v, k in zip(values, kinds, strict=True)]
        column_name = name if position == 0 else f"{name}__v_{_KIND_NAMES[kind]}"
        try:
            result.append((column_name, _plain_array(pa.array(column_values))))
        except _ARROW_INFERENCE_ERRORS:
            if kind == "number":  # ints and floats that do not unify: split them too
                result.extend(_column_arrays(column_name, column_values))
            else:
                result.append((column_name, _single_kind_array(column_values, kind)))
    return result


def _single_kind_array(values: list[Any], kind: str) -> pa.Array:
    """Values of one kind that ``pa.array`` still rejects: nested conflicts, mixed tz, huge ints."""
    if kind == "dict":
        mask = pa.array([v is None for v in values])
        batch = _rows_to_batch_by_column([v if v is not None else {} for v in values])
        return pa.StructArray.from_arrays(batch.columns, names=batch.schema.names, mask=mask)
    if kind == "list":
        return _list_array(values)
    if kind == "datetime":
        # Mixed naive and aware datetimes: naive values are UTC (dlt's rule).
        utc = [
            None if v is None else (v if v.tzinfo else v.replace(tzinfo=datetime.UTC))
            for v in values
        ]
        try:
            return pa.array(utc, pa.timestamp("us", "UTC"))
        except _ARROW_INFERENCE_ERRORS:
            pass
    return pa.array([None if v is None else _as_text(v) for v in values], pa.string())


def _list_array(values: list[Any]) -> pa.Array:
    offsets = [0]
    items: list[Any] = []
    for value in values:
        if value is not None:
            items.extend(value)
        offsets.append(len(items))
    mask = pa.array([v is None for v in values])
    item_kinds = {_kind(item) for item in items} - {None}
    if item_kinds and item_kinds <= {"dict"}:
        item_array: pa.Array = _single_kind_array(items, "dict")
    else:
        # Lists of scalars of mixed kinds become lists of {"value": ..., "value__v_<type>": ...}
        # so that the child table gets dlt's `value` column and its variants.
        columns = _column_arrays("value", items)
        if len(columns) == 1:
            item_array = columns[0][1]
        else:
            item_array = pa.StructArray.from_arrays(
                [a for _, a in columns], names=[n for n, _ in columns]
            )
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), item_array, mask=mask)


def _kind(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "str"
    if isinstance(value, datetime.datetime):
        return "datetime"
    if isinstance(value, datetime.date):
        return "date"
    if isinstance(value, datetime.time):
        return "time"
    if isinstance(value, decimal.Decimal):
        return "decimal"
    if isinstance(value, bytes | bytearray | memoryview):
        return "bytes"
    if isinstance(value, dict):
        return "dict"
    if isinstance(value, list | tuple):
        return "list"
    return "other"


def _to_plain(value: Any) -> Any:
    """Objects Arrow cannot infer, turned into the plain values dlt would store for them."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _to_plain(dataclasses.asdict(value))
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        return _to_plain(model_dump())
    return value


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def iter_plain_rows(rows: Iterable[Any]) -> Iterable[dict[str, Any]]:
    """Dataclass and pydantic rows as dicts (plain dict rows pass through untouched)."""
    for row in rows:
        yield row if isinstance(row, dict) else _to_plain(row)
