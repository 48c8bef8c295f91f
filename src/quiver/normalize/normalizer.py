"""Normalize one extracted package into parquet files, one or more per table.

Reads the extracted IPC files batch by batch (memory is bounded by the batch), unnests rows into
root and child tables, aligns every table with the schema and streams the result into parquet
writers. Nothing here iterates over rows in Python.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from quiver.errors import NormalizeJobFailed, QuiverError
from quiver.normalize import partitioned_files
from quiver.normalize.coerce import CoerceContext, CoerceResult, coerce_table
from quiver.normalize.contracts import Violations, check_type_hints, resolve_contract
from quiver.normalize.dead_letter import DeadLetterWriter
from quiver.normalize.flatten import (
    FlatTable,
    FlattenOptions,
    flatten_rows,
    rename_arrow_columns,
)
from quiver.normalize.parquet_files import ParquetTableWriter, lane_factory
from quiver.normalize.passthrough import pass_through
from quiver.package.formats import ROWS_EXT, extraction_order, iter_batches
from quiver.package.storage import JobFile, PackageStorage
from quiver.progress import NULL_COLLECTOR, Collector
from quiver.schema.columns import C_DLT_ID
from quiver.schema.hints import resolve_strategy, row_version_column
from quiver.schema.model import EVOLVE_ONCE, Schema
from quiver.schema.naming import NamingConvention
from quiver.schema.partitions import partition_fields
from quiver.settings import NormalizeConfig, ParquetOptions


@dataclass
class NormalizeMetrics:
    """What normalizing one package produced."""

    row_counts: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    #: Rows a contract discarded (with their nested rows), per table.
    discarded_rows: dict[str, int] = field(default_factory=dict)
    #: Values a ``discard_value`` contract dropped from rows that were loaded, per table.
    discarded_values: dict[str, int] = field(default_factory=dict)
    dead_letter_files: list[Path] = field(default_factory=list)

    def merge(self, other: NormalizeMetrics) -> None:
        for mine, theirs in (
            (self.row_counts, other.row_counts),
            (self.discarded_rows, other.discarded_rows),
            (self.discarded_values, other.discarded_values),
        ):
            for table, count in theirs.items():
                mine[table] = mine.get(table, 0) + count
        self.files.extend(other.files)
        self.dead_letter_files.extend(other.dead_letter_files)


class _PackageContext:
    """State shared by the files of one package: schema, contract records, locks."""

    def __init__(
        self, schema: Schema, load_id: str, naming: NamingConvention, config: NormalizeConfig
    ) -> None:
        self.schema = schema
        self.load_id = load_id
        self.naming = naming
        self.config = config
        self.violations = Violations(schema.name, load_id)
        # dlt lets a table that is new when the package starts add columns for the whole
        # package (and tables created by it, e.g. nested ones, are new too).
        self.established = established_tables(schema, schema.tables)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def lock(self, root_table: str) -> threading.Lock:
        """Coercion evolves the schema of a table chain; one file at a time per root table."""
        with self._locks_lock:
            return self._locks.setdefault(root_table, threading.Lock())

    def is_json(self, table_name: str, column_name: str) -> bool:
        table = self.schema.tables.get(table_name)
        column = (table or {}).get("columns", {}).get(column_name) if table else None
        if column is not None and "data_type" in column:
            return bool(column["data_type"] == "json")
        return self.schema.preferred_type(column_name) == "json"


def established_tables(schema: Schema, names: Iterable[str]) -> frozenset[str]:
    """Those of ``names`` that have typed columns and are not flagged to evolve once: only
    their new columns fall under the ``columns`` contract."""
    return frozenset(
        name
        for name in names
        if not schema.is_new_table(name)
        and not (schema.tables[name].get("x-normalizer") or {}).get(EVOLVE_ONCE)
    )


def normalize_package(
    extracted: Path,
    target: Path,
    schema: Schema,
    load_id: str,
    naming: NamingConvention,
    config: NormalizeConfig,
    progress: Collector = NULL_COLLECTOR,
) -> NormalizeMetrics:
    """Normalize every job of ``extracted`` into ``target`` (a temp package), evolving ``schema``.

    ``progress`` counts ``Files`` (done/total) and rows per table, once per extracted file.

    Raises:
        NormalizeJobFailed: with the table, the load id and the cause (as ``cause`` and
            ``__context__``): a :class:`DataValidationError` (a ``freeze`` contract was violated;
            all violations are raised once), a :class:`NameCollisionError` (two source names
            normalize to the same column), a :class:`CannotCoerceNullError` (a null for a column
            that is not nullable), ...
    """
    try:
        return _normalize_package(extracted, target, schema, load_id, naming, config, progress)
    except NormalizeJobFailed:
        raise  # a job failed and said which
    except Exception as error:
        raise NormalizeJobFailed(load_id, error, _table_of(error)) from error


def _normalize_package(
    extracted: Path,
    target: Path,
    schema: Schema,
    load_id: str,
    naming: NamingConvention,
    config: NormalizeConfig,
    progress: Collector,
) -> NormalizeMetrics:
    context = _PackageContext(schema, load_id, naming, config)
    check_type_hints(schema, context.violations)
    jobs = PackageStorage.jobs(extracted, "new")
    metrics = NormalizeMetrics()
    progress.update("Files", 0, total=len(jobs))

    def normalize_chain(chain: list[Path]) -> list[NormalizeMetrics]:
        return [_normalize_job(job, target, context) for job in chain]

    chains = _chains_in_extraction_order(jobs)
    if config.workers > 1 and len(chains) > 1:
        with ThreadPoolExecutor(config.workers, thread_name_prefix="normalize") as pool:
            for chain_metrics in pool.map(normalize_chain, chains):
                for job_metrics in chain_metrics:
                    metrics.merge(job_metrics)
                    _report(progress, job_metrics)
    else:
        for chain in chains:
            for job in chain:
                job_metrics = _normalize_job(job, target, context)
                metrics.merge(job_metrics)
                _report(progress, job_metrics)
    finish_package(schema, context.violations, metrics)
    return metrics


def finish_package(schema: Schema, violations: Violations, metrics: NormalizeMetrics) -> None:
    """The end of a package: raise its ``freeze`` violations at once, then the tables that
    were new in it stop evolving freely."""
    violations.raise_if_frozen(
        {v.table_name: resolve_contract(schema, v.table_name) for v in violations.records}
    )
    for table_name in metrics.row_counts:
        normalizer = schema.tables.get(table_name, {}).get("x-normalizer")
        if normalizer:
            normalizer.pop(EVOLVE_ONCE, None)


def _chains_in_extraction_order(jobs: list[Path]) -> list[list[Path]]:
    """The jobs grouped by root table, each group in the order extract wrote its files.

    The first file that brings a column decides its type, so the files of one table must be
    coerced in extraction order: each group runs on one worker, and only groups (tables, whose
    schemas are independent) run in parallel.
    """
    chains: dict[str, list[Path]] = {}
    for job in sorted(jobs, key=extraction_order):
        chains.setdefault(JobFile.parse(job.name).table_name, []).append(job)
    return list(chains.values())


def _report(progress: Collector, job_metrics: NormalizeMetrics) -> None:
    """One extracted file is done: count it and the rows it wrote per table."""
    progress.update("Files")
    for table_name, rows in job_metrics.row_counts.items():
        progress.update(table_name, rows)


def _table_of(error: BaseException) -> str | None:
    """The table a quiver error names (a nested table, say), if it names one."""
    table_name = getattr(error, "table_name", None)
    return table_name if isinstance(error, QuiverError) and isinstance(table_name, str) else None


def _normalize_job(job_path: Path, target: Path, context: _PackageContext) -> NormalizeMetrics:
    """Normalize one extracted file: read batches, flatten, coerce (with contracts), write.

    Raises:
        NormalizeJobFailed: naming the job's table (or the cause's) and file, cause chained.
    """
    job = JobFile.parse(job_path.name)
    try:
        if passed := pass_through(job_path, target, context):  # the Arrow fast path
            return NormalizeMetrics({passed.table_name: passed.rows}, [passed.path])
        return _run_job(job_path, job, target, context)
    except Exception as error:
        table_name = _table_of(error) or job.table_name
        raise NormalizeJobFailed(context.load_id, error, table_name, job_path.name) from error


def _run_job(
    job_path: Path, job: JobFile, target: Path, context: _PackageContext
) -> NormalizeMetrics:
    table = TableNormalizer(job.table_name, job.ext == ROWS_EXT, target, context)
    try:
        for batch in iter_batches(job_path):
            table.write(batch)
    finally:
        table.close()
    return table.metrics()


class TableNormalizer:
    """The batches of one root table, in extraction order: flattened into the root and its
    child tables, coerced (with contracts) against ``context.schema``, written as parquet.

    Both the package loop (one per extracted file) and the streamed normalize of ``run()``
    (one per table for the whole package, :mod:`quiver.normalize.stream`) use it.

    Args:
        root: the root table the batches belong to.
        from_rows: the batches are converted rows (``True``) or Arrow items.
        target: the temp package the parquet files and dead letters go to.
        context: the package being normalized (its schema evolves).
    """

    def __init__(self, root: str, from_rows: bool, target: Path, context: _PackageContext) -> None:
        self._root = root
        self._context = context
        # Rows always unnest; Arrow items only when a hint asks for it.
        self._unnest = from_rows or context.schema.has_explicit_nesting(root)
        self._options = _flatten_options(root, from_rows, self._unnest, context)
        self._coerce_context = CoerceContext(
            context.schema,
            context.load_id,
            context.naming,
            from_rows,
            context.established,
            context.violations,
        )
        self._output = _JobOutput(target, context.config.parquet, context.schema)

    def write(self, batch: pa.RecordBatch) -> None:
        """Normalize one batch; the schema of the table chain evolves with it."""
        flat = _flatten_batch(batch, self._root, self._unnest, self._options)
        with self._context.lock(self._root):
            coerced = _coerce_tables(flat, self._coerce_context)
        self._output.write(coerced)

    def close(self) -> None:
        """Finish the files (also after a failure: no file is left open)."""
        self._output.close()

    def metrics(self) -> NormalizeMetrics:
        """What the batches wrote (call after :meth:`close`)."""
        return self._output.metrics()


def _flatten_options(
    root: str, from_rows: bool, unnest: bool, context: _PackageContext
) -> FlattenOptions:
    """How the batches of one job unnest and which lineage columns they get."""
    schema, config = context.schema, context.config
    return FlattenOptions(
        naming=context.naming,
        load_id=context.load_id,
        max_nesting=schema.max_nesting(root) if unnest else 0,
        add_dlt_load_id=from_rows or config.add_dlt_load_id_to_arrow,
        add_dlt_id=from_rows or config.add_dlt_id_to_arrow,
        is_json=context.is_json,
        from_rows=from_rows,
        **_row_id_options(schema, root),
    )


def _flatten_batch(
    batch: pa.RecordBatch, root: str, unnest: bool, options: FlattenOptions
) -> list[FlatTable]:
    """The root table and its child tables of one batch.

    Arrow items that neither unnest nor get lineage columns keep their shape: only their names
    normalize.
    """
    if not unnest and not (options.add_dlt_id or options.add_dlt_load_id):
        renamed = rename_arrow_columns(batch, options.naming, root)
        flat = FlatTable(root, None, path=(root,))
        for name, column in zip(renamed.schema.names, renamed.columns, strict=True):
            flat.add(name, column)
        return [flat]
    return flatten_rows(batch, root, options)


def _coerce_tables(
    flat: list[FlatTable], coerce_context: CoerceContext
) -> list[tuple[str, CoerceResult]]:
    """Coerce each table of a batch, parents first; a discarded row discards its child rows."""
    discarded_ids: dict[str, pa.Array] = {}
    results = []
    for table in flat:
        parent_ids = discarded_ids.get(table.parent) if table.parent else None
        result = coerce_table(table, coerce_context, parent_ids)
        if result.discarded_ids is not None and len(result.discarded_ids):
            discarded_ids[table.name] = result.discarded_ids
        results.append((table.name, result))
    return results


class _JobOutput:
    """Where the coerced tables of one job go: parquet per table, discarded rows to dead letters."""

    def __init__(self, target: Path, parquet: ParquetOptions, schema: Schema) -> None:
        self._jobs_dir = target / "jobs" / "new"
        self._parquet = parquet
        self._schema = schema
        self._writers: dict[str, ParquetTableWriter | partitioned_files.PartitionedTableWriter] = {}
        self._dead_letters = DeadLetterWriter(target)
        self._metrics = NormalizeMetrics()

    def write(self, coerced: list[tuple[str, CoerceResult]]) -> None:
        metrics = self._metrics
        for table_name, result in coerced:
            _count(metrics.discarded_rows, table_name, result.discarded_rows)
            _count(metrics.discarded_values, table_name, result.discarded_values)
            if result.discarded is not None:
                self._dead_letters.write(table_name, result.discarded)
            if result.table.num_rows == 0:
                continue
            writer = self._writers.get(table_name)
            if writer is None:
                writer = self._writers[table_name] = self._new_writer(table_name)
            writer.write(result.table)
            _count(metrics.row_counts, table_name, result.table.num_rows)

    def _new_writer(
        self, table_name: str
    ) -> ParquetTableWriter | partitioned_files.PartitionedTableWriter:
        """Partitioned tables get one file per partition value (``partitioned_files``)."""
        args = (self._jobs_dir, table_name, self._parquet)
        identity = self._schema.columns_with_hint(table_name, "partition")
        fields = partition_fields(self._schema.tables.get(table_name, {}), identity)
        if fields:
            return partitioned_files.PartitionedTableWriter(fields, lane_factory(*args))
        return ParquetTableWriter(*args)

    def close(self) -> None:
        """Finish every file; the dead letters are closed even when a parquet writer fails."""
        try:
            for writer in self._writers.values():
                writer.close()
        finally:
            self._dead_letters.close()

    def metrics(self) -> NormalizeMetrics:
        """What the job wrote (call after :meth:`close`)."""
        for writer in self._writers.values():
            self._metrics.files.extend(writer.files)
        self._metrics.dead_letter_files.extend(self._dead_letters.files)
        return self._metrics


def _count(counts: dict[str, int], table_name: str, count: int) -> None:
    if count:
        counts[table_name] = counts.get(table_name, 0) + count


#: Merge strategies whose root ``_dlt_id`` is the hash of the primary key (dlt's key hash).
KEY_HASH_STRATEGIES = ("upsert", "insert-only")


def _row_id_options(schema: Schema, table_name: str) -> dict[str, Any]:
    """How root row ids are made and whether root ids propagate, from the table's hints.

    Merge tables propagate ``_dlt_root_id`` to child tables (dlt does this for every merge
    strategy) so that the children of a merged row can be found; upsert and insert-only roots
    get key-hash ids so their children's ids are stable across loads; scd2 roots get a hash of
    the row (the row version), unless a ``row_version_column_name`` is given.
    """
    table = schema.get_table(table_name) or {}
    options: dict[str, Any] = {"root_key": bool(schema.settings.get("root_key"))}
    if table.get("write_disposition") != "merge":
        return options
    options["root_key"] = True
    strategy = resolve_strategy(table)
    if strategy == "scd2":
        options["row_hash"] = row_version_column(table) == C_DLT_ID
    elif strategy in KEY_HASH_STRATEGIES:
        options["key_hash_columns"] = tuple(schema.columns_with_hint(table_name, "primary_key"))
    return options
