"""Delta partition values of files that normalize already split by partition.

A normalized file of a partitioned table records its key in its footer
(:mod:`quiver.schema.partitions`); here it becomes the add action's ``partitionValues`` (Delta's
string forms, as delta-rs writes them: dates ``YYYY-MM-DD``, timestamps ``YYYY-MM-DD
HH:MM:SS.ffffff`` in UTC, booleans ``true``/``false``, null as null) and the Hive-style folder
``col=value/`` the file is placed in (values percent-encoded, null as
``__HIVE_DEFAULT_PARTITION__``). The file keeps the partition columns: readers take the values
from the add action, and a copy in the file costs a few bytes of a dictionary page.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote

import pyarrow as pa

from quiver.errors import DestinationCapabilitiesError
from quiver.schema.partitions import file_partition_key

HIVE_NULL: Final = "__HIVE_DEFAULT_PARTITION__"
_EPOCH: Final = datetime.datetime(1970, 1, 1)


def file_partition_values(
    metadata: Mapping[bytes, bytes] | None, columns: Sequence[str], schema: pa.Schema
) -> dict[str, str | None] | None:
    """``{column: Delta partition value}`` of a file, or ``None`` if the file was not split by
    every one of ``columns`` (it then goes through the engine's writer)."""
    key = file_partition_key(metadata)
    values: dict[str, str | None] = {}
    for column in columns:
        if (column, "identity") not in key or column not in schema.names:
            return None
        values[column] = delta_partition_string(key[column, "identity"], schema.field(column).type)
    return values


def delta_partition_string(value: Any, kind: pa.DataType) -> str | None:
    """A partition value (Iceberg representation: days, microseconds) in Delta's string form."""
    if value is None:
        return None
    if pa.types.is_boolean(kind):
        return "true" if value else "false"
    if pa.types.is_date(kind):
        return (_EPOCH + datetime.timedelta(days=int(value))).date().isoformat()
    if pa.types.is_timestamp(kind):
        moment = _EPOCH + datetime.timedelta(microseconds=int(value))
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")
    return str(value)


def partition_folder(columns: Sequence[str], values: Mapping[str, str | None]) -> str:
    """``col=value/...`` (Hive style) for a file with these partition values."""
    parts = []
    for column in columns:
        value = values[column]
        text = HIVE_NULL if value is None else quote(value, safe="")
        parts.append(f"{quote(column, safe='')}={text}")
    return "/".join(parts)


def check_partitioning(
    table_name: str, load_id: str, current: Sequence[str], wanted: Sequence[str]
) -> None:
    """Raise unless the table is partitioned by the columns the schema's hints ask for.

    Raises:
        DestinationCapabilitiesError: Delta cannot change a table's partition columns in place.
    """
    if set(current) == set(wanted):
        return
    raise DestinationCapabilitiesError(
        f"Table {table_name!r} of package {load_id} is partitioned by {list(current)} in Delta, "
        f"but the schema's 'partition' hints ask for {list(wanted)}. Delta cannot repartition a "
        "table in place. Hint: reload it from scratch with refresh='drop_resources' (or drop "
        "the table folder), or keep the hints the table was created with."
    )
