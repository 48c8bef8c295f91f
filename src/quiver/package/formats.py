"""The file formats inside a load package: Arrow IPC streams (extracted) and their reader.

Extract writes one IPC stream file per table and item kind (``<table>.<file_id>.0.rows.arrow``
for rows converted by quiver, ``.arrow`` for Arrow items passed through); normalize reads them
back batch by batch. Arrow items that need no normalizing are written as parquet instead
(``.arrow.parquet``, one row group per batch), which normalize can pass through as they are
(the Arrow fast path, docs/architecture.md); it reads them batch by batch when it cannot.

The file ids of one package are a sequence (:class:`FileSequence`), zero-padded so that sorting
the names sorts the files of a table in the order extract wrote them. Normalize follows that
order, so the first data extracted decides a new column's type, whatever the file system's
listing order or the number of normalize workers.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import pyarrow as pa

from quiver.package.ids import uniq_id
from quiver.package.storage import JobFile
from quiver.schema.model import Schema
from quiver.schema.partitions import partition_fields

#: Extension of files holding rows that quiver converted from Python objects.
ROWS_EXT: Final = "rows.arrow"
#: Extension of files holding Arrow items as the resource yielded them.
ARROW_EXT: Final = "arrow"
#: Extension of Arrow items written as parquet at extract (the Arrow fast path).
ARROW_PARQUET_EXT: Final = "arrow.parquet"


def keeps_arrow_items_whole(schema: Schema, table_name: str) -> bool:
    """Whether normalize writes a table's Arrow items with their own columns only: no
    unnesting, no row ids of a merge and no partitioned files. The Arrow fast path's one table
    rule, shared by extract (which guesses) and normalize (which checks again)."""
    table = schema.tables.get(table_name) or {}
    if table.get("write_disposition") == "merge" or schema.has_explicit_nesting(table_name):
        return False
    return not partition_fields(table, schema.columns_with_hint(table_name, "partition"))


#: Digits of a sequential file id, zero-padded so that listings read in order (normalize sorts
#: by the number itself, so a package of more files still keeps its order).
_SEQUENCE_DIGITS = 8


class FileSequence:
    """The file ids of one extractor, in the order its files are opened (thread-safe).

    An id is ``<number>-<token>``: the number orders the files, the token (random, one per
    sequence) keeps the ids of extractors that fill one package apart (scale-out tasks).
    """

    def __init__(self) -> None:
        self._counter = itertools.count()
        self._lock = threading.Lock()
        self._token = uniq_id(6)

    def next_id(self) -> str:
        with self._lock:
            number = next(self._counter)
        return f"{number:0{_SEQUENCE_DIGITS}d}-{self._token}"


def extraction_order(job_path: Path) -> tuple[int, str]:
    """Sort key of an extracted file: its place in its extractor's sequence.

    Files of packages written before file ids were sequential sort after, by name.
    """
    file_id = JobFile.parse(job_path.name).file_id
    number, _, token = file_id.partition("-")
    return (int(number), token) if number.isdigit() and token else (1 << 62, job_path.name)


class IpcTableWriter:
    """IPC stream files of one table and item kind, rotated on schema change or size."""

    def __init__(
        self,
        jobs_dir: Path,
        table_name: str,
        ext: str,
        on_new_file: Callable[[Path], None],
        *,
        sequence: FileSequence,
        file_max_items: int | None,
        file_max_bytes: int | None,
    ) -> None:
        self._jobs_dir = jobs_dir
        self._table_name = table_name
        self._ext = ext
        self._on_new_file = on_new_file
        self._sequence = sequence
        self._file_max_items = file_max_items
        self._file_max_bytes = file_max_bytes
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None
        self._sink: pa.NativeFile | None = None
        self._schema: pa.Schema | None = None
        self._rows_in_file = 0

    def write(self, batch: pa.RecordBatch) -> None:
        max_items = self._file_max_items
        if max_items is not None and batch.num_rows > max_items:
            for offset in range(0, batch.num_rows, max_items):
                self.write(batch.slice(offset, max_items))
            return
        if (
            self._writer is None
            or not batch.schema.equals(self._schema, check_metadata=False)
            or (max_items is not None and self._rows_in_file + batch.num_rows > max_items)
        ):
            self._open(batch.schema)
        assert self._writer is not None and self._sink is not None
        self._writer.write_batch(batch)
        self._rows_in_file += batch.num_rows
        if self._file_max_bytes is not None and self._sink.tell() >= self._file_max_bytes:
            self.close()

    def _open(self, schema: pa.Schema) -> None:
        self.close()
        job = JobFile(self._table_name, self._sequence.next_id(), 0, self._ext)
        path = self._jobs_dir / job.name
        self._sink = pa.OSFile(str(path), "wb")
        self._writer = pa.ipc.new_stream(self._sink, schema)
        self._schema = schema
        self._rows_in_file = 0
        self._on_new_file(path)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            assert self._sink is not None
            self._sink.close()
            self._writer = None
            self._sink = None


def iter_batches(path: Path) -> Iterator[pa.RecordBatch]:
    """Read an extracted file batch by batch (a parquet one row group at a time: extract wrote
    each batch as a row group, so normalize sees the batches extract saw).

    Plain reads, not a memory map: mapped pages stay in the process' resident set until the
    whole file is done, so peak RSS would grow with the package instead of the batch.
    """
    if path.name.endswith("." + ARROW_PARQUET_EXT):
        import pyarrow.parquet as pq  # only packages with Arrow fast-path files need it

        with pq.ParquetFile(str(path)) as parquet:
            for index in range(parquet.num_row_groups):
                yield from parquet.read_row_group(index).to_batches()
        return
    with pa.OSFile(str(path)) as source:
        yield from pa.ipc.open_stream(source)
