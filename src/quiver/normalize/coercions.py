"""Per-value type coercion of whole arrays: which values fit a column's type, and as what.

dlt coerces value by value (``dlt/common/data_types/type_helpers.py:coerce_value``): a string
``"7"`` fits a ``bigint`` column, ``2.0`` fits it too, ``2.5`` does not and goes to the variant
column ``<col>__v_double``. Here the same rules run on whole Arrow arrays: every function returns
the coerced array (null where a value does not fit) and a mask of the values that did not fit.
Nothing loops over rows; polars is used where Arrow has no kernel (JSON text, time and
binary parsing, timestamps in mixed ISO forms).

The rules, by target type (anything else does not fit):

=========  ================================================================================
text       everything: numbers and dates as dlt's JSON encoder writes them, ``True``/``False``
           for bools, nested values as JSON text
bigint     other integers in range, integral doubles and decimals, strings of digits
double     integers, decimals, numeric strings
decimal    integers, doubles, decimals and numeric strings that fit precision and scale
bool       ``true/false/yes/no/t/f/y/n/1/0`` strings (any case), numbers (non-zero is true)
timestamp  timestamps, dates (midnight UTC), ISO-8601 strings, numbers (UNIX seconds)
date       dates, timestamps, ISO strings, numbers (UNIX seconds)
time       times, ``HH:MM[:SS[.f]]`` strings
binary     binaries, ``0x``-hex and base64 strings
json       nested values (structs, lists, maps)
=========  ================================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from quiver.schema.types import TColumnSchema, arrow_to_column, is_nested

# A date and a time of day, "T" or space between, optional seconds, fraction and zone: what
# dlt's ISO detection (pendulum, non-strict) accepts as a timestamp for the common forms.
ISO_TIMESTAMP = (
    r"^\s*\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}([.,]\d+)?)?\s*(Z|z|[+-]\d{2}(:?\d{2})?)?\s*$"
)
_ISO_DATE = r"^\s*\d{4}-\d{2}-\d{2}\s*$"
_HAS_ZONE = r"(Z|z|[+-]\d{2}(:?\d{2})?)\s*$"
_INTEGER = r"^\s*[+-]?\d{1,18}\s*$"
_NUMBER = r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$"
_TRUE = ["true", "t", "yes", "y", "1"]
_FALSE = ["false", "f", "no", "n", "0"]
_INT_RANGES = {
    pa.int8(): (-(2**7), 2**7 - 1),
    pa.int16(): (-(2**15), 2**15 - 1),
    pa.int32(): (-(2**31), 2**31 - 1),
    pa.int64(): (-(2**63), 2**63 - 1),
}
_CAST_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError)
#: Seconds that fit a microsecond timestamp comfortably (year ~5138): beyond it is not a time.
_MAX_EPOCH_SECONDS = 1e11


@dataclass
class Coerced:
    """Values coerced to the target type; ``failed`` marks values that did not fit (or None)."""

    values: pa.Array
    failed: pa.Array | None = None

    @property
    def failed_count(self) -> int:
        return 0 if self.failed is None else int(pc.sum(self.failed).as_py() or 0)


def dlt_type(arrow_type: pa.DataType) -> str | None:
    column = arrow_to_column(arrow_type)
    return None if column is None else str(column["data_type"])


def coerce_values(
    array: pa.Array, column: TColumnSchema, target: pa.DataType, *, from_rows: bool
) -> Coerced:
    """Coerce ``array`` to ``target`` (the Arrow type of ``column``), value by value."""
    if array.type == target:
        return Coerced(array)
    data_type = column["data_type"]
    source = dlt_type(array.type)
    if source == data_type and data_type not in ("json",):
        try:
            return Coerced(_cast(array, target))
        except _CAST_ERRORS:
            pass  # out of range or precision: sort the values below
    coerce = _COERCERS.get(data_type)
    if coerce is None:
        return _all_failed(array, target)
    return coerce(array, source, target, from_rows)


# ------------------------------------------------------------------ helpers
def _cast(array: pa.Array, target: pa.DataType, *, safe: bool = True) -> pa.Array:
    if array.type == target:
        return array
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
        if array.type == target:
            return array
    if pa.types.is_timestamp(array.type) and pa.types.is_timestamp(target):
        # Truncating nanoseconds to microseconds is what Delta and Iceberg store anyway.
        return pc.cast(array, target, safe=False)
    return pc.cast(array, target, safe=safe)


def _nulls_like(target: pa.DataType, length: int) -> pa.Array:
    return pa.nulls(length, target)


def _all_failed(array: pa.Array, target: pa.DataType) -> Coerced:
    all_null = array.null_count == len(array)
    return Coerced(_nulls_like(target, len(array)), None if all_null else pc.is_valid(array))


def _with_mask(array: pa.Array, ok: pa.Array, convert: Any, target: pa.DataType) -> Coerced:
    """Convert only the values where ``ok``; the others become null and count as failed."""
    ok = pc.fill_null(ok, False)
    failed = pc.and_(pc.is_valid(array), pc.invert(ok))
    any_failed = bool(pc.any(failed).as_py())
    if not pc.any(ok).as_py():
        return Coerced(_nulls_like(target, len(array)), failed if any_failed else None)
    kept = pc.if_else(ok, array, pa.nulls(len(array), array.type)) if any_failed else array
    return Coerced(convert(kept), failed if any_failed else None)


def _plain(array: pa.Array) -> pa.Array:
    """Decode dictionaries and views so compute kernels see plain arrays."""
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_string_view(array.type) or pa.types.is_large_string(array.type):
        array = pc.cast(array, pa.string())
    return array


def _is_text(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
    )


def _polars() -> Any:
    import polars as pl

    return pl


# ------------------------------------------------------------------- text / json
def to_json_text(array: pa.Array) -> pa.Array:
    """JSON text of every value (null stays null), as dlt's parquet writer stores ``json``."""
    pl = _polars()
    if len(array) == 0:
        return pa.array([], pa.string())
    wrapped = pa.StructArray.from_arrays([_jsonable(array)], names=["v"])
    encoded = pl.from_arrow(pa.table({"w": wrapped})).select(
        pl.col("w").struct.json_encode().str.slice(5).str.head(-1)
    )
    text = pc.cast(encoded.to_series().to_arrow(), pa.string())
    return pc.if_else(pc.is_valid(array), text, pa.nulls(len(array), pa.string()))


