"""Normalize a package's batches while they are extracted (``run()``; issue 15).

Extract still writes every batch to its IPC file; it also hands the batch to a
:class:`StreamNormalizer` (a :class:`~quiver.package.batch_sink.BatchSink`), whose one thread
feeds it through the same :class:`~quiver.normalize.normalizer.TableNormalizer` the package loop
uses, into a temp package of its own. Extract holds the GIL (Python objects to Arrow); flatten,
coercion and parquet encoding are Arrow kernels that mostly release it, so the two overlap.

The Arrow fast path's parquet files (``extract/arrow_parquet.py``) are never streamed: they are
normalized (mostly linked) by the package loop's per-file code when the result is handed over.

The streamed result is only a shortcut: :meth:`StreamNormalizer.result` hands it over when it
is exactly what normalizing the extracted package would give (same hints, same batches, no
failure); otherwise the caller discards it and normalizes the extracted files as always, so
every error, message and ``failed/`` move stays the package loop's.
"""

from __future__ import annotations

import copy
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from quiver.normalize.contracts import Violations, check_type_hints
from quiver.normalize.normalizer import (
    NormalizeMetrics,
    TableNormalizer,
    _normalize_job,
    _PackageContext,
    established_tables,
    finish_package,
)
from quiver.package.formats import ARROW_PARQUET_EXT, ROWS_EXT, extraction_order
from quiver.package.storage import JobFile, PackageStorage
from quiver.schema.model import Schema, TTableSchema
from quiver.schema.naming import NamingConvention
from quiver.settings import NormalizeConfig

#: Batches waiting for the normalize thread: memory stays flat, extract waits when it is ahead.
QUEUE_BATCHES = 2

_END = object()


class StreamFallback(Exception):
    """Why the streamed result is not used (the extracted files are normalized instead)."""


@dataclass
class _Put:
    root: str
    ext: str
    batch: pa.RecordBatch
    #: The root's table chain as extract had registered it (shared, never mutated).
    hints: dict[str, TTableSchema]


