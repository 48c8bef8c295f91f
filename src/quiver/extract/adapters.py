"""Table-format adapters, dlt's ``iceberg_adapter``: Iceberg partitioning with transforms.

Identity partitions come from the ``partition`` column hint on both table formats; transforms
(year, month, day, hour, bucket, truncate) exist only in Iceberg and are declared here. The spec
is stored as the table hint ``x-iceberg-partition`` and applied when the table is created
(a table that exists gets new hinted fields added to its spec: docs/partitioning.md).

Examples:
    >>> from quiver.destinations.adapters import iceberg_adapter, iceberg_partition
    >>> import quiver
    >>> events = quiver.resource([{"id": 1}], name="events")
    >>> events = iceberg_adapter(events, partition=[iceberg_partition.day("created_at")])
    >>> events.hints["x-iceberg-partition"]
    [{'column': 'created_at', 'transform': 'day', 'name': None}]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from quiver.errors import InvalidHintValue
from quiver.extract.resource import Resource
from quiver.schema.hints import (
    ICEBERG_PARTITION_HINT,
    ICEBERG_TABLE_PROPERTIES_HINT,
    ICEBERG_TRANSFORMS,
)

__all__ = ["iceberg_adapter", "iceberg_partition"]


class iceberg_partition:  # lower case: dlt's name
    """Partition fields: ``iceberg_partition.day("ts")``, ``.bucket(16, "id")``, ..."""

    @staticmethod
    def identity(column: str, name: str | None = None) -> dict[str, Any]:
        return {"column": column, "transform": "identity", "name": name}

    @staticmethod
    def year(column: str, name: str | None = None) -> dict[str, Any]:
        return {"column": column, "transform": "year", "name": name}

    @staticmethod
    def month(column: str, name: str | None = None) -> dict[str, Any]:
        return {"column": column, "transform": "month", "name": name}

    @staticmethod
    def day(column: str, name: str | None = None) -> dict[str, Any]:
        return {"column": column, "transform": "day", "name": name}

    @staticmethod
    def hour(column: str, name: str | None = None) -> dict[str, Any]:
        return {"column": column, "transform": "hour", "name": name}

    @staticmethod
    def bucket(num_buckets: int, column: str, name: str | None = None) -> dict[str, Any]:
        return {"column": column, "transform": f"bucket[{int(num_buckets)}]", "name": name}

    @staticmethod
    def truncate(width: int, column: str, name: str | None = None) -> dict[str, Any]:
        return {"column": column, "transform": f"truncate[{int(width)}]", "name": name}


def iceberg_adapter(
    data: Any,
    partition: str | dict[str, Any] | Sequence[str | dict[str, Any]] | None = None,
    table_properties: dict[str, str] | None = None,
) -> Resource:
    """Attach an Iceberg partition spec and/or table properties to a resource.

    Args:
        data: a resource (or data, which becomes a resource named by its ``__name__``).
        partition: column names (identity) and/or ``iceberg_partition.*`` fields.
        table_properties: Iceberg table properties (string keys and values, e.g.
            ``{"write.target-file-size-bytes": "536870912"}``), set when the table is created
            and not updated by later loads, as in dlt. Stored as the table hint
            ``x-iceberg-table-properties``. quiver keeps ``commit.retry.num-retries=0``.

    Returns:
        The resource, with the partition hint applied.

    Raises:
        InvalidHintValue: (a ``ValueError``, as dlt raises) for an unknown partition transform,
            or table properties that are not a dict of strings.
    """
    from quiver.extract.decorators import resource as make_resource

    target = data if isinstance(data, Resource) else make_resource(data)
    fields = [partition] if isinstance(partition, str | dict) else list(partition or [])
    spec = [iceberg_partition.identity(f) if isinstance(f, str) else dict(f) for f in fields]
    for field in spec:
        kind = str(field["transform"]).split("[")[0]
        if kind not in ICEBERG_TRANSFORMS:
            raise InvalidHintValue.not_one_of(
                f"iceberg_adapter() for resource {target.name!r}",
                "partition transform",
                field["transform"],
                ICEBERG_TRANSFORMS,
            )
    # As in dlt, an argument not given leaves its hint alone (a later call adds properties to
    # an earlier partition spec).
    hints: dict[str, Any] = {ICEBERG_PARTITION_HINT: spec} if partition is not None else {}
    if table_properties is not None:
        hints[ICEBERG_TABLE_PROPERTIES_HINT] = _checked_properties(table_properties, target.name)
    # Table hints that resources do not declare as keywords travel as ``x-`` hints.
    return target.merge_hints(hints)


def _checked_properties(properties: Any, resource_name: str) -> dict[str, str]:
    where = f"iceberg_adapter() for resource {resource_name!r}"
    if not isinstance(properties, dict):
        raise InvalidHintValue(
            f"{where}: table_properties must be a dict, got {type(properties).__name__}. "
            "Hint: pass {'property.name': 'value', ...}."
        )
    for key, value in properties.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidHintValue(
                f"{where}: table property {key!r} = {value!r} is not a pair of strings. "
                f"Hint: Iceberg stores properties as strings; write {str(value)!r}."
            )
    return dict(properties)