def _jsonable(array: pa.Array) -> pa.Array:
    """Replace the leaves polars cannot write as JSON (binary) with base64 text."""
    kind = array.type
    if pa.types.is_struct(kind):
        children = [_jsonable(array.field(i)) for i in range(kind.num_fields)]
        if all(c.type == kind.field(i).type for i, c in enumerate(children)):
            return array
        return pa.StructArray.from_arrays(
            children,
            names=[kind.field(i).name for i in range(kind.num_fields)],
            mask=pc.is_null(array),
        )
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        values = _jsonable(array.values)
        if values.type == array.values.type:
            return array
        cls = pa.ListArray if pa.types.is_list(kind) else pa.LargeListArray
        return cls.from_arrays(array.offsets, values, mask=pc.is_null(array))
    if (
        pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_fixed_size_binary(kind)
    ):
        return _base64(array)
    if pa.types.is_dictionary(kind):
        return _jsonable(array.dictionary_decode())
    return array


def _base64(array: pa.Array) -> pa.Array:
    pl = _polars()
    series = pl.from_arrow(pc.cast(array, pa.large_binary()))
    return pc.cast(series.bin.encode("base64").to_arrow(), pa.string())


def to_text(array: pa.Array) -> pa.Array:
    """Any values as text, the way dlt coerces them into a ``text`` column."""
    kind = array.type
    if _is_text(kind) or pa.types.is_dictionary(kind):
        return pc.cast(_plain(array), pa.string())
    if pa.types.is_boolean(kind):
        return pc.if_else(array, "True", "False")
    if pa.types.is_integer(kind) or pa.types.is_decimal(kind):
        return pc.cast(array, pa.string())
    if pa.types.is_null(kind):
        return pa.nulls(len(array), pa.string())
    text = to_json_text(array)
    if is_nested(kind):
        return text
    # Scalars JSON-encoded as strings ("2024-01-01T00:00:00+00:00") lose their quotes.
    quoted = pc.starts_with(text, '"')
    unquoted = pc.utf8_slice_codeunits(text, 1, -1)
    return pc.if_else(pc.fill_null(quoted, False), unquoted, text)


