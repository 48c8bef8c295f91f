"""Python rows → Arrow record batches, one conversion per buffer, never per row.

The buffer is converted column by column: the union of keys over all rows is found at C speed
(``pa.Table.from_pylist`` would take the keys of the first row only), each key's values are
gathered with one list comprehension and handed to ``pa.array``, which unifies int with float to
double. When a column's values cannot share a type (an int here, a string there) or Arrow would
coerce them silently (datetime+date → date, str+bytes → binary, bool+float → double), the column
is split into a main column and variant columns ``<key>__v_<type>`` (dlt's naming), so a mixed
column never fails a load and no value is lost or changed.

The extractor does not call :func:`rows_to_batch` on a whole buffer: its
:class:`~quiver.extract.row_buffer.RowBuffer` converts each page as it arrives, so that only a
page of Python dicts is alive at a time, and must give exactly the batch ``rows_to_batch`` gives
for the whole buffer. What converts early, with its type given instead of inferred: a page's
column whose values all have one Python type whose Arrow type does not depend on the values
(``int``, ``float``, ``bool``, ``str``, ``bytes``, ``date``, ``datetime`` with one ``tzinfo``,
and dicts and lists made of those, checked at C speed). It falls back to this module's inference
over the whole buffer's values of the column when a page mixes types, holds decimals (their
inferred precision follows the values), objects, tuples or dicts with non-text keys, when the
given type rejects a value, or when the pages of one buffer disagree on the type. Dicts and
lists are built from their members' arrays, read in the passes that check the members' types,
which makes the early conversion cheaper than inference as well as smaller in memory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import decimal
import enum
import gc
import itertools
import json
import operator
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa

from quiver.errors import UnsupportedValue
from quiver.schema.types import MAX_DECIMAL_PRECISION

_ARROW_INFERENCE_ERRORS = (
    pa.ArrowInvalid,
    pa.ArrowNotImplementedError,
    OverflowError,
    # pa.ArrowTypeError, and plain TypeErrors for values such as Decimal("-Infinity").
    TypeError,
    # pa.ArrowInvalid, and the ValueError pandas' NaT raises when Arrow asks for its offset.
    ValueError,
)
_DEFAULT_DECIMAL = pa.decimal128(38, 9)
_NONE_TYPE = type(None)
_DECIMAL_TYPES = {decimal.Decimal, _NONE_TYPE}

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


def rows_to_batch(rows: Sequence[Any]) -> pa.RecordBatch:
    """Convert a buffer of rows to one record batch with the union of their keys.

    Rows that are not dicts (dataclasses, pydantic models, scalars) become dicts first.
    """
    with gc_paused():
        if set(map(type, rows)) != {dict}:
            rows = [as_row(row) for row in rows]
        return _rows_to_batch_by_column(rows)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while a buffer converts.

    Conversion allocates bursts of short-lived lists, and each burst can trigger a full
    collection that walks every object the caller holds (measured: 0.4 s per 100k nested rows
    kept in memory). Nothing allocated here forms reference cycles, so pausing is safe.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def as_row(item: Any) -> dict[str, Any]:
    """A row as a dict: dataclasses and pydantic models as their fields, scalars as ``value``."""
    plain = to_plain(item)
    return plain if isinstance(plain, dict) else {"value": plain}


def _rows_to_batch_by_column(rows: Sequence[dict[str, Any]]) -> pa.RecordBatch:
    # First-seen key order over all rows (dlt's column order), found at C speed.
    keys = dict.fromkeys(itertools.chain.from_iterable(rows))
    names: list[str] = []
    arrays: list[pa.Array] = []
    for key in keys:
        for name, array in column_arrays(key_name(key), [row.get(key) for row in rows]):
            names.append(name)
            arrays.append(array)
    if not names:
        return empty_rows_batch(len(rows))
    return pa.RecordBatch.from_arrays(arrays, names=names)


def empty_rows_batch(count: int) -> pa.RecordBatch:
    """A batch of ``count`` rows without columns (rows that were all ``{}``)."""
    return pa.RecordBatch.from_struct_array(pa.array([{}] * count, pa.struct([])))


def null_mask(values: list[Any]) -> pa.Array:
    """A boolean array, true where the value is ``None`` (the validity mask of a struct or list
    column built from its members)."""
    return pa.array(list(map(operator.is_, values, itertools.repeat(None))), pa.bool_())


def key_name(key: Any) -> str:
    """A dict key as a column name: dlt writes rows as JSON, whose keys are text (``98765`` →
    ``"98765"``, ``True`` → ``"true"``)."""
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool | int | float):
        return json.dumps(key)
    return str(key)


def _may_hide_mixed_kinds(kind: pa.DataType) -> bool:
    """Types Arrow's inference may have reached by silently coercing other Python types."""
    # Measured with pyarrow 26: ints, floats and decimals are absorbed into timestamp, date and
    # time columns; bools into double; datetimes into date; str into binary. Only string, int,
    # bool and nested inference reject foreign values (nested fields are not re-checked).
    return bool(
        pa.types.is_floating(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_temporal(kind)
        or pa.types.is_binary(kind)
        or isinstance(kind, pa.BaseExtensionType)
    )


def _plain_array(array: pa.Array) -> pa.Array:
    """Arrow infers UUID objects as its uuid extension type; dlt stores UUIDs as text."""
    if isinstance(array.type, pa.BaseExtensionType):
        return pa.array([None if v is None else str(v) for v in array.to_pylist()], pa.string())
    return array


def column_arrays(name: str, values: list[Any]) -> list[tuple[str, pa.Array]]:
    """One array for a column, or a main array plus variant arrays for values of other kinds."""
    first = next((v for v in values if v is not None), None)
    if type(first) is decimal.Decimal and set(map(type, values)) <= _DECIMAL_TYPES:
        # Inferring decimal precision costs 0.13 s per 100k values; dlt stores Python decimals
        # as decimal(38, 9) anyway. Values with more scale fall through to inference.
        try:
            return [(name, pa.array(values, _DEFAULT_DECIMAL))]
        except _ARROW_INFERENCE_ERRORS:
            pass
    try:
        array = pa.array(values)
    except _ARROW_INFERENCE_ERRORS:
        pass
    else:
        if _holds_unstorable(array.type):
            # Wide decimals, durations: the values are checked one kind at a time.
            return _split_by_kind(name, values)
        if not _may_hide_mixed_kinds(array.type):
            return [(name, array)]
        types = set(map(type, values)) - {_NONE_TYPE}
        if len(types) <= 1 or (types == {int, float} and pa.types.is_floating(array.type)):
            return [(name, _plain_array(array))]
    return _split_by_kind(name, values)


def _inferred(values: list[Any]) -> pa.Array:
    """``pa.array`` of values of one kind; types no table format stores (wide decimals,
    durations) do not count as inferred (their values are checked one by one)."""
    array = pa.array(values)
    if _holds_unstorable(array.type):
        raise pa.ArrowInvalid(f"{array.type} is not stored by Delta or Iceberg")
    return _plain_array(array)


def _split_by_kind(name: str, values: list[Any]) -> list[tuple[str, pa.Array]]:
    values = [to_plain(v) for v in values]
    kinds = [_kind(v) for v in values]
    distinct = list(dict.fromkeys(k for k in kinds if k is not None))
    if "dict" in distinct and "list" not in distinct:
        # dlt flattens dicts, so a scalar next to a dict belongs in the column itself and the
        # dict in the variant (normalize flattens that struct into ``<key>__<field>``).
        distinct.remove("dict")
        distinct.append("dict")
    if len(distinct) == 1:
        try:
            return [(name, _inferred(values))]
        except _ARROW_INFERENCE_ERRORS:
            if distinct != ["number"]:
                return [(name, _single_kind_array(name, values, distinct[0]))]
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
            result.append((column_name, _inferred(column_values)))
        except _ARROW_INFERENCE_ERRORS:
            if kind == "number":  # ints and floats that do not unify: split them too
                result.extend(_split_by_kind(column_name, column_values))
            else:
                result.append((column_name, _single_kind_array(name, column_values, kind)))
    return result


def _single_kind_array(name: str, values: list[Any], kind: str) -> pa.Array:
    """Values of one kind that ``pa.array`` still rejects: nested conflicts, mixed tz, huge ints.

    Raises:
        UnsupportedValue: for a value no table format stores as it is (a Python int outside
            64 bits, a Decimal NaN, infinity or one of more than 38 digits).
    """
    if kind in ("number", "int", "decimal"):
        _reject_unstorable_numbers(name, values)
    if kind == "other":
        _reject_unknown_objects(name, values)
    if kind == "str":
        _reject_unencodable_text(name, values)
    if kind == "dict":
        mask = null_mask(values)
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


_INT64_RANGE = (-(2**63), 2**63 - 1)
#: dlt's column for the scalars of a list (``{"value": x}`` rows of the child table).
C_VALUE = "value"


def _reject_unencodable_text(name: str, values: list[Any]) -> None:
    """Text that is not valid Unicode (a lone surrogate) cannot be written as UTF-8."""
    for value in values:
        if not isinstance(value, str):
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            raise UnsupportedValue(
                name,
                value,
                f"is not valid Unicode ({error.reason} at position {error.start}); Delta and "
                "Iceberg store text as UTF-8",
                "clean the text in the resource, e.g. "
                "value.encode('utf-8', 'replace').decode('utf-8')",
            ) from None


def _reject_unknown_objects(name: str, values: list[Any]) -> None:
    """Objects Arrow cannot type and dlt cannot serialize: an error, not their ``str()``."""
    value = next(v for v in values if v is not None)
    if isinstance(value, datetime.timedelta) or type(value).__name__ == "timedelta64":
        raise UnsupportedValue(
            name,
            value,
            "is a duration; Delta and Iceberg have no duration type",
            "convert it in the resource to a number of seconds (value.total_seconds()) or to str",
        )
    raise UnsupportedValue(
        name,
        value,
        f"is a {type(value).__module__}.{type(value).__qualname__}, a type no table format "
        "stores (dlt cannot serialize it either)",
        "convert it in the resource (e.g. with add_map) to str or to a supported type: "
        "str, int, float, bool, Decimal, datetime, date, time, bytes, dict or list",
    )


def _reject_unstorable_numbers(name: str, values: list[Any]) -> None:
    """Raise for the first number that no table format can store as it is (never rounded)."""
    widest: tuple[int, int] = (0, 0)
    for value in values:
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int) and not _INT64_RANGE[0] <= value <= _INT64_RANGE[1]:
            raise UnsupportedValue(
                name,
                value,
                "is outside the 64-bit integer range that Delta and Iceberg store",
                "convert it in the resource to a Decimal (exact, up to 38 digits) or to str",
            )
        if isinstance(value, decimal.Decimal):
            if not value.is_finite():
                raise UnsupportedValue(
                    name,
                    value,
                    "is not a finite number: Delta and Iceberg decimals have no NaN or infinity",
                    "replace it with None in the resource, or convert the column to float "
                    "(doubles store NaN and infinity)",
                )
            digits = _decimal_digits(value)
            if sum(digits) > MAX_DECIMAL_PRECISION:
                raise UnsupportedValue(
                    name,
                    value,
                    f"needs {sum(digits)} digits; Delta and Iceberg decimals hold at most "
                    f"{MAX_DECIMAL_PRECISION}",
                    "convert it in the resource to str (exact) or to float (approximate)",
                )
            widest = (max(widest[0], digits[0]), max(widest[1], digits[1]))
    if sum(widest) > MAX_DECIMAL_PRECISION:
        example = next(v for v in values if isinstance(v, decimal.Decimal))
        raise UnsupportedValue(
            name,
            example,
            f"together with the column's other values needs {widest[0]} integer and "
            f"{widest[1]} fractional digits; one decimal column holds at most "
            f"{MAX_DECIMAL_PRECISION} digits",
            "quantize the values in the resource (Decimal.quantize) to the scale you need, or "
            "convert them to str",
        )


