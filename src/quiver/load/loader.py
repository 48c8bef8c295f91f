"""Load one normalized package: a commit per table, then the sidecar rows, ``_dlt_loads`` last.

Tables are committed through the table format named by their ``table_format`` hint, parents
before children, the tables of one level in parallel (``workers`` threads; delta-rs and pyarrow
release the GIL). Each commit carries the load id; before committing, the loader asks the table
whether that load id is already there, so a package retried after a crash never loads a table
twice. Table and sidecar commits run through one :class:`~quiver.load.retry.RetryPolicy`:
transient errors (I/O, commit conflicts) are retried with backoff; terminal errors (bad data,
unsupported operations) fail the job and abort the package; bugs in quiver raise
:class:`~quiver.errors.InternalError` and, like errors that outlast the retries, leave the
package pending (:func:`quiver.load.retry.classify` decides). A failed job keeps its original
exception object (``LoadError.exception``, chained as ``__cause__``). The ``_dlt_loads`` row is
written only after every table committed: its presence means the package is complete. With a
staging location, each table's files are placed there before its commit (:mod:`quiver.load.staging`).
"""

from __future__ import annotations

import datetime
import traceback
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from quiver.destinations.base import (
    Disposition,
    TableCommit,
    TableFormat,
    canonical_table_format,
    load_table_format,
)
from quiver.destinations.filesystem import FilesystemDestination
from quiver.errors import DestinationCapabilitiesError, InternalError, LoadError
from quiver.errors.base import filter_message
from quiver.load.materialize import create_materialized_tables
from quiver.load.refresh import apply_refresh
from quiver.load.retry import RetryPolicy, classify, failure_record
from quiver.load.sidecars import SidecarStore, TableSidecars, open_sidecars
from quiver.load.staging import StagingArea
from quiver.package.storage import JOB_STATES, JobFile, JobState, PackageStorage
from quiver.progress import NULL_COLLECTOR, Collector
from quiver.schema.columns import LOADS_TABLE, STATE_TABLE, VERSION_TABLE
from quiver.schema.model import Schema
from quiver.schema.types import column_to_arrow
from quiver.settings import LoadConfig

T = TypeVar("T")


@dataclass
class LoadedTable:
    table_name: str
    files: list[Path]
    disposition: str
    skipped_as_committed: bool
    failed_message: str | None = None
    #: The original exception of a failed job (``failed_message`` is its text).
    exception: BaseException | None = None
    #: When the table's commit started and ended (UTC): the job metrics of ``LoadInfo``.
    started_at: datetime.datetime | None = None
    finished_at: datetime.datetime | None = None


@dataclass
class PackageLoadResult:
    load_id: str
    state: str = "loaded"
    tables: list[LoadedTable] = field(default_factory=list)
    completed_at: datetime.datetime | None = None

    @property
    def failed_tables(self) -> list[LoadedTable]:
        return [t for t in self.tables if t.failed_message is not None]


@dataclass(frozen=True)
class _PackagePlan:
    """The tables of a package to commit, parents before children, and their files."""

    tables: list[str]
    #: Files still to commit, by table.
    new_files: dict[str, list[Path]]
    #: Every file of the package by table, whatever its job state (a child merge needs its
    #: root's files even when the root committed in an earlier attempt).
    all_files: dict[str, list[Path]]
    #: Tables whose content the package replaces (roots with their children).
    replaced: set[str]