def _to_text(array: pa.Array, source: str | None, target: pa.DataType, from_rows: bool) -> Coerced:
    return Coerced(pc.cast(to_text(array), target))


def _to_json(array: pa.Array, source: str | None, target: pa.DataType, from_rows: bool) -> Coerced:
    if not is_nested(array.type):
        return _all_failed(array, target)
    if from_rows:
        return Coerced(to_json_text(array))
    return Coerced(array)


# ----------------------------------------------------------------- numbers
def _to_bigint(
    array: pa.Array, source: str | None, target: pa.DataType, from_rows: bool
) -> Coerced:
    low, high = _INT_RANGES.get(target, _INT_RANGES[pa.int64()])
    if source == "bigint":
        ok = pc.and_(pc.greater_equal(array, low), pc.less_equal(array, high))
        return _with_mask(array, ok, lambda a: pc.cast(a, target), target)
    if source == "double":
        ok = pc.and_(
            pc.and_(pc.is_finite(array), pc.equal(pc.floor(array), array)),
            pc.and_(pc.greater_equal(array, float(low)), pc.less(array, float(high))),
        )
        return _with_mask(array, ok, lambda a: pc.cast(a, target, safe=False), target)
    if source in ("decimal", "wei"):
        as_int = pc.cast(array, pa.int64(), safe=False)
        try:
            same = pc.equal(pc.cast(as_int, array.type), array)
        except _CAST_ERRORS:
            return _all_failed(array, target)
        ok = pc.and_(same, pc.and_(pc.greater_equal(as_int, low), pc.less_equal(as_int, high)))
        return _with_mask(as_int, ok, lambda a: pc.cast(a, target), target)
    if source == "text":
        text = _plain(array)
        ok = pc.match_substring_regex(text, _INTEGER)
        as_int = _with_mask(
            text, ok, lambda a: pc.cast(pc.utf8_trim_whitespace(a), pa.int64()), pa.int64()
        )
        if target == pa.int64():
            return as_int
        narrowed = _to_bigint(as_int.values, "bigint", target, from_rows)
        return Coerced(narrowed.values, _or(as_int.failed, narrowed.failed))
    return _all_failed(array, target)


def _to_double(
    array: pa.Array, source: str | None, target: pa.DataType, from_rows: bool
) -> Coerced:
    if source in ("bigint", "decimal", "wei", "double"):
        return Coerced(pc.cast(array, target, safe=False))
    if source == "text":
        text = _plain(array)
        ok = pc.match_substring_regex(text, _NUMBER)
        return _with_mask(text, ok, lambda a: pc.cast(pc.utf8_trim_whitespace(a), target), target)
    return _all_failed(array, target)


def _to_decimal(
    array: pa.Array, source: str | None, target: pa.DataType, from_rows: bool
) -> Coerced:
    if source == "text":
        text = _plain(array)
        ok = pc.match_substring_regex(text, _NUMBER)
        numbers = _with_mask(text, ok, _parse_decimal, _WIDE_DECIMAL)
        rest = _to_decimal(numbers.values, dlt_type(numbers.values.type), target, from_rows)
        return Coerced(rest.values, _or(numbers.failed, rest.failed))
    if source not in ("bigint", "double", "decimal", "wei"):
        return _all_failed(array, target)
    try:
        return Coerced(pc.cast(array, target))
    except _CAST_ERRORS:
        pass
    if source == "bigint":
        # Arrow sizes an integer cast by the type (19 digits), not by the values.
        return _to_decimal(pc.cast(array, pa.decimal128(38, 0)), "decimal", target, from_rows)
    rounded = pc.round(array, target.scale)
    limit = 10.0 ** (target.precision - target.scale)
    ok = pc.less(pc.abs(pc.cast(rounded, pa.float64(), safe=False)), limit)
    if source == "double":
        # A double is an approximation already: the column's scale is as exact as it gets.
        return _with_mask(rounded, ok, lambda a: pc.cast(a, target), target)
    # A decimal is exact: one with more scale than the column does not fit (never rounded).
    ok = pc.and_(ok, pc.equal(rounded, array))
    return _with_mask(array, ok, lambda a: pc.cast(pc.round(a, target.scale), target), target)


