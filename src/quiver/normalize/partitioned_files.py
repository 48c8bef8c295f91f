"""Parquet files of a partitioned table, one partition value per file.

Every batch is split by the table's partition key (:mod:`quiver.schema.partitions`: identity
columns and Iceberg transforms, computed as the engines compute them), and each part goes to the
open file of its key. A file records its key in its footer, so the table formats register the
files as they are (Delta: under ``col=value/`` with the values in the add action; Iceberg: with
the partition tuple in the manifest) instead of re-encoding the data.

Memory stays bounded by the batch: at most :data:`MAX_OPEN_FILES` keys have an open file per
table (the least recently written one is closed when another key needs a file; that key starts a
new file if it comes back), and each open file has at most one part waiting to be encoded, on
:data:`ENCODER_THREADS` threads the table's files share (a thread per file would cost allocator
memory per thread: ~10 MB each, measured). A batch whose key cannot be computed (a transform
quiver does not implement for the column's type) is written unsplit; the table format then
partitions such files itself.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quiver.schema.partitions import PARTITION_METADATA_KEY, PartitionField, transform_array

__all__ = ["MAX_OPEN_FILES", "PartitionedTableWriter"]

#: Files open at once per partitioned table (per normalize job).
MAX_OPEN_FILES = 16
#: Rows after which a key's file is closed and the key starts a new one.
MAX_FILE_ROWS = 5_000_000
#: Threads encoding the open files of one partitioned table.
ENCODER_THREADS = max(1, min(4, os.cpu_count() or 1))

_ROW_INDEX = "__quiver_row"
#: A batch with at most this many runs of equal keys is split by slicing, else by grouping.
_MAX_RUNS = 64


class FileLane(Protocol):
    """A sequence of parquet files of one table, written one batch at a time."""

    files: list[Path]

    def write(self, table: pa.Table) -> None: ...

    def close(self) -> None: ...


class PartitionedTableWriter:
    """The files of one partitioned table of one normalize job.

    Args:
        fields: The table's partition key.
        new_lane: Opens a lane (a parquet writer) for one key's files, encoding on the given
            executor; it gets the whole batch, so that encoding choices (dictionary or not) are
            made on it rather than on the key's first, possibly small, part.
        max_open_files: How many keys keep an open file.
    """

    def __init__(
        self,
        fields: Sequence[PartitionField],
        new_lane: Callable[[pa.Table, ThreadPoolExecutor], FileLane],
        max_open_files: int = MAX_OPEN_FILES,
    ) -> None:
        self._fields = list(fields)
        self._file_rows: dict[str, int] = {}  # rows in the open file of each key
        self._new_lane = new_lane
        self._max_open = max(1, max_open_files)
        self._open: OrderedDict[str, FileLane] = OrderedDict()
        self._closed: list[FileLane] = []
        # The open files encode on a few shared threads (as many as an unpartitioned table's
        # lanes): a thread per file would cost allocator memory per thread.
        self._encoders = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet-partition")
            for _ in range(ENCODER_THREADS)
        ]
        self._turn = 0
        # Splitting (a gather per key for unordered data) runs beside the next batch's
        # flattening, as encoding does: one batch at a time waits here.
        self._splitter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="partition-split")
        self._pending: Future[None] | None = None

    @property
    def files(self) -> list[Path]:
        lanes = [*self._closed, *self._open.values()]
        return [path for lane in lanes for path in lane.files]

    def write(self, table: pa.Table) -> None:
        self._wait()
        self._pending = self._splitter.submit(self._split_and_write, table)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def _split_and_write(self, table: pa.Table) -> None:
        for key, part in _split(table, self._fields):
            lane = self._open.pop(key, None)
            if lane is None:
                lane = self._new_lane(table, self._encoders[self._turn % len(self._encoders)])
                self._turn += 1
                if len(self._open) >= self._max_open:
                    _, oldest = self._open.popitem(last=False)
                    self._retire(oldest)
            self._open[key] = lane  # most recently written last
            self._write_part(key, lane, part)

    def _write_part(self, key: str, lane: FileLane, part: pa.Table) -> None:
        metadata = {PARTITION_METADATA_KEY: key.encode()} if key else None
        lane.write(part.replace_schema_metadata(_with(part.schema.metadata, metadata)))
        self._file_rows[key] = self._file_rows.get(key, 0) + part.num_rows
        if self._file_rows[key] >= MAX_FILE_ROWS:
            # A writer keeps every row group's metadata until its footer: rotate big files so
            # that memory does not grow with the load (+228 MB at 30M rows by event_type).
            del self._open[key]
            self._retire(lane)

    def _retire(self, lane: FileLane) -> None:
        lane.close()
        self._closed.append(lane)
        self._file_rows = {k: n for k, n in self._file_rows.items() if k in self._open}

    def close(self) -> None:
        errors: list[BaseException] = []
        try:
            self._wait()
        except BaseException as error:  # still close the files written so far
            errors.append(error)
        self._splitter.shutdown(wait=True)
        while self._open:
            _, lane = self._open.popitem(last=False)
            try:
                self._retire(lane)
            except BaseException as error:  # close every file, then report the first error
                self._closed.append(lane)
                errors.append(error)
        for encoder in self._encoders:
            encoder.shutdown(wait=True)
        if errors:
            raise errors[0]


def _with(
    metadata: dict[bytes, bytes] | None, extra: dict[bytes, bytes] | None
) -> dict[bytes, bytes] | None:
    if not extra:
        return {k: v for k, v in (metadata or {}).items() if k != PARTITION_METADATA_KEY} or None
    return {**(metadata or {}), **extra}


def _split(table: pa.Table, fields: Sequence[PartitionField]) -> list[tuple[str, pa.Table]]:
    """``(key JSON, rows)`` per partition key in ``table``; key ``""`` for an unsplit batch."""
    keys: dict[str, pa.Array] = {}
    for number, field in enumerate(fields):
        if field.column not in table.column_names:  # not in this batch: null in every row
            keys[f"k{number}"] = pa.nulls(table.num_rows, pa.int64())
            continue
        values = transform_array(field, table.column(field.column).combine_chunks())
        if values is None:
            return [("", table)]
        keys[f"k{number}"] = values
    if not keys:
        return [("", table)]
    names = list(keys)
    runs = _runs(list(keys.values()))
    if len(runs) <= _MAX_RUNS:
        # Rows arrive grouped by key (event time, a sorted source): zero-copy slices.
        starts = pa.array([start for start, _ in runs], pa.int64())
        values_at = [keys[name].take(starts).to_pylist() for name in names]
        return [
            (
                _key_json(fields, [values[number] for values in values_at]),
                table.slice(start, length),
            )
            for number, (start, length) in enumerate(runs)
        ]
    grouped = (
        pa.table({**keys, _ROW_INDEX: pa.array(np.arange(table.num_rows, dtype=np.int64))})
        .group_by(names, use_threads=False)
        .aggregate([(_ROW_INDEX, "list")])
    )
    rows = grouped.column(f"{_ROW_INDEX}_list")
    values_by_key = [grouped.column(name).to_pylist() for name in names]
    # One iteration per distinct key of the batch, not per row.
    return [
        (
            _key_json(fields, [values[group] for values in values_by_key]),
            table.take(rows[group].values),
        )
        for group in range(grouped.num_rows)
    ]


def _key_json(fields: Sequence[PartitionField], values: Sequence[Any]) -> str:
    return json.dumps([[f.column, f.transform, v] for f, v in zip(fields, values, strict=True)])


def _runs(keys: list[pa.Array]) -> list[tuple[int, int]]:
    """``(start, length)`` of the runs of equal keys, or more than ``_MAX_RUNS`` of them when
    there are too many to be worth slicing."""
    count = len(keys[0])
    if count == 0:
        return []
    changed = np.zeros(count - 1, dtype=bool)
    for values in keys:
        before, after = values.slice(0, count - 1), values.slice(1)
        differs = pc.not_equal(before, after)
        # Null-safe: a null next to a value differs, two nulls do not.
        null_differs = pc.not_equal(before.is_null(), after.is_null())
        changed |= pc.fill_null(differs, null_differs).to_numpy(zero_copy_only=False)
        if np.count_nonzero(changed) >= _MAX_RUNS:
            return [(0, 0)] * (_MAX_RUNS + 1)
    starts = [0, *(np.nonzero(changed)[0] + 1).tolist()]
    ends = [*starts[1:], count]
    return [(start, end - start) for start, end in zip(starts, ends, strict=True)]
