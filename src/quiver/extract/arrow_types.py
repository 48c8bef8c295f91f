"""Arrow items checked at extract: types no table format stores are converted or rejected.

Delta and Iceberg store neither Arrow's ``duration``, ``union`` and interval types, nor decimals
of more than 38 digits, nor unsigned integers, nor structs without fields; Iceberg has no list
views. Found only at normalize or load, such a column would leave a package that can never load;
found here, the run fails before a package exists, naming the table and column. A lossless
conversion is applied where one exists (see docs/bad-input.md): a ``decimal256`` whose values
fit 38 digits becomes ``decimal128``, an unsigned integer the signed type twice as wide (``uint64``
stays 64 bits, so its values must fit), a list view a list.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quiver.errors import UnsupportedDataType, UnsupportedValue
from quiver.schema.types import MAX_DECIMAL_PRECISION, arrow_to_column

#: Unsigned integer types and the signed type that holds all their values (uint64: most).
_SIGNED_FOR_UNSIGNED = {
    pa.uint8(): pa.int16(),
    pa.uint16(): pa.int32(),
    pa.uint32(): pa.int64(),
    pa.uint64(): pa.int64(),
}


def storable_batch(batch: pa.RecordBatch, table_name: str, resource_name: str) -> pa.RecordBatch:
    """``batch`` with every column in a type the table formats store (the same batch if all are).

    Raises:
        UnsupportedDataType: a column of a type without a lossless mapping (duration, union,
            interval, a struct without fields, a decimal of more than 38 fractional digits).
        UnsupportedValue: a value that does not fit the mapped type (a ``decimal256`` value of
            more than 38 digits, a ``uint64`` value above the int64 range).
    """
    columns = list(batch.columns)
    changed = False
    for index, field in enumerate(batch.schema):
        try:
            storable = _storable_type(field.type)
        except UnsupportedDataType as error:
            raise error.at(table_name, field.name) from None
        if pa.types.is_timestamp(field.type) and field.type.unit == "ns":
            _check_whole_microseconds(columns[index], field.name, table_name, resource_name)
        if storable != field.type:
            columns[index] = _convert_exactly(
                columns[index], storable, field.name, table_name, resource_name
            )
            changed = True
    if not changed:
        return batch
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _storable_type(kind: pa.DataType) -> pa.DataType:
    """The type to store ``kind`` as: itself, or a type that holds every value of it."""
    if isinstance(kind, pa.Decimal256Type):
        if kind.scale > MAX_DECIMAL_PRECISION or kind.scale < 0:
            raise UnsupportedDataType(
                str(kind),
                f"Arrow type {kind} has a scale no 38-digit decimal can hold.",
                "cast the column to decimal128 with a scale of at most 38, or to string, "
                "before the resource yields it.",
            )
        return pa.decimal128(min(kind.precision, MAX_DECIMAL_PRECISION), kind.scale)
    if kind in _SIGNED_FOR_UNSIGNED:
        return _SIGNED_FOR_UNSIGNED[kind]
    if pa.types.is_dictionary(kind):
        value_type = _storable_type(kind.value_type)
        return kind if value_type == kind.value_type else value_type
    if pa.types.is_struct(kind):
        if kind.num_fields == 0:
            raise UnsupportedDataType(
                str(kind),
                "A struct without fields has nothing to store (parquet cannot write it).",
                "drop the column, or give the struct a field, before the resource yields it.",
            )
        fields = [kind.field(i) for i in range(kind.num_fields)]
        return pa.struct([f.with_type(_storable_type(f.type)) for f in fields])
    if pa.types.is_list(kind) or pa.types.is_list_view(kind):
        return pa.list_(kind.value_field.with_type(_storable_type(kind.value_type)))
    if pa.types.is_large_list(kind) or pa.types.is_large_list_view(kind):
        return pa.large_list(kind.value_field.with_type(_storable_type(kind.value_type)))
    if pa.types.is_fixed_size_list(kind):
        # Delta and Iceberg store arrays without a size: a list, so the table reads back (and
        # is appended to) with the type it stores.
        return pa.list_(kind.value_field.with_type(_storable_type(kind.value_type)))
    if pa.types.is_map(kind):
        key = kind.key_field.with_type(_storable_type(kind.key_type))
        item = kind.item_field.with_type(_storable_type(kind.item_type))
        return pa.map_(key, item, kind.keys_sorted)
    if pa.types.is_union(kind):
        raise UnsupportedDataType.from_arrow_type(kind)
    arrow_to_column(kind)  # raises for types without a dlt data type (duration, interval)
    return kind


def _convert(array: pa.Array, storable: pa.DataType) -> pa.Array:
    """``array`` as ``storable``, value for value (Arrow's safe casts fail rather than lose).

    Lists and structs are rebuilt around converted children: Arrow 26 casts a list view to an
    invalid list array, so nested types are not left to one cast.
    """
    kind = array.type
    if kind == storable:
        return array
    if pa.types.is_struct(kind) and pa.types.is_struct(storable):
        children = [
            _convert(child, storable.field(i).type) for i, child in enumerate(array.flatten())
        ]
        return pa.StructArray.from_arrays(children, fields=list(storable), mask=pc.is_null(array))
    variable_list = (
        pa.types.is_fixed_size_list(kind)
        or pa.types.is_list(kind)
        or pa.types.is_large_list(kind)
        or pa.types.is_list_view(kind)
        or pa.types.is_large_list_view(kind)
    )
    if variable_list and (pa.types.is_list(storable) or pa.types.is_large_list(storable)):
        lengths = pc.fill_null(pc.list_value_length(array), 0).to_numpy(zero_copy_only=False)
        large = pa.types.is_large_list(storable)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64 if large else np.int32)
        values = _convert(pc.list_flatten(array), storable.value_type)
        list_class = pa.LargeListArray if large else pa.ListArray
        return list_class.from_arrays(
            pa.array(offsets), values, type=storable, mask=pc.is_null(array)
        )
    return pc.cast(array, storable, safe=True)


def _convert_exactly(
    column: pa.Array, storable: pa.DataType, column_name: str, table_name: str, resource: str
) -> pa.Array:
    """:func:`_convert`, or an error naming a value that does not fit."""
    try:
        return _convert(column, storable)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        example = _first_misfit(column, storable)
        raise UnsupportedValue(
            column_name,
            example,
            f"does not fit {storable}, what Delta and Iceberg store for Arrow {column.type} "
            f"({error})",
            "cast the column to string, or to a type that holds the value (decimal128(20, 0) "
            "for unsigned 64-bit integers; decimals of at most 38 digits), before the resource "
            "yields it",
            table_name,
            resource,
        ) from None


def _first_misfit(column: pa.Array, storable: pa.DataType) -> object:
    """The first value the conversion rejects (only on the error path: one try per value)."""
    for index in range(len(column)):
        try:
            _convert(column.slice(index, 1), storable)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return column[index].as_py()
    return None


def _check_whole_microseconds(
    column: pa.Array, column_name: str, table_name: str, resource: str
) -> None:
    """Delta and Iceberg store microseconds: a timestamp with nanoseconds would be truncated."""
    nanoseconds = pc.cast(column, pa.int64())
    fraction = pc.fill_null(pc.not_equal(pc.remainder(nanoseconds, 1000), 0), False)
    if not pc.any(fraction).as_py():
        return
    example = pc.filter(column, fraction)[0]
    raise UnsupportedValue(
        column_name,
        f"{example} ({pc.filter(nanoseconds, fraction)[0].as_py()} ns)",
        "has nanoseconds; Delta and Iceberg store timestamps in microseconds, so the "
        "nanosecond digits would be lost",
        "cast the column to timestamp('us') in the resource if the nanoseconds may go, or keep "
        "them in an int64 column of nanoseconds",
        table_name,
        resource,
    )
