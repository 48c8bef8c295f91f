"""Table-format adapters, dlt's ``iceberg_adapter``: Iceberg partitioning with transforms.

Identity partitions come from the ``partition`` column hint on both table formats; transforms
(year, month, day, hour, bucket, truncate) exist only in Iceberg and are declared here. The spec
is stored as the table hint ``x-iceberg-partition`` and applied when the table is created
(Iceberg partition evolution is not attempted, as in dlt).

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

from quiver.errors import InvalidHintValue, NotSupportedYet
from quiver.extract.resource import Resource
from quiver.schema.hints import ICEBERG_PARTITION_HINT, ICEBERG_TRANSFORMS

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
    """Attach an Iceberg partition spec to a resource.

    Args:
        data: a resource (or data, which becomes a resource named by its ``__name__``).
        partition: column names (identity) and/or ``iceberg_partition.*`` fields.
        table_properties: not supported yet (raises :class:`~quiver.errors.NotSupportedYet`).

    Returns:
        The resource, with the partition hint applied.

    Raises:
        InvalidHintValue: for an unknown partition transform.
        NotSupportedYet: for ``table_properties``.
    """
    from quiver.extract.decorators import resource as make_resource

    if table_properties:
        raise NotSupportedYet(
            "iceberg_adapter(table_properties=...)",
            "set Iceberg table properties when the table is created",
            "remove table_properties=...; set them with pyiceberg after the first load "
            "(table.transaction().set_properties(...)).",
        )
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
    # Table hints that resources do not declare as keywords travel as ``x-`` hints.
    return target.merge_hints({ICEBERG_PARTITION_HINT: spec})