class Loader:
    """Commits packages of one pipeline into one dataset."""

    def __init__(
        self,
        storage: PackageStorage,
        destination: FilesystemDestination,
        dataset_name: str,
        app_id: str,
        config: LoadConfig = LoadConfig(),  # noqa: B008 (frozen settings)
        retry: RetryPolicy | None = None,
        progress: Collector = NULL_COLLECTOR,
        staging: FilesystemDestination | None = None,
    ) -> None:
        """
        Args:
            storage: The pipeline's package storage.
            destination: Where the tables are.
            dataset_name: The dataset folder below the destination's bucket.
            app_id: The pipeline's id, recorded with the load id in every commit.
            config: Loader settings.
            retry: The retry policy of every table and sidecar commit; if not given, one with
                ``config.max_attempts`` and ``config.backoff_seconds``.
            progress: counts ``Jobs`` (job files) and ``Commits`` (tables), once per commit,
                from the commit threads (give a thread-safe collector).
            staging: where each table's files are placed before its commit
                (:mod:`quiver.load.staging`); ``None``: no staging.

        Raises:
            DestinationConfigError: the staging folder overlaps the dataset folder.
        """
        self._storage = storage
        self._destination = destination
        self._dataset = destination.location().join(dataset_name)
        self._app_id = app_id
        self._config = config
        self._retry = retry or RetryPolicy(
            attempts=config.max_attempts, base_delay=config.backoff_seconds
        )
        self._formats: dict[str, TableFormat] = {}
        self._progress = progress
        self._staging = None if staging is None else StagingArea(staging, destination, dataset_name)

    def table_format(self, name: str) -> TableFormat:
        """The table format registered under ``name`` (one instance per loader)."""
        name = canonical_table_format(name)
        if name not in self._formats:
            options = self._destination.table_format_options(name)
            self._formats[name] = load_table_format(name, self._dataset, self._app_id, **options)
        return self._formats[name]

    # ---------------------------------------------------------------- package
    def load_package(self, load_id: str) -> PackageLoadResult:
        """Commit every table of the package, then the sidecars; move it to ``loaded/``.

        Raises:
            LoadError: a transient error outlasted the retries (the package stays pending) or,
                with ``raise_on_failed_jobs``, a job failed terminally (the package is aborted);
                ``exception`` (and ``__cause__``) is the original error.
            InternalError: a bug in quiver (the package stays pending).
        """
        package = self._storage.path("normalized", load_id)
        schema = Schema.from_dict(self._storage.read_schema(package))
        state = self._storage.read_state(package)
        result = PackageLoadResult(load_id)
        try:
            # refresh: drop/truncate before any data of the package commits, once per package.
            default_format = self._destination.table_format
            if apply_refresh(state, self.table_format, default_format, load_id, self._retry):
                self._storage.write_state(package, state)
            plan = self._plan(package, schema, state)
            create_materialized_tables(
                package, state, schema, plan.new_files, self.table_format, default_format,
                lambda name: _arrow_schema(schema, name, []), load_id, self._retry,
            )  # fmt: skip
            self._commit_tables(schema, plan, result)
            self._write_sidecars(schema, state, load_id)
        except LoadError as error:
            if not error.retryable:  # terminal: it would fail the same way on every run
                self._abort(package, state, load_id, error)
            raise
        result.completed_at = datetime.datetime.now(datetime.UTC)
        result.state = "loaded"
        state.update(state="loaded", completed_at=result.completed_at.isoformat())
        self._storage.write_state(package, state)
        self._storage.move(load_id, "normalized", "loaded")
        return result

    def _plan(self, package: Path, schema: Schema, state: dict[str, Any]) -> _PackagePlan:
        """Which tables of the package commit, with which files; skip-tables complete at once."""
        new_files: dict[str, list[Path]] = defaultdict(list)
        for job in self._storage.jobs(package, "new"):
            new_files[JobFile.parse(job.name).table_name].append(job)
        all_files: dict[str, list[Path]] = defaultdict(list)
        for job_state in JOB_STATES:
            for job in self._storage.jobs(package, job_state):
                all_files[JobFile.parse(job.name).table_name].append(job)

        replaced = set(state.get("replaced_tables", []))
        for root in list(replaced):
            if root in schema.tables:
                replaced.update(t["name"] for t in schema.child_tables(root))
        tables = [
            t
            for t in set(new_files) | replaced
            if schema.table_hint(t, "write_disposition", "append") != "skip"
        ]
        for name in set(new_files) - set(tables):  # skip disposition: nothing to commit
            self._move(new_files[name], "completed")
        # A merged root's children follow it even when this load has no child rows: their
        # old rows for the merged keys must go.
        for root in [t for t in tables if "parent" not in schema.tables.get(t, {})]:
            if schema.table_hint(root, "write_disposition") == "merge":
                tables.extend(
                    c["name"] for c in schema.child_tables(root) if c["name"] not in tables
                )
        return _PackagePlan(tables, dict(new_files), dict(all_files), replaced)

    def _commit_tables(self, schema: Schema, plan: _PackagePlan, result: PackageLoadResult) -> None:
        """Commit the planned tables level by level (parents before children), in parallel."""
        load_id = result.load_id
        self._progress.update(
            "Jobs", 0, total=sum(len(plan.new_files.get(t, [])) for t in plan.tables)
        )
        self._progress.update("Commits", 0, total=len(plan.tables))
        with ThreadPoolExecutor(max_workers=max(1, self._config.workers)) as pool:
            for level in _levels(schema, plan.tables):
                futures = [
                    pool.submit(
                        self._load_table,
                        schema,
                        name,
                        plan.new_files.get(name, []),
                        "replace" if name in plan.replaced else None,
                        load_id,
                        dict(plan.all_files),
                    )
                    for name in level
                ]
                outcomes = [f.result() for f in futures]  # re-raises LoadError, InternalError
                result.tables.extend(outcomes)
                failed = [(t.table_name, t.exception) for t in outcomes if t.exception]
                if failed and self._config.raise_on_failed_jobs:
                    table_name, error = failed[0]
                    raise LoadError(table_name, load_id, error, retryable=False) from error

    def _abort(self, package: Path, state: dict[str, Any], load_id: str, error: LoadError) -> None:
        """Move the package to ``loaded/`` as ``aborted`` (dlt's place for it), with its
        ``failure.json``: it no longer blocks later runs and
        ``Pipeline.retry_failed_package`` can load it again after a fix."""
        state.update(state="aborted", completed_at=datetime.datetime.now(datetime.UTC).isoformat())
        self._storage.write_state(package, state)
        self._storage.write_failure(package, failure_record("load", "normalized", error))
        self._storage.move(load_id, "normalized", "loaded")

    # ------------------------------------------------------------------ table
    def _load_table(
        self,
        schema: Schema,
        table_name: str,
        files: list[Path],
        forced_disposition: str | None,
        load_id: str,
        package_files: dict[str, list[Path]],
    ) -> LoadedTable:
        disposition = forced_disposition or schema.table_hint(
            table_name, "write_disposition", "append"
        )
        format_name = (
            schema.table_hint(table_name, "table_format") or self._destination.table_format
        )
        started = [f.parent.parent / "started" / f.name for f in files]
        started_at = datetime.datetime.now(datetime.UTC)

        def commit_once() -> bool:
            """Commit unless the load id is in the table already; whether it was."""
            if table_format.is_committed(table_name, load_id):
                return True
            self._move(files, "started")
            if self._staging is not None:
                self._staging.stage(table_name, load_id, started)
            self._commit(
                schema, table_format, table_name, started, disposition, load_id, package_files
            )
            return False

        try:
            table_format = self.table_format(format_name)
            skipped = self._retry.run(
                commit_once, what=f"Commit of package {load_id} to table {table_name!r}"
            )
        except Exception as error:
            kind = classify(error)
            if kind == "terminal":
                self._fail(files, error)
                message = f"{type(error).__name__}: {error}"
                self._progress.update(
                    "Jobs", len(files), label="Failed", message="WARNING: Some of the jobs failed!"
                )
                finished_at = datetime.datetime.now(datetime.UTC)
                return LoadedTable(
                    table_name, files, disposition, False, message, error, started_at, finished_at
                )
            self._move(files, "new")
            if kind == "bug":
                where = f"committing table {table_name!r}"
                raise InternalError("load", where, load_id, error) from error
            raise LoadError(table_name, load_id, error, retryable=True) from error
        self._move(files, "completed")
        self._progress.update("Jobs", len(files))
        self._progress.update("Commits")
        return LoadedTable(
            table_name,
            files,
            disposition,
            skipped_as_committed=skipped,
            started_at=started_at,
            finished_at=datetime.datetime.now(datetime.UTC),
        )

    def _commit(
        self,
        schema: Schema,
        table_format: TableFormat,
        table_name: str,
        files: list[Path],
        disposition: str,
        load_id: str,
        package_files: dict[str, list[Path]],
    ) -> None:
        arrow_schema = _arrow_schema(schema, table_name, files)
        if not files and not arrow_schema.names:
            return
        if not files and disposition == "replace" and not table_format.table_exists(table_name):
            return
        commit_disposition: Disposition = (
            "replace"
            if disposition == "replace"
            else "merge"
            if disposition == "merge"
            else "append"
        )
        if commit_disposition == "merge" and not table_format.supports_merge:
            raise DestinationCapabilitiesError(
                f"Table {table_name!r} of package {load_id} has write_disposition='merge', which "
                f"the {table_format.name!r} table format cannot load. Hint: use table_format="
                "'delta' or 'iceberg', or write_disposition 'append' / 'replace'."
            )
        table_format.commit(
            TableCommit(
                table_name=table_name,
                files=files,
                arrow_schema=arrow_schema,
                disposition=commit_disposition,
                load_id=load_id,
                partition_by=schema.columns_with_hint(table_name, "partition"),
                table_schema=schema.tables.get(table_name, {}),
                schema=schema,
                package_files=package_files,
            )
        )

    def _move(self, files: list[Path], state: JobState) -> None:
        for path in files:
            for current in ("new", "started", "completed", "failed"):
                candidate = path.parent.parent / current / path.name
                if candidate.exists():
                    if current != state:
                        self._storage.move_job(candidate, state)
                    break

    def _fail(self, files: list[Path], error: BaseException) -> None:
        self._move(files, "failed")
        for path in files:
            failed = path.parent.parent / "failed" / path.name
            failed.with_name(failed.name + ".exception").write_text(
                filter_message("".join(traceback.format_exception(error)))
            )

    # --------------------------------------------------------------- sidecars
    def sidecars(self, schema: Schema) -> SidecarStore:
        """The dataset's sidecars, in the dataset's format.

        The form the dataset already has wins (dlt's JSON-lines files, or a ``_dlt_loads``
        table of some format). A dataset without sidecars gets the format most of this
        package's data tables use, else the destination's default: an Iceberg dataset gets
        Iceberg sidecars even when the destination's default format is Delta.
        """
        counts: dict[str, int] = defaultdict(int)
        for table in schema.data_tables():
            name = table.get("table_format") or self._destination.table_format
            counts[canonical_table_format(name)] += 1
        counts.setdefault(canonical_table_format(self._destination.table_format), 0)
        by_use = sorted(counts, key=lambda name: -counts[name])
        candidates = [self.table_format(name) for name in by_use]
        return open_sidecars(self._dataset, candidates) or TableSidecars(candidates[0])

    def _write_sidecars(self, schema: Schema, state: dict[str, Any], load_id: str) -> None:
        """``_dlt_version`` (if this schema version is new) and ``_dlt_pipeline_state``, then
        ``_dlt_loads``; each write retried by the policy and a no-op if it landed before.

        The first two are independent (a state row counts only once its load id is in
        ``_dlt_loads``), so they commit at the same time, as the tables of one level do;
        ``_dlt_loads`` waits for both.
        """
        store = self._sidecar_step(VERSION_TABLE, load_id, lambda: self.sidecars(schema))
        pipeline_state = state.get("pipeline_state")
        with ThreadPoolExecutor(max_workers=2) as pool:
            steps = [
                pool.submit(
                    self._sidecar_step,
                    VERSION_TABLE,
                    load_id,
                    lambda: store.write_version(schema, load_id),
                )
            ]
            if pipeline_state:
                steps.append(
                    pool.submit(
                        self._sidecar_step,
                        STATE_TABLE,
                        load_id,
                        lambda: store.write_state(pipeline_state, schema, load_id),
                    )
                )
            for step in steps:
                step.result()  # re-raises LoadError, InternalError (``_dlt_version``'s first)
        self._sidecar_step(LOADS_TABLE, load_id, lambda: store.write_load(schema, load_id))

    def _sidecar_step(self, table_name: str, load_id: str, action: Callable[[], T]) -> T:
        """Run a sidecar read or write under the retry policy.

        Raises:
            LoadError: retryable: the package stays pending; not retryable (a terminal error,
                e.g. a ``_dlt_loads`` table whose columns do not fit): the package is aborted.
            InternalError: a bug in quiver.
        """
        try:
            return self._retry.run(action, what=f"Commit of package {load_id} to {table_name}")
        except Exception as error:
            kind = classify(error)
            if kind == "bug":
                where = f"writing {table_name}"
                raise InternalError("load", where, load_id, error) from error
            raise LoadError(table_name, load_id, error, retryable=kind != "terminal") from error


