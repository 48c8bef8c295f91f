"""Table-format adapters, as ``dlt.destinations.adapters``."""

from quiver.destinations.iceberg_adapter import iceberg_adapter, iceberg_partition

__all__ = ["iceberg_adapter", "iceberg_partition"]