_WIDE_DECIMAL = pa.decimal256(76, 38)


def _parse_decimal(text: pa.Array) -> pa.Array:
    trimmed = pc.utf8_trim_whitespace(text)
    try:
        return pc.cast(trimmed, _WIDE_DECIMAL)
    except _CAST_ERRORS:
        return pc.cast(trimmed, pa.float64())  # beyond 38 integer digits: approximate


def _to_bool(array: pa.Array, source: str | None, target: pa.DataType, from_rows: bool) -> Coerced:
    if source == "text":
        lowered = pc.utf8_lower(pc.utf8_trim_whitespace(_plain(array)))
        true = pc.is_in(lowered, pa.array(_TRUE))
        false = pc.is_in(lowered, pa.array(_FALSE))
        values = pc.if_else(true, True, pc.if_else(false, False, pa.scalar(None, pa.bool_())))
        failed = pc.and_(pc.is_valid(array), pc.is_null(values))
        return Coerced(values, failed if pc.any(failed).as_py() else None)
    if source in ("bigint", "double", "decimal", "wei"):
        return Coerced(pc.not_equal(pc.cast(array, pa.float64(), safe=False), 0.0))
    return _all_failed(array, target)


# --------------------------------------------------------------- date and time
def _to_timestamp(
    array: pa.Array, source: str | None, target: pa.DataType, from_rows: bool
) -> Coerced:
    if source == "timestamp":
        return Coerced(_cast(array, target))
    if source == "date":
        return Coerced(pc.cast(pc.cast(array, pa.timestamp("us")), target))
    if source == "text":
        return parse_timestamps(_plain(array), target)
    if source in ("bigint", "double", "decimal"):
        seconds = pc.cast(array, pa.float64(), safe=False)
        ok = pc.less(pc.abs(seconds), _MAX_EPOCH_SECONDS)
        return _with_mask(seconds, ok, lambda a: _epoch_to_timestamp(a, target), target)
    return _all_failed(array, target)


def _epoch_to_timestamp(seconds: pa.Array, target: pa.DataType) -> pa.Array:
    micros = pc.cast(pc.round(pc.multiply(seconds, 1e6)), pa.int64(), safe=False)
    return pc.cast(pc.cast(micros, pa.timestamp("us", "UTC")), target)


def parse_timestamps(text: pa.Array, target: pa.DataType) -> Coerced:
    """ISO-8601 strings to ``target``; values with a zone are converted to UTC, naive ones are UTC."""
    utc = pa.timestamp("us", "UTC")
    # The common cases cost one Arrow cast: all values with a zone, or all without one.
    for attempt in (utc, pa.timestamp("us")):
        try:
            parsed = pc.cast(text, attempt)
        except _CAST_ERRORS:
            continue
        if parsed.type != utc:
            parsed = pc.cast(parsed, utc)  # naive values are UTC (dlt's rule)
        return Coerced(parsed if target == utc else pc.cast(parsed, target))
    pl = _polars()
    canonical = pl.from_arrow(text).str.strip_chars().str.replace(r"^(\d{4}-\d{2}-\d{2}) ", "${1}T")
    canonical = canonical.str.replace(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})([^:\d]|$)", "${1}:00${2}")
    canonical = canonical.str.replace(r"^(\d{4}-\d{2}-\d{2})$", "${1}T00:00:00")
    zoned = canonical.str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.f%#z", strict=False, time_unit="us", time_zone="UTC"
    )
    naive = canonical.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us")
    merged = zoned.fill_null(naive.dt.replace_time_zone("UTC"))
    values = pc.cast(pc.cast(merged.to_arrow(), utc), target)
    failed = pc.and_(pc.is_valid(text), pc.is_null(values))
    return Coerced(values, failed if pc.any(failed).as_py() else None)


