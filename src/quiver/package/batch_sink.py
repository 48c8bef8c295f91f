"""Where extract hands each batch it wrote, besides its IPC file (``run()`` normalizes them
while the extract goes on: :mod:`quiver.normalize.stream`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import pyarrow as pa

    from quiver.schema.model import Schema


class BatchSink(Protocol):
    """Receives, in the extract thread and in extraction order, every batch written to a file."""

    def put(self, table_name: str, ext: str, batch: pa.RecordBatch, schema: Schema) -> None:
        """``batch`` was written to a ``table_name`` file of kind ``ext``; ``schema`` is the
        extract's schema, read (never kept) during the call for the table's hints."""
