"""Iceberg partition specs: the partition hints applied to a spec, and files registered with the
partition tuple normalize computed.

The hints are the ``x-iceberg-partition`` table hint (dlt's ``iceberg_adapter``) and the
``partition`` column hint (identity fields); :func:`quiver.schema.partitions.partition_fields`
puts them in spec order. A new table gets them all; an existing table gets the fields it lacks
(partition evolution: later files are written with the new spec, earlier ones keep theirs and
readers prune both). Fields the hints no longer name are kept.

A normalized file of a partitioned table records its partition key in its footer, computed with
Iceberg's transform semantics; :func:`partitioned_data_file` turns it into a ``DataFile`` of the
table's current spec with the footer's statistics, which a fast append registers without reading
the rows. A file without a key for every field of the spec returns ``None`` (the caller writes
its rows through pyiceberg's own partitioned writer).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quiver.schema.hints import ICEBERG_PARTITION_HINT as PARTITION_HINT
from quiver.schema.partitions import PartitionField, file_partition_key, partition_fields

if TYPE_CHECKING:
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Transaction
    from pyiceberg.table.metadata import TableMetadata

__all__ = [
    "PARTITION_HINT",
    "apply_partition_spec",
    "hinted_fields",
    "partitioned_data_file",
    "spec_fields",
]


def hinted_fields(table_schema: Mapping[str, Any], identity: Sequence[str]) -> list[dict[str, Any]]:
    """The partition fields the hints ask for, as ``x-iceberg-partition`` dictionaries (with the
    hint's field ``name`` where one was given)."""
    names = {
        (str(f["column"]), str(f["transform"])): f.get("name")
        for f in table_schema.get(PARTITION_HINT) or []
    }
    return [
        {"column": f.column, "transform": f.transform, "name": names.get((f.column, f.transform))}
        for f in partition_fields(table_schema, identity)
    ]


def spec_fields(metadata: TableMetadata) -> list[PartitionField]:
    """The fields of a table's current spec as ``(source column, transform)``."""
    schema = metadata.schema()
    return [
        PartitionField(schema.find_column_name(f.source_id) or "", str(f.transform))
        for f in metadata.spec().fields
    ]


def apply_partition_spec(update: Any, fields: Sequence[dict[str, Any]]) -> None:
    """Add partition fields to a pyiceberg ``UpdateSpec``."""
    for field in fields:
        if field["transform"] == "identity":
            update.add_identity(field["column"])
        else:
            update.add_field(field["column"], field["transform"], field.get("name"))


def evolve_spec(tx: Transaction, fields: Sequence[dict[str, Any]]) -> None:
    """Add the hinted fields an existing table's spec lacks (no-op when it has them all)."""
    present = set(spec_fields(tx.table_metadata))
    missing = [f for f in fields if PartitionField(f["column"], f["transform"]) not in present]
    if missing:
        with tx.update_spec() as update:
            apply_partition_spec(update, missing)


def partitioned_data_file(metadata: TableMetadata, local_path: Path, url: str) -> DataFile | None:
    """A ``DataFile`` for a normalized file placed at ``url``, in the current spec, with the
    partition tuple from the file's footer; ``None`` if the file lacks a key for a field."""
    import pyarrow.parquet as pq
    from pyiceberg.io.pyarrow import (
        compute_statistics_plan,
        data_file_statistics_from_parquet_metadata,
        parquet_path_to_id_mapping,
    )
    from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
    from pyiceberg.typedef import Record

    parquet_metadata = pq.read_metadata(local_path)
    key = file_partition_key(parquet_metadata.metadata)
    values = []
    for field in spec_fields(metadata):
        if (field.column, field.transform) not in key:
            return None
        values.append(key[field.column, field.transform])
    schema = metadata.schema()
    statistics = data_file_statistics_from_parquet_metadata(
        parquet_metadata=parquet_metadata,
        stats_columns=compute_statistics_plan(schema, metadata.properties),
        parquet_column_mapping=parquet_path_to_id_mapping(schema),
    )
    return DataFile.from_args(
        content=DataFileContent.DATA,
        file_path=url,
        file_format=FileFormat.PARQUET,
        partition=Record(*values),
        file_size_in_bytes=os.path.getsize(local_path),
        sort_order_id=None,
        spec_id=metadata.default_spec_id,
        equality_ids=None,
        key_metadata=None,
        **statistics.to_serialized_dict(),
    )