def _decimal_digits(value: decimal.Decimal) -> tuple[int, int]:
    """(integer digits, fractional digits) of a finite Decimal as Arrow stores it."""
    sign_digits_exponent = value.as_tuple()
    exponent = int(sign_digits_exponent.exponent)
    digits = len(sign_digits_exponent.digits)
    if exponent >= 0:
        return digits + exponent, 0
    return max(digits + exponent, 0), -exponent


def _holds_unstorable(kind: pa.DataType) -> bool:
    """True when Arrow inferred a type no table format stores somewhere in ``kind``: a decimal
    of more than 38 digits, a duration (from ``timedelta``)."""
    if isinstance(kind, pa.Decimal256Type) or pa.types.is_duration(kind):
        return True
    if pa.types.is_struct(kind):
        return any(_holds_unstorable(kind.field(i).type) for i in range(kind.num_fields))
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _holds_unstorable(kind.value_type)
    return False


def _list_array(values: list[Any]) -> pa.Array:
    offsets = [0]
    items: list[Any] = []
    for value in values:
        if value is not None:
            items.extend(value)
        offsets.append(len(items))
    mask = null_mask(values)
    item_kinds = {_kind(item) for item in items} - {None}
    if item_kinds and item_kinds <= {"dict"}:
        item_array: pa.Array = _single_kind_array("value", items, "dict")
    elif "dict" in item_kinds and "list" not in item_kinds:
        # Scalars next to dicts: dlt makes each dict a row of its own keys and wraps each
        # scalar as {"value": x}, so both share the child table.
        wrapped = [
            item if item is None or isinstance(item, dict) else {C_VALUE: item} for item in items
        ]
        item_array = _single_kind_array("value", wrapped, "dict")
    else:
        # Lists of scalars of mixed kinds become lists of {"value": ..., "value__v_<type>": ...}
        # so that the child table gets dlt's `value` column and its variants.
        columns = column_arrays("value", items)
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


def to_plain(value: Any) -> Any:
    """Objects Arrow cannot infer, turned into the plain values dlt would store for them."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    # dlt's order: an ``asdict()`` method (LoadInfo, the run trace) before the fields.
    as_dict = getattr(value, "asdict", None)
    if callable(as_dict) and not isinstance(value, type):
        return to_plain(as_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_plain(dataclasses.asdict(value))
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        return to_plain(model_dump())
    return _from_pandas_or_numpy(value)


#: pandas' missing-value markers (checked by name: quiver never imports pandas itself).
_PANDAS_MISSING = {"NAType", "NaTType"}


def _from_pandas_or_numpy(value: Any) -> Any:
    """pandas' ``NA``/``NaT`` as None (rows from ``DataFrame.to_dict``); a numpy datetime as a
    Python datetime (microseconds, what Delta and Iceberg store); other values unchanged."""
    kind = type(value)
    if kind.__name__ in _PANDAS_MISSING and kind.__module__.startswith("pandas"):
        return None
    if kind.__module__ == "numpy" and kind.__name__ == "datetime64":
        return value.astype("datetime64[us]").item()
    return value


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)