class StreamNormalizer:
    """Normalizes the batches of one package in a background thread, in extraction order.

    Args:
        schema: the extract's schema as the extract starts (cloned here, in the extract
            thread); each table's hints are added from the snapshots :meth:`put` takes.
        target: the temp package the parquet files go to (the caller owns and discards it).
        load_id: the package's load id.
        naming: the naming convention normalize uses for this schema.
        config: normalize settings.
    """

    def __init__(
        self,
        schema: Schema,
        target: Path,
        load_id: str,
        naming: NamingConvention,
        config: NormalizeConfig,
    ) -> None:
        self.target = target
        self._start_layout = _layout(schema)
        self._context = _PackageContext(schema.clone(), load_id, naming, config)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_BATCHES)
        # Extract thread only.
        self._last_hints: dict[str, dict[str, TTableSchema]] = {}
        self._rows_put: dict[tuple[str, str], int] = {}
        # Normalize thread only (read by the caller after the thread ended).
        self._tables: dict[str, TableNormalizer] = {}
        self._kinds: dict[str, str] = {}
        self._applied: dict[str, dict[str, TTableSchema]] = {}
        self._owner: dict[str, str] = {}
        # Root tables in the order of their first extracted file (set by ``result``).
        self._roots_in_order: list[str] = []
        self._failure: BaseException | None = None
        self._thread = threading.Thread(
            target=self._consume, name=f"quiver-normalize-{load_id}", daemon=True
        )
        self._thread.start()

    # ------------------------------------------------------------------ extract thread
    def put(self, table_name: str, ext: str, batch: pa.RecordBatch, schema: Schema) -> None:
        """Queue ``batch`` (blocks while the queue is full); nothing once the stream failed."""
        key = (table_name, ext)
        self._rows_put[key] = self._rows_put.get(key, 0) + batch.num_rows
        if self._failure is not None:
            return  # the result is not used: spare the extract the work
        chain = _chain(schema, table_name)
        hints = self._last_hints.get(table_name)
        if hints != chain:  # a snapshot only when the hints changed
            hints = self._last_hints[table_name] = copy.deepcopy(chain)
        self._queue.put(_Put(table_name, ext, batch, hints))

    # ---------------------------------------------------------------- normalize thread
    def _consume(self) -> None:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if self._failure is not None:
                continue  # drained, so that extract never waits on a failed stream
            try:
                self._normalize(item)
            except BaseException as error:  # any failure means: fall back
                self._failure = error

    def _normalize(self, item: _Put) -> None:
        root = item.root
        if self._kinds.setdefault(root, item.ext) != item.ext:
            # The package loop takes one file after the other, the stream batch by batch.
            raise StreamFallback(f"table {root!r} came both as rows and as Arrow items")
        if self._applied.get(root) is not item.hints:
            self._apply_hints(root, item.hints)
        table = self._tables.get(root)
        if table is None:
            table = TableNormalizer(root, item.ext == ROWS_EXT, self.target, self._context)
            self._tables[root] = table
        table.write(item.batch)

    def _apply_hints(self, root: str, hints: dict[str, TTableSchema]) -> None:
        """Take the chain's hints into the schema before its first batch is normalized."""
        if root in self._tables:
            if hints != self._applied[root]:
                raise StreamFallback(f"the hints of table {root!r} changed during the extract")
            self._applied[root] = hints
            return
        schema = self._context.schema
        for name, table in hints.items():
            if self._owner.setdefault(name, root) != root:
                raise StreamFallback(f"table {name!r} belongs to two table chains")
            schema.tables[name] = copy.deepcopy(table)
        self._applied[root] = hints
        # As the package loop does when the package starts, for the tables of this chain.
        check_type_hints(schema, self._context.violations)
        context = self._context
        context.established = context.established | established_tables(schema, hints)

    # ---------------------------------------------------------------------- the result
    def stop(self, *, discard: bool = False) -> None:
        """End the thread (after the batches already queued, or skipping them with ``discard``:
        the result will not be used) and close every file."""
        if discard and self._failure is None:
            self._failure = StreamFallback("the stream was discarded")
        if self._thread.is_alive():
            self._queue.put(_END)
            self._thread.join()
        for table in self._tables.values():
            try:
                table.close()
            except Exception as error:  # a file that cannot close: fall back
                self._failure = self._failure or error

    def result(
        self, schema: Schema, extracted: Path, row_counts: dict[str, int]
    ) -> tuple[Schema, NormalizeMetrics]:
        """The normalized schema and metrics, if they are what the package loop would give.

        Call after :meth:`stop`.

        Args:
            schema: the schema the package loop would start from (not changed).
            extracted: the extracted package (its jobs are checked against the batches seen).
            row_counts: the extracted rows per table (from the package state).

        Raises:
            StreamFallback: the stream failed, or saw other hints or other data than the
                extracted package holds; the reason says which.
        """
        if self._failure is not None:
            raise StreamFallback(f"the stream failed: {self._failure!r}") from self._failure
        handed_over = self._check_same_input(schema, extracted, row_counts)
        metrics = self._normalize_handed_over(schema, handed_over)
        schema = schema.clone()
        for table in self._tables.values():
            metrics.merge(table.metrics())
        violations = Violations(schema.name, self._context.load_id)
        check_type_hints(schema, violations)  # pops hints the stream popped as it started
        if violations.frozen or self._context.violations.frozen:
            raise StreamFallback("a freeze contract was violated")
        self._adopt_tables(schema)
        finish_package(schema, self._context.violations, metrics)
        return schema, metrics

    def _check_same_input(
        self, schema: Schema, extracted: Path, row_counts: dict[str, int]
    ) -> list[Path]:
        """Raise unless the stream saw every batch of the package but the Arrow fast path's
        parquet files (extract never streams those); return those files, in extraction order."""
        if _layout(schema) != self._start_layout:
            raise StreamFallback("the schema settings changed during the extract")
        for name, table in self._applied_tables().items():
            if schema.tables.get(name) != table:
                raise StreamFallback(f"the hints of table {name!r} changed during the extract")
        for root in self._tables:
            chain = _chain(schema, root)
            if not chain.keys() <= self._owner.keys():
                raise StreamFallback(f"table {root!r} got nested tables during the extract")
        jobs = sorted(PackageStorage.jobs(extracted, "new"), key=extraction_order)
        parsed = [(path, JobFile.parse(path.name)) for path in jobs]
        handed_over = [path for path, job in parsed if job.ext == ARROW_PARQUET_EXT]
        fast_tables = {job.table_name for _, job in parsed if job.ext == ARROW_PARQUET_EXT}
        if fast_tables & {table_name for table_name, _ in self._rows_put}:
            # The package loop takes one file after the other, the stream batch by batch.
            raise StreamFallback("a table came both as plain Arrow files and as other items")
        kinds = {(job.table_name, job.ext) for _, job in parsed if job.ext != ARROW_PARQUET_EXT}
        if kinds != set(self._rows_put):
            raise StreamFallback("the extracted package has files the stream did not see")
        rows: dict[str, int] = {}
        for (table_name, _), count in self._rows_put.items():
            rows[table_name] = rows.get(table_name, 0) + count
        expected = {n: c for n, c in row_counts.items() if c and n not in fast_tables}
        if rows != expected:
            raise StreamFallback("the extracted package has rows the stream did not see")
        self._roots_in_order = list(dict.fromkeys(job.table_name for _, job in parsed))
        return handed_over

    def _normalize_handed_over(self, schema: Schema, jobs: list[Path]) -> NormalizeMetrics:
        """Normalize the fast path's parquet files into the stream's package, as the package
        loop would (most are linked as they are: normalize/passthrough.py).

        Their tables' chains are not streamed, so they take their hints from ``schema``, the
        schema the package loop starts from.
        """
        metrics = NormalizeMetrics()
        for job in jobs:
            root = JobFile.parse(job.name).table_name
            if root not in self._applied:
                self._apply_hints(root, copy.deepcopy(_chain(schema, root)))
            try:
                metrics.merge(_normalize_job(job, self.target, self._context))
            except Exception as error:  # the package loop raises it again, as it always does
                raise StreamFallback(f"normalizing {job.name} failed: {error!r}") from error
        return metrics

    def _applied_tables(self) -> dict[str, TTableSchema]:
        return {name: table for hints in self._applied.values() for name, table in hints.items()}

    def _adopt_tables(self, schema: Schema) -> None:
        """Put the evolved tables of the streamed chains into ``schema``, in the order the
        package loop would have made them (its tables, then new ones chain by chain)."""
        streamed = self._context.schema
        rank = {root: position for position, root in enumerate(self._roots_in_order)}

        def chain_rank(name: str) -> int:
            """Which streamed chain a table belongs to (its root's rank), -1 for none."""
            if name not in streamed.tables:
                return -1
            return rank.get(streamed.root_table(name)["name"], -1)

        adopted = {
            name: streamed.tables[name] if chain_rank(name) >= 0 else table
            for name, table in schema.tables.items()
        }
        new = [name for name in streamed.tables if name not in adopted and chain_rank(name) >= 0]
        for name in sorted(new, key=chain_rank):
            adopted[name] = streamed.tables[name]
        schema.tables.clear()
        schema.tables.update(adopted)


def _chain(schema: Schema, root: str) -> dict[str, TTableSchema]:
    """The root table and its descendants as registered in ``schema`` (live, not copies)."""
    tables = schema.tables
    chain = {root: tables[root]} if root in tables else {}
    if root in tables:
        for child in schema.child_tables(root):
            chain[child["name"]] = child
    return chain


def _layout(schema: Schema) -> tuple[Any, Any]:
    """The schema-wide settings normalize reads, as the stored schema would hold them."""
    laid_out = Schema.from_dict(
        {**schema.document, "tables": {}, "previous_hashes": [], "version_hash": ""}
    )
    laid_out.bump_version()  # moves the quiver-only keys where dlt keeps them
    return laid_out.settings, laid_out.normalizers


__all__ = ["QUEUE_BATCHES", "StreamFallback", "StreamNormalizer"]
