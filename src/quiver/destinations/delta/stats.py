"""Per-file statistics read from parquet footers, for table commits that register files.

Delta data skipping trusts these numbers: a wrong minimum or maximum silently hides rows. So only
statistics that are exact in the footer are reported: row counts, null counts, and min/max of
integer and date columns. Other columns get no min/max (readers then simply do not skip).
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


def delta_stats_json(metadata: pq.FileMetaData, schema: pa.Schema) -> str:
    """The ``stats`` JSON of a Delta add action for a parquet file."""
    null_count: dict[str, int] = {}
    minimum: dict[str, Any] = {}
    maximum: dict[str, Any] = {}
    top_level = {field.name: field.type for field in schema}
    for column_index in range(metadata.num_columns):
        path = metadata.schema.column(column_index).path
        if path not in top_level:
            continue  # nested leaves: no stats (Delta wants them nested; skipping is optional)
        kind = top_level[path]
        nulls = 0
        lows: list[Any] = []
        highs: list[Any] = []
        exact = True
        for row_group in range(metadata.num_row_groups):
            stats = metadata.row_group(row_group).column(column_index).statistics
            if stats is None or not stats.has_null_count:
                exact = False
                break
            nulls += stats.null_count
            if stats.has_min_max:
                lows.append(stats.min)
                highs.append(stats.max)
        if not exact:
            continue
        null_count[path] = nulls
        if lows and (pa.types.is_integer(kind) or pa.types.is_date(kind)):
            minimum[path] = _json_value(min(lows))
            maximum[path] = _json_value(max(highs))
    document: dict[str, Any] = {"numRecords": metadata.num_rows, "nullCount": null_count}
    if minimum:
        document["minValues"] = minimum
        document["maxValues"] = maximum
    return json.dumps(document)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value
