"""Refuse to register files whose column types differ from the table's.

Registering files (instead of writing through the engine) skips the engine's own type checks:
a file whose ``amount`` column is text, added to a table where ``amount`` is a double, commits
fine and then breaks every reader. This check runs before such commits.
"""

from __future__ import annotations

import pyarrow as pa

from quiver.errors import SchemaMismatchError


def _comparable(kind: pa.DataType) -> pa.DataType:
    # Engines report large/view variants and field nullability differently from parquet files.
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return pa.string()
    if pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind):
        return pa.binary()
    if pa.types.is_large_list(kind) or pa.types.is_list_view(kind):
        return pa.list_(_comparable(kind.value_type))
    if pa.types.is_list(kind):
        return pa.list_(_comparable(kind.value_type))
    if pa.types.is_struct(kind):
        return pa.struct([pa.field(f.name, _comparable(f.type)) for f in kind])
    return kind


def check_compatible(table_name: str, load_id: str, table: pa.Schema, files: pa.Schema) -> None:
    """Raise SchemaMismatchError if a column of ``files`` has another type in ``table``."""
    existing = {f.name: f.type for f in table}
    for field in files:
        current = existing.get(field.name)
        if current is None or _comparable(current) == _comparable(field.type):
            continue
        raise SchemaMismatchError(
            f"Column {field.name!r} of table {table_name!r} is {current} in the destination, "
            f"but package {load_id} has {field.type}. Hint: the local schema no longer matches "
            "the table (was the pipeline folder or the table recreated?); load into a new "
            "dataset, drop the table, or cast the column in your resource."
        )