def _levels(schema: Schema, tables: list[str]) -> list[list[str]]:
    """Tables grouped by depth in their table chain: roots first, then children, ..."""

    def depth(name: str) -> int:
        table, level = schema.tables.get(name, {}), 0
        while "parent" in table:
            table, level = schema.tables.get(table["parent"], {}), level + 1
        return level

    by_depth: dict[int, list[str]] = defaultdict(list)
    for name in sorted(tables):
        by_depth[depth(name)].append(name)
    return [by_depth[d] for d in sorted(by_depth)]


def _arrow_schema(schema: Schema, table_name: str, files: list[Path]) -> pa.Schema:
    """The table's schema after this load: the union of the files' schemas in the schema's
    column order, or the schema's columns when there are no files.

    The union alone would follow the order of the files, and file names are random: a column
    that appears in a later file could land anywhere, differently from run to run.
    """
    table = schema.get_table(table_name) or {}
    if files:
        unified = pa.unify_schemas([pq.read_schema(path) for path in files])
        position = {name: index for index, name in enumerate(table.get("columns", {}))}
        # Stable: columns the schema does not know (none expected) keep the files' order.
        ordered = sorted(unified, key=lambda f: position.get(f.name, len(position)))
        return pa.schema(ordered, metadata=unified.metadata)
    fields = [
        pa.field(name, column_to_arrow(column))
        for name, column in table.get("columns", {}).items()
        if "data_type" in column
    ]
    return pa.schema(fields)
