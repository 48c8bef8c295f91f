"""Count the rows of a written table from its own metadata, independently of the tool that wrote it.

A benchmark that does not check its output rewards a tool that silently writes nothing (or the
wrong format, or duplicates on a merge); every run is checked against the expected row count.
Counting uses table metadata only (Delta add-action stats, the Iceberg snapshot summary), so it
is cheap even for 10M rows and never touches the data files.
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

_METADATA_VERSION = re.compile(r"^(?:v)?(\d+)[-.]")


def count_delta_rows(table_path: Path) -> int:
    """Rows in the current version of the Delta table at ``table_path``."""
    import deltalake

    if not (table_path / "_delta_log").is_dir():
        raise FileNotFoundError(f"no Delta table at {table_path} (no _delta_log folder)")
    table = deltalake.DeltaTable(str(table_path))
    num_records = pa.table(table.get_add_actions(flatten=True)).column("num_records")
    if num_records.null_count:
        return int(table.count())
    return int(pc.sum(num_records).as_py() or 0)


def newest_iceberg_metadata(table_path: Path) -> Path:
    """The newest ``*.metadata.json`` of the Iceberg table at ``table_path``."""
    candidates = list((table_path / "metadata").glob("*.metadata.json"))
    if not candidates:
        raise FileNotFoundError(f"no Iceberg table at {table_path} (no metadata/*.metadata.json)")

    def version(path: Path) -> tuple[int, float]:
        match = _METADATA_VERSION.match(path.name)
        return (int(match.group(1)) if match else -1, path.stat().st_mtime)

    return max(candidates, key=version)


def count_iceberg_rows(table_path: Path) -> int:
    """Rows in the current snapshot of the Iceberg table at ``table_path``."""
    from pyiceberg.table import StaticTable

    table = StaticTable.from_metadata(str(newest_iceberg_metadata(table_path)))
    snapshot = table.current_snapshot()
    if snapshot is None or snapshot.summary is None:
        return 0
    return int(snapshot.summary["total-records"])


def count_rows(table_path: Path, table_format: str) -> int:
    """Rows in the table at ``table_path`` read as ``table_format`` (``delta`` or ``iceberg``)."""
    if table_format == "delta":
        return count_delta_rows(table_path)
    if table_format == "iceberg":
        return count_iceberg_rows(table_path)
    raise ValueError(f"unknown table format {table_format!r}")
