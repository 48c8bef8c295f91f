"""Iceberg partition specs: the ``x-iceberg-partition`` hint applied to a pyiceberg spec update.

The hint is declared by :func:`quiver.extract.adapters.iceberg_adapter` (dlt's
``iceberg_adapter``); identity partitions also come from the ``partition`` column hint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from quiver.schema.hints import ICEBERG_PARTITION_HINT as PARTITION_HINT

__all__ = ["PARTITION_HINT", "apply_partition_spec"]


def apply_partition_spec(
    update: Any, identity: Sequence[str], spec: Sequence[dict[str, Any]]
) -> None:
    """Add identity columns and transform fields to a pyiceberg ``UpdateSpec``."""
    done: set[tuple[str, str]] = set()
    for field in spec:
        key = (str(field["column"]), str(field["transform"]))
        if key in done:
            continue
        done.add(key)
        if field["transform"] == "identity":
            update.add_identity(field["column"])
        else:
            update.add_field(field["column"], field["transform"], field.get("name"))
    for column in identity:
        if (column, "identity") not in done:
            update.add_identity(column)
