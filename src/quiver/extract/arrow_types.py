"""Arrow items checked at extract: types no table format stores are converted or rejected.

Delta and Iceberg store neither Arrow's ``duration``, ``union`` and interval types nor decimals
of more than 38 digits, nor unsigned 64-bit values above the signed range. Found only at load,
such a column would leave a package that can never load; found here, the run fails before a
package exists, naming the table and column. A lossless conversion is applied where one exists:
a ``decimal256`` whose values fit 38 digits becomes ``decimal128`` (see docs/bad-input.md).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from quiver.errors import UnsupportedDataType, UnsupportedValue
from quiver.schema.types import MAX_DECIMAL_PRECISION, arrow_to_column


def storable_batch(batch: pa.RecordBatch, table_name: str, resource_name: str) -> pa.RecordBatch:
    """``batch`` with every column in a type the table formats store (the same batch if all are).

    Raises:
        UnsupportedDataType: a column of a type without a lossless mapping (duration, union,
            interval, a decimal of more than 38 fractional digits).
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
        column = columns[index]
        if storable != field.type:
            columns[index] = _cast_exactly(column, storable, field.name, table_name, resource_name)
            changed = True
    if not changed:
        return batch
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _storable_type(kind: pa.DataType) -> pa.DataType:
    """The type to store ``kind`` as (itself, or a lossless narrower type)."""
    if isinstance(kind, pa.Decimal256Type):
        if kind.scale > MAX_DECIMAL_PRECISION or kind.scale < 0:
            raise UnsupportedDataType(
                str(kind),
                f"Arrow type {kind} has a scale no 38-digit decimal can hold.",
                "cast the column to decimal128 with a scale of at most 38, or to string, "
                "before the resource yields it.",
            )
        return pa.decimal128(min(kind.precision, MAX_DECIMAL_PRECISION), kind.scale)
    if pa.types.is_dictionary(kind):
        value_type = _storable_type(kind.value_type)
        return kind if value_type == kind.value_type else value_type
    if pa.types.is_struct(kind):
        fields = [kind.field(i) for i in range(kind.num_fields)]
        return pa.struct([f.with_type(_storable_type(f.type)) for f in fields])
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        value_field = kind.value_field.with_type(_storable_type(kind.value_type))
        return pa.list_(value_field) if pa.types.is_list(kind) else pa.large_list(value_field)
    if pa.types.is_fixed_size_list(kind):
        value_field = kind.value_field.with_type(_storable_type(kind.value_type))
        return pa.list_(value_field, kind.list_size)
    if pa.types.is_map(kind):
        key = kind.key_field.with_type(_storable_type(kind.key_type))
        item = kind.item_field.with_type(_storable_type(kind.item_type))
        return pa.map_(key, item, kind.keys_sorted)
    if pa.types.is_uint64(kind):
        return pa.int64()  # Delta and Iceberg have no unsigned 64-bit integers
    if pa.types.is_union(kind):
        raise UnsupportedDataType.from_arrow_type(kind)
    arrow_to_column(kind)  # raises for types without a dlt data type (duration, interval)
    return kind


def _cast_exactly(
    column: pa.Array, storable: pa.DataType, column_name: str, table_name: str, resource: str
) -> pa.Array:
    """Cast with Arrow's safe cast (which fails rather than drop digits); name a misfit."""
    try:
        return pc.cast(column, storable, safe=True)
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
    """The first value the cast rejects (only on the error path: one cast per value)."""
    for index in range(len(column)):
        try:
            pc.cast(column.slice(index, 1), storable, safe=True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return column[index].as_py()
    return None
