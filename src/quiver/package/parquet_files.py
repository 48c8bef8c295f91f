"""Parquet files of one table in a package: encoding lanes that run off the GIL.

A lane writes one file at a time and encodes on a thread of its own; a table writer opens a
second lane when a table is large, so the root table, its child tables and the flattening of the
next batch proceed in parallel while memory stays bounded by the batch.

Normalize writes its files here; extract too, for Arrow items that need no normalizing (the
Arrow fast path, docs/architecture.md): both stages then encode with the same choices.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from quiver.package.storage import JobFile
from quiver.settings import ParquetOptions

PARQUET_EXT = "parquet"

#: Names the next file of a lane; called when the batch that opens the file is submitted, so
#: file names taken from a sequence follow the order the batches came in.
FileNamer = Callable[[], str]


class ParquetLane:
    """One parquet file at a time of one table; a batch with another schema starts a new file.

    Encoding runs on a thread of its own (pyarrow releases the GIL), so the root table, each
    child table and the flattening of the next batch proceed in parallel. At most one table per
    lane waits to be encoded, which keeps memory bounded by the batch size.
    """

    def __init__(
        self,
        jobs_dir: Path,
        table_name: str,
        options: ParquetOptions,
        near_unique: frozenset[str] | None = None,
        executor: ThreadPoolExecutor | None = None,
        file_namer: FileNamer | None = None,
    ) -> None:
        self._jobs_dir = jobs_dir
        self._table_name = table_name
        self._options = options
        # Decided on a whole batch by the caller when the lane's first table is a small part.
        self._near_unique = near_unique
        self._file_namer = file_namer or (lambda: JobFile.new(table_name, PARQUET_EXT).name)
        self._writer: pq.ParquetWriter | None = None
        #: The schema of the last submitted table (the file the next table goes to).
        self._schema: pa.Schema | None = None
        # Lanes of a partitioned table share a few threads (each thread costs allocator memory).
        self._owns_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"parquet-{table_name}"
        )
        self._pending: Future[None] | None = None
        self.files: list[Path] = []

    def write(self, table: pa.Table) -> None:
        new_file = None
        if self._schema is None or not table.schema.equals(self._schema):
            new_file = self._jobs_dir / self._file_namer()
            self._schema = table.schema
            self.files.append(new_file)
        self._wait()
        self._pending = self._executor.submit(self._write_now, table, new_file)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def _write_now(self, table: pa.Table, new_file: Path | None) -> None:
        if new_file is not None:
            self._close_file()
            options = self._options
            self._writer = pq.ParquetWriter(
                str(new_file),
                table.schema,
                compression=options.compression,
                compression_level=options.compression_level,
                use_dictionary=[
                    name
                    for name in table.schema.names
                    if name not in options.no_dictionary_columns
                    and not (
                        name in self._near_unique
                        if self._near_unique is not None
                        else near_unique(table.column(name))
                    )
                ],
                # Delta and Iceberg readers want microseconds; field ids would confuse Iceberg.
                coerce_timestamps="us",
                allow_truncated_timestamps=True,
                store_schema=True,
            )
        assert self._writer is not None
        self._writer.write_table(table, row_group_size=self._options.row_group_size)
        release_unused_memory()

    def _close_file(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def close(self) -> None:
        try:
            self._wait()
        finally:
            self._close_file()
            if self._owns_executor:
                self._executor.shutdown(wait=True)


class ParquetTableWriter:
    """The parquet files of one table, encoded on one lane, or on several once it is large.

    Parquet encoding is the most expensive part of normalizing Arrow data and one writer uses
    one core. A table that passes ``LANE_SPLIT_ROWS`` rows gets more lanes (files encoded in
    parallel, batches dealt round-robin); small tables keep a single file.
    """

    LANE_SPLIT_ROWS = 500_000

    def __init__(
        self,
        jobs_dir: Path,
        table_name: str,
        options: ParquetOptions,
        file_namer: FileNamer | None = None,
    ) -> None:
        self._args = (jobs_dir, table_name, options)
        self._file_namer = file_namer
        self._lanes = [self._new_lane()]
        self._max_lanes = max(1, min(4, os.cpu_count() or 1))
        self._rows = 0
        self._turn = 0

    @property
    def files(self) -> list[Path]:
        return [path for lane in self._lanes for path in lane.files]

    def write(self, table: pa.Table) -> None:
        self._rows += table.num_rows
        if len(self._lanes) < self._max_lanes and self._rows > self.LANE_SPLIT_ROWS * len(
            self._lanes
        ):
            self._lanes.append(self._new_lane())
        lane = self._lanes[self._turn % len(self._lanes)]
        self._turn += 1
        lane.write(table)

    def _new_lane(self) -> ParquetLane:
        return ParquetLane(*self._args, file_namer=self._file_namer)

    def close(self) -> None:
        errors: list[BaseException] = []
        for lane in self._lanes:
            try:
                lane.close()
            except BaseException as error:  # close every lane, then report the first error
                errors.append(error)
        if errors:
            raise errors[0]


def release_unused_memory() -> None:
    """Hand the memory Arrow's pool keeps for reuse back to the system (on the calling thread).

    A lane thread idles between batches. Arrow's default pool on Linux (mimalloc) keeps the pages
    an idle thread freed, so every lane held on to its last batch's encoding buffers: with two
    tables on two lanes each, that was about 50 MB of a 1M nested-dict run's ~270 MB peak
    (docs/guide/performance.md, "What the peak memory is made of"). Costs ~2 ms per batch.
    """
    pa.default_memory_pool().release_unused()


#: A column whose sample is at least this distinct skips dictionary encoding.
_NEAR_UNIQUE_RATIO = 0.9
_SAMPLE_ROWS = 10_000


def near_unique(column: pa.ChunkedArray) -> bool:
    """Dictionary encoding of (nearly) unique values - uuids, ids, measurements, event times -
    costs and does not pay off: parquet builds the dictionary, then falls back to plain
    encoding after a full dictionary page. Sampled once per file."""
    kind = column.type
    if pa.types.is_boolean(kind) or pa.types.is_nested(kind) or pa.types.is_dictionary(kind):
        return False
    sample = column.slice(0, _SAMPLE_ROWS)
    valid: int = len(sample) - sample.null_count
    distinct = int(pc.count_distinct(sample).as_py())
    return valid >= 1000 and distinct >= _NEAR_UNIQUE_RATIO * valid


def lane_factory(
    jobs_dir: Path, table_name: str, options: ParquetOptions
) -> Callable[[pa.Table, ThreadPoolExecutor], ParquetLane]:
    """Lanes for the files of a partitioned table: dictionary choices are made once per schema
    on a whole batch (a key's first part may be too small to judge; a file each is costly)."""
    unique_columns: dict[pa.Schema, frozenset[str]] = {}

    def new_lane(batch: pa.Table, executor: ThreadPoolExecutor) -> ParquetLane:
        if batch.schema not in unique_columns:
            names = batch.column_names
            unique_columns[batch.schema] = frozenset(n for n in names if near_unique(batch[n]))
        return ParquetLane(jobs_dir, table_name, options, unique_columns[batch.schema], executor)

    return new_lane
