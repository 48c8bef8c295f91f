"""dlt's import path for table-format adapters (``dlt.destinations.adapters``).

A facade: the adapters declare table hints on resources, so they live in
:mod:`quiver.extract.adapters`; this module only re-exports them under the path dlt users know.
"""

from quiver.extract.adapters import iceberg_adapter, iceberg_partition

__all__ = ["iceberg_adapter", "iceberg_partition"]
