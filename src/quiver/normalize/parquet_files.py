"""The parquet lanes of a normalized package live in :mod:`quiver.package.parquet_files`
(extract writes Arrow items that need no normalizing with them too); re-exported here."""

from quiver.package.parquet_files import (
    PARQUET_EXT,
    ParquetLane,
    ParquetTableWriter,
    lane_factory,
    near_unique,
)

__all__ = ["PARQUET_EXT", "ParquetLane", "ParquetTableWriter", "lane_factory", "near_unique"]