def _to_date(array: pa.Array, source: str | None, target: pa.DataType, from_rows: bool) -> Coerced:
    if source == "date":
        return Coerced(pc.cast(array, target))
    if source in ("timestamp", "text", "bigint", "double", "decimal"):
        utc = pa.timestamp("us", "UTC")
        if source == "text":
            try:
                return Coerced(pc.cast(_plain(array), target))
            except _CAST_ERRORS:
                pass
        as_ts = _to_timestamp(array, source, utc, from_rows)
        return Coerced(pc.cast(pc.cast(as_ts.values, pa.timestamp("us")), target), as_ts.failed)
    return _all_failed(array, target)


def _to_time(array: pa.Array, source: str | None, target: pa.DataType, from_rows: bool) -> Coerced:
    if source == "time":
        return Coerced(pc.cast(array, target))
    if source == "text":
        pl = _polars()
        text = pl.from_arrow(_plain(array)).str.strip_chars()
        parsed = text.str.to_time("%H:%M:%S%.f", strict=False).fill_null(
            text.str.to_time("%H:%M", strict=False)
        )
        values = pc.cast(parsed.to_arrow(), target)
        failed = pc.and_(pc.is_valid(array), pc.is_null(values))
        return Coerced(values, failed if pc.any(failed).as_py() else None)
    return _all_failed(array, target)


def _to_binary(
    array: pa.Array, source: str | None, target: pa.DataType, from_rows: bool
) -> Coerced:
    if source == "binary":
        return Coerced(pc.cast(array, target))
    if source == "text":
        pl = _polars()
        text = pl.from_arrow(_plain(array)).str.strip_chars()
        hexed = text.str.starts_with("0x")
        decoded = pl.select(
            pl.when(hexed)
            .then(text.str.slice(2).str.decode("hex", strict=False))
            .otherwise(text.str.decode("base64", strict=False))
        ).to_series()
        values = pc.cast(decoded.to_arrow(), target)
        failed = pc.and_(pc.is_valid(array), pc.is_null(values))
        return Coerced(values, failed if pc.any(failed).as_py() else None)
    return _all_failed(array, target)


def _or(a: pa.Array | None, b: pa.Array | None) -> pa.Array | None:
    if a is None:
        return b
    if b is None:
        return a
    return pc.or_(a, b)


def looks_like_iso_timestamp(text: pa.Array) -> bool:
    """dlt's ``iso_timestamp`` detection decides on the first value: does it look like one?"""
    first = _first_valid(text)
    return first is not None and pc.match_substring_regex(first, ISO_TIMESTAMP).as_py() is True


def _first_valid(array: pa.Array) -> pa.Scalar | None:
    if array.null_count == len(array):
        return None
    index = 0 if array.null_count == 0 else pc.index(pc.is_valid(array), True).as_py()
    return pc.cast(_plain(array.slice(index, 1)), pa.string())[0]


_Coercer = Callable[[pa.Array, str | None, pa.DataType, bool], Coerced]
_COERCERS: dict[str, _Coercer] = {
    "text": _to_text,
    "json": _to_json,
    "bigint": _to_bigint,
    "double": _to_double,
    "decimal": _to_decimal,
    "wei": _to_decimal,
    "bool": _to_bool,
    "timestamp": _to_timestamp,
    "date": _to_date,
    "time": _to_time,
    "binary": _to_binary,
}

__all__ = [
    "Coerced",
    "coerce_values",
    "dlt_type",
    "looks_like_iso_timestamp",
    "parse_timestamps",
    "to_json_text",
    "to_text",
]
