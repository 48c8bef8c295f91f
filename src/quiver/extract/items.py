"""What a resource may yield, and how each form reaches the extractor.

Rows (dicts, dataclasses, pydantic models, scalars) are buffered per table; Arrow-like items
(tables, batches, readers, anything with ``__arrow_c_stream__``, polars and pandas frames) pass
through as record batches without a round trip through Python objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa


def is_arrow_like(item: Any) -> bool:
    """True for items that are (or stream) Arrow data rather than Python rows."""
    if isinstance(item, pa.Table | pa.RecordBatch | pa.RecordBatchReader):
        return True
    if hasattr(item, "__arrow_c_stream__") or hasattr(item, "__arrow_c_array__"):
        return True
    return _is_pandas_frame(item)


def _is_pandas_frame(item: Any) -> bool:
    # Checked by name so that pandas is never imported by quiver itself.
    cls = type(item)
    return cls.__name__ == "DataFrame" and cls.__module__.startswith("pandas")


def arrow_batches(item: Any) -> Iterator[pa.RecordBatch]:
    """Stream record batches out of an Arrow-like item."""
    if isinstance(item, pa.RecordBatch):
        yield item
    elif isinstance(item, pa.Table):
        yield from item.to_batches()
    elif isinstance(item, pa.RecordBatchReader):
        yield from item
    elif _is_pandas_frame(item):
        # pandas' index is not data (dlt drops it too).
        yield from pa.Table.from_pandas(item, preserve_index=False).to_batches()
    elif hasattr(item, "__arrow_c_stream__"):
        yield from pa.RecordBatchReader.from_stream(item)
    else:
        array = pa.array(item)
        yield pa.RecordBatch.from_struct_array(array)
