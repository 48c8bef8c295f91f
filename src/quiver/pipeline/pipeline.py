"""The Pipeline: extract → normalize → load over load packages in a working folder.

The Pipeline orchestrates; the work is done elsewhere: schemas are kept by
:class:`~quiver.package.schema_store.SchemaStore`, packages by
:class:`~quiver.package.storage.PackageStorage` (their states and infos are built in
:mod:`quiver.pipeline.packages`), settings come from :func:`quiver.settings.resolve`, and the
steps themselves are :class:`~quiver.extract.extractor.Extractor`,
:func:`~quiver.normalize.normalizer.normalize_package` and :class:`~quiver.load.loader.Loader`.
"""

from __future__ import annotations

import copy
import datetime
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quiver.destinations.filesystem import FilesystemDestination, resolve_destination
from quiver.errors import PipelineConfigMissing, PipelineStepFailed
from quiver.extract.extractor import ExtractMetrics, Extractor
from quiver.extract.resource import Resource
from quiver.extract.source import Source
from quiver.extract.state import managed_state
from quiver.load.loader import Loader
from quiver.load.staging import record_staging, staging_from_state
from quiver.package.ids import new_load_id
from quiver.package.schema_store import SchemaStore
from quiver.package.storage import PackageStorage
from quiver.pipeline import overlap, packages, steps, sync, validation
from quiver.pipeline.data import data_to_sources, with_run_hints
from quiver.pipeline.excepthook import install_masking_excepthook
from quiver.pipeline.failed_packages import FailedPackages
from quiver.pipeline.infos import ExtractInfo, LoadInfo, NormalizeInfo
from quiver.pipeline.local_state import (
    adopt_newer_package_state,
    new_state,
    read_state,
    record_settings,
    write_state,
)
from quiver.pipeline.lock import FolderLock, locked_step
from quiver.pipeline.naming import normalize_dataset_name, pipeline_naming, schema_naming
from quiver.pipeline.observability import Observable
from quiver.pipeline.refresh import RefreshMode, SourceRefresh, check_refresh_mode, prepare_refresh
from quiver.pipeline.salt import anonymize, resolve_pipeline_salt
from quiver.pipeline.state import as_pipeline_state, bump_version_if_modified, state_document
from quiver.pipeline.step_logs import logged_step
from quiver.pipeline.trace import traced
from quiver.pipeline.unsupported import refuse_unsupported
from quiver.pipeline.working_folder import WorkingFolder
from quiver.scaleout import executor_of_step, extract_on
from quiver.schema.documents import PipelineState
from quiver.schema.hints import (
    ColumnsHint,
    FileFormat,
    KeyHint,
    SchemaContractHint,
    TableFormatName,
    WriteDisposition,
    WriteDispositionConfig,
)
from quiver.schema.model import Schema
from quiver.schema.naming import default_schema_name
from quiver.settings import ExtractConfig, LoadConfig, NormalizeConfig, buffer_config, resolve

if TYPE_CHECKING:
    from quiver.pipeline.dataset import Dataset

_NO_DESTINATION_HINT = (
    "pass destination='filesystem' (and a bucket_url) to quiver.pipeline() or run()."
)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass
class _ExtractedPackage:
    """A source extracted into a temp package, not committed yet."""

    load_id: str
    path: Path
    schema: Schema
    metrics: ExtractMetrics
    #: What ``refresh`` drops or truncates before this package loads (``None``: no refresh).
    refresh: SourceRefresh | None = None


class Pipeline(WorkingFolder, FailedPackages, Observable):
    """A named pipeline with a working folder, schemas, pending packages and a destination.

    Create it with :func:`quiver.pipeline`; see that function for the arguments.
    """

    def __init__(
        self,
        pipeline_name: str,
        pipelines_dir: str,
        *,
        destination: Any = None,
        dataset_name: str | None = None,
        import_schema_path: str | None = None,
        export_schema_path: str | None = None,
        dev_mode: bool = False,
        refresh: str | None = None,
        pipeline_salt: str | None = None,
        progress: Any = None,
    ) -> None:
        self.pipeline_name = pipeline_name
        self.refresh = check_refresh_mode(pipeline_name, "quiver.pipeline()", refresh)
        self.pipeline_salt = resolve_pipeline_salt(pipeline_name, pipeline_salt)
        self.pipelines_dir = pipelines_dir
        self.import_schema_path = import_schema_path
        self.export_schema_path = export_schema_path
        self.dev_mode = dev_mode
        self.working_dir = Path(pipelines_dir) / pipeline_name
        if dev_mode and self.working_dir.exists():
            shutil.rmtree(self.working_dir)
        self.working_dir.mkdir(parents=True, exist_ok=True)
        self.folder_lock = FolderLock(self.working_dir)
        self.synced = False  # run() syncs with the destination once per instance
        self._schemas = SchemaStore(
            self.working_dir / "schemas",
            import_schema_path=import_schema_path,
            export_schema_path=export_schema_path,
        )
        self._storage = PackageStorage(self.working_dir)
        self._state: PipelineState = adopt_newer_package_state(
            read_state(self.working_dir) or new_state(pipeline_name), self._storage
        )
        stored_destination = self._state.get("destination")
        self.destination: FilesystemDestination | None = resolve_destination(destination) or (
            FilesystemDestination(**stored_destination) if stored_destination else None
        )
        if self.destination is not None:
            self.destination.validate()
        install_masking_excepthook()  # the bucket_url's userinfo is registered by now
        self.naming = pipeline_naming(self._schemas, self.default_schema_name)
        self.dataset_name = self._make_dataset_name(dataset_name or self._state.get("dataset_name"))
        self._init_observability(progress)
        self._save_state()

    # ----------------------------------------------------------------- naming
    def _make_dataset_name(self, dataset_name: str | None) -> str:
        name = dataset_name or self.pipeline_name + "_dataset"
        return normalize_dataset_name(self.naming, name, self.dev_mode, self.pipeline_name)

    @property
    def default_schema_name(self) -> str:
        return self._state.get("default_schema_name") or default_schema_name(self.pipeline_name)

    @property
    def schema_names(self) -> list[str]:
        return sorted(self._state.get("schema_names", []))

    @property
    def schemas(self) -> dict[str, Schema]:
        return {name: self._schemas.load(name) for name in self.schema_names}

    @property
    def default_schema(self) -> Schema:
        return self._schemas.load(self.default_schema_name)

    @property
    def state(self) -> PipelineState:
        """A copy of the pipeline state (its top level; ``sources`` is shared)."""
        return self._state.copy()

    @property
    def has_data(self) -> bool:
        return not self.first_run or bool(self.schema_names) or self.has_pending_data

    def anonymize(self, value: Any) -> str | None:
        """A deterministic pseudonym of ``value`` keyed with ``pipeline_salt`` (``None`` stays
        ``None``); see :func:`quiver.pipeline.salt.anonymize`. Not for cryptography."""
        return anonymize(value, self.pipeline_salt)

    # ------------------------------------------------------------ persistence
    def _save_schema(self, schema: Schema) -> None:
        """Save a live schema and list it in the state."""
        self._schemas.save(schema)
        names = set(self._state.get("schema_names", []))
        if schema.name not in names:
            self._state["schema_names"] = sorted(names | {schema.name})
            self._state.setdefault("default_schema_name", schema.name)
            self._save_state()

    def _save_state(self) -> None:
        record_settings(
            self._state, self.pipeline_name, self.dataset_name, self.destination, self.dev_mode
        )
        write_state(self.working_dir, self._state)

    # ---------------------------------------------------------------- extract
    @locked_step
    @traced("extract")
    @logged_step("extract")
    def extract(
        self,
        data: Any,
        *,
        table_name: str | None = None,
        write_disposition: WriteDisposition | WriteDispositionConfig | None = None,
        columns: ColumnsHint | None = None,
        primary_key: KeyHint | None = None,
        schema: Any = None,
        table_format: TableFormatName | None = None,
        schema_contract: SchemaContractHint | None = None,
        refresh: str | None = None,
        loader_file_format: FileFormat | None = None,
        workers: int | None = None,
        executor: Any = None,
    ) -> ExtractInfo:
        """Extract data into one package per source; nothing is committed if anything fails.

        Resources read and write a working copy of the state; it replaces the pipeline state
        (and goes into the last package as ``pipeline_state`` when it changed) only after every
        source was extracted. On failure the packages are discarded and the state and schemas
        stay as they were.

        Raises:
            NotSupportedYet: ``schema`` is given.
            InvalidRefreshMode: ``refresh`` is not a refresh mode.
            PipelineStepFailed: a source failed to extract (the cause is chained).
        """
        refuse_unsupported("Pipeline.extract()", schema=schema)
        mode = check_refresh_mode(self.pipeline_name, "extract()", refresh) or self.refresh
        self._storage.recover()
        info = ExtractInfo(self.pipeline_name, _now())
        hints = {
            "table_name": table_name,
            "write_disposition": write_disposition,
            "columns": columns,
            "primary_key": primary_key,
            "table_format": table_format,
            "schema_contract": schema_contract,
            "file_format": loader_file_format,
        }
        validation.check_run_hints(self, "extract", hints)
        sources = list(self._resolve_sources(data, table_name, hints))
        validation.check_sources(self, sources)
        workers = resolve(ExtractConfig, workers=workers).workers
        # Resources write into this copy (as a plain dict); it is adopted only on success.
        working_state: dict[str, Any] = copy.deepcopy(dict(self._state))
        extracted: list[_ExtractedPackage] = []
        load_id: str | None = None
        try:
            with managed_state(working_state, self):
                for source, resources in sources:
                    load_id = new_load_id()
                    extracted.append(
                        self._extract_source(
                            source, resources, load_id, working_state, workers, mode, executor
                        )
                    )
        except Exception as error:
            for entry in extracted:
                self._storage.discard_temp(entry.path)
            raise PipelineStepFailed(
                self.pipeline_name, "extract", load_id, error, info, self.has_pending_data
            ) from error
        self._commit_extract(extracted, as_pipeline_state(working_state), info)
        info.finished_at = _now()
        return info

    def _resolve_sources(
        self, data: Any, table_name: str | None, hints: dict[str, Any]
    ) -> Iterator[tuple[Source, list[Resource]]]:
        """The sources in ``data``, each with its selected resources and the run's hints."""
        given = {k: v for k, v in hints.items() if v is not None}
        for source in data_to_sources(data, self.default_schema_name, table_name):
            resources = list(source.selected_resources.values())
            yield source, [with_run_hints(r, given) for r in resources] if given else resources

    def _extract_source(
        self,
        source: Source,
        resources: list[Resource],
        load_id: str,
        working_state: dict[str, Any],
        workers: int,
        refresh: RefreshMode | None = None,
        executor: Any = None,
    ) -> _ExtractedPackage:
        """Extract one source into a new temp package (the caller commits or discards it)."""
        refreshed = prepare_refresh(
            refresh, self._schemas, self.schema_names, source.name, resources, working_state
        )
        schema = self._source_schema(source, None if refreshed is None else refreshed.schema)
        package = self._storage.new_temp_package(load_id)
        extracted = _ExtractedPackage(load_id, package, schema, ExtractMetrics(), refreshed)
        buffers = buffer_config(source.name)
        options: dict[str, Any] = {
            "naming": schema_naming(schema, self.naming.max_length),
            "buffer_max_items": buffers.buffer_max_items,
            "file_max_items": buffers.file_max_items,
            "file_max_bytes": buffers.file_max_bytes,
        }
        sink = overlap.sink_for(self, load_id, schema, executor)  # run() normalizes meanwhile
        extractor = Extractor(package, schema, **options, progress=self._progress, sink=sink)
        try:  # in this process, or on the executor's workers (quiver.scaleout)
            run = (executor, extractor, package, options, resources, working_state, source.name)
            extracted.metrics = extract_on(*run, workers=workers)
        except Exception:
            self._storage.discard_temp(package)
            raise
        return extracted

    def _source_schema(self, source: Source, base: Schema | None = None) -> Schema:
        """The live schema of a source (or ``base``) with the source's own hints and settings."""
        schema = self._schemas.load(source.name) if base is None else base
        if source.has_given_schema:
            for table in source.schema.data_tables():
                schema.merge_hints(table["name"], table)
        if source.max_table_nesting is not None:
            schema.settings["max_table_nesting"] = source.max_table_nesting
        if getattr(source, "schema_contract", None) is not None:
            schema.settings["schema_contract"] = source.schema_contract
        if source.root_key:
            schema.settings["root_key"] = True
        return schema

    def _commit_extract(
        self,
        extracted: list[_ExtractedPackage],
        working_state: PipelineState,
        info: ExtractInfo,
    ) -> None:
        """Adopt the extracted state, hand it to the loader in the last package, commit."""
        working_state["_local"] = self._state["_local"]
        names = set(working_state.get("schema_names", []))
        for entry in extracted:
            names.add(entry.schema.name)
            working_state.setdefault("default_schema_name", entry.schema.name)
        working_state["schema_names"] = sorted(names)
        self._state = working_state
        bump_version_if_modified(self._state)
        state_changed = self._state.get("_version_hash") != self._state["_local"].get(
            "_last_extracted_hash"
        )
        # Dropped tables take their state rows along: the new state must be stored again.
        state_changed |= any(e.refresh and e.refresh.changes_destination for e in extracted)
        if not state_changed:  # dlt drops a package with nothing to load (``is_empty`` runs)
            empty = [
                e for e in extracted if not (e.metrics.row_counts or e.metrics.replaced_tables)
            ]
            for entry in empty:
                self._storage.discard_temp(entry.path)
                self._save_schema(entry.schema)
            extracted = [e for e in extracted if e not in empty]
        for position, entry in enumerate(extracted):
            # The loader stores this in _dlt_pipeline_state, with the last package's data.
            carries_state = state_changed and position == len(extracted) - 1
            package_state = packages.extracted_state(
                _now(),
                entry.metrics.replaced_tables,
                entry.metrics.row_counts,
                state_document(self._state, _now()) if carries_state else None,
            )
            if entry.refresh is not None:
                package_state.update(entry.refresh.package_state())
            self._storage.write_state(entry.path, package_state)
            self._storage.write_schema(entry.path, entry.schema.to_dict())
        for entry in extracted:
            self._storage.commit(entry.path, "extracted")
            self._save_schema(entry.schema)
            info.add_package(entry.load_id, entry.metrics.row_counts, entry.metrics.custom_metrics)
        if state_changed and extracted:
            self._state["_local"]["_last_extracted_hash"] = self._state.get("_version_hash")
            self._state["_local"]["_last_extracted_at"] = _now().isoformat()
        self._save_state()

    # -------------------------------------------------------------- normalize
    @locked_step
    @traced("normalize")
    @logged_step("normalize")
    def normalize(self, workers: int | None = None, executor: Any = None) -> NormalizeInfo | None:
        """Normalize every extracted package into parquet.

        A package that fails deterministically (bad data, a wrong hint, a bug in quiver) is
        moved to ``failed/`` and the other packages are normalized before the step raises; a
        transient error is retried; anything else raises at once and keeps the package pending.

        Args:
            workers: how many extracted files of a package are normalized at once; defaults
                to the ``normalize.workers`` config value (1).
            executor: where files are normalized (docs/scale-out.md); default in this process.
        """
        self._storage.recover()
        info = NormalizeInfo(self.pipeline_name, _now())
        with executor_of_step(executor):  # files on the executor's workers (quiver.scaleout)
            steps.normalize_packages(self, resolve(NormalizeConfig, workers=workers), info)
        info.finished_at = _now()
        return info

    # ------------------------------------------------------------------- load
    @locked_step
    @traced("load")
    @logged_step("load")
    def load(
        self,
        destination: Any = None,
        dataset_name: str | None = None,
        credentials: Any = None,
        *,
        workers: int | None = None,
        raise_on_failed_jobs: bool | None = None,
    ) -> LoadInfo:
        """Load every normalized package, oldest first.

        Args:
            destination: replaces the pipeline's destination.
            dataset_name: replaces the pipeline's dataset.
            credentials: credentials for the destination.
            workers: tables committed at once; defaults to the ``load.workers`` config value
                (4).
            raise_on_failed_jobs: abort the package and raise on a terminally failed job;
                defaults to the ``load.raise_on_failed_jobs`` config value (true). An aborted
                package blocks nothing: the other packages load before the step raises, and
                :meth:`retry_failed_package` loads it again after a fix.
        """
        self._set_destination(destination, dataset_name, credentials)
        self._storage.recover()
        if self.destination is None:
            raise PipelineConfigMissing(
                self.pipeline_name, "destination", "load", _NO_DESTINATION_HINT
            )
        validation.check_destination(self, self.destination)
        info = self._new_load_info(self.destination)
        config = resolve(LoadConfig, workers=workers, raise_on_failed_jobs=raise_on_failed_jobs)
        loader = Loader(
            self._storage,
            self.destination,
            self.dataset_name,
            app_id=f"quiver/{self.pipeline_name}",
            config=config,
            progress=self._progress,
            staging=staging_from_state(self._state),
        )
        steps.load_packages(self, loader, config, info)
        if info.loads_ids:
            self._state["_local"]["first_run"] = False
            self._save_state()
        info.finished_at = _now()
        return info

    def _new_load_info(self, destination: FilesystemDestination) -> LoadInfo:
        return LoadInfo(
            self.pipeline_name,
            _now(),
            destination_name=destination.destination_name,
            destination_displayable_credentials=destination.displayable_location(),
            dataset_name=self.dataset_name,
            first_run=self.first_run,
        )

    def _set_destination(
        self, destination: Any, dataset_name: str | None, credentials: Any
    ) -> None:
        changed = False
        if destination is not None:
            self.destination = resolve_destination(destination)
            if self.destination is not None:
                self.destination.validate()
            changed = True
        if credentials is not None and self.destination is not None:
            self.destination.credentials = credentials
        if dataset_name is not None and dataset_name != self.dataset_name:
            self.dataset_name = normalize_dataset_name(
                self.naming, dataset_name, False, self.pipeline_name
            )
            changed = True
        if changed:
            self._save_state()

    # -------------------------------------------------------------------- run
    @locked_step
    @traced("run")
    def run(
        self,
        data: Any = None,
        *,
        destination: Any = None,
        staging: Any = None,
        dataset_name: str | None = None,
        credentials: Any = None,
        table_name: str | None = None,
        write_disposition: WriteDisposition | WriteDispositionConfig | None = None,
        columns: ColumnsHint | None = None,
        primary_key: KeyHint | None = None,
        schema: Any = None,
        loader_file_format: FileFormat | None = None,
        table_format: TableFormatName | None = None,
        schema_contract: SchemaContractHint | None = None,
        refresh: str | None = None,
        executor: Any = None,
    ) -> LoadInfo | None:
        """Finish pending packages, then extract, normalize and load ``data``.

        Unlike dlt, which loads pending packages and then returns without extracting the new
        data, quiver loads the pending packages first, logs a warning, and then the new data in
        the same call; ``LoadInfo.pending_load_ids`` lists the packages that were pending
        (``pipelines.extract_after_pending=false`` restores dlt's behaviour). A package that
        fails deterministically is moved aside after the rest loaded (``LoadInfo.
        failed_packages``, :meth:`list_failed_packages`, :meth:`retry_failed_package`; see
        docs/bad-input.md, "Failed packages"). The first ``run()``
        of a pipeline instance syncs with the dataset first (``restore_from_destination``,
        default true; skipped in ``dev_mode``): a newer state there replaces the local one.

        Raises:
            NotSupportedYet: ``schema`` is given.
            InvalidRefreshMode: ``refresh`` is not a refresh mode.
            PipelineConfigMissing: the pipeline has no destination.
            PipelineStepFailed: a step failed (the cause is chained); ``failed_package`` says
                where a package that fails the same way on every run was moved aside.
        """
        refuse_unsupported("Pipeline.run()", schema=schema)
        if record_staging(self._state, staging):  # files go there before each table commit
            self._save_state()
        check_refresh_mode(self.pipeline_name, "run()", refresh)
        self._set_destination(destination, dataset_name, credentials)
        if self.destination is None:
            raise PipelineConfigMissing(
                self.pipeline_name, "destination", "run", _NO_DESTINATION_HINT
            )
        validation.check_run(self, write_disposition, table_format, schema_contract)
        sync.sync_once(self)

        def extract() -> None:
            self.extract(
                data,
                table_name=table_name,
                write_disposition=write_disposition,
                columns=columns,
                primary_key=primary_key,
                table_format=table_format,
                schema_contract=schema_contract,
                refresh=refresh,
                loader_file_format=loader_file_format,
                executor=executor,
            )

        with executor_of_step(executor):
            return steps.run_steps(self, data, extract)

    def dataset(self, schema: str | None = None) -> Dataset:
        """The loaded tables, read back lazily (a :class:`quiver.pipeline.dataset.Dataset`)."""
        from quiver.pipeline.dataset import open_dataset

        return open_dataset(self, schema)

    def show(self, path: str | None = None) -> str:
        """Write a self-contained HTML page of the pipeline (tables, columns, row counts, last
        loads and timings) to ``path`` (default ``<working_dir>/<name>.html``); returns it."""
        from quiver.pipeline.show import write_html

        return write_html(self, path)

    def __repr__(self) -> str:
        return (
            f"quiver.pipeline(pipeline_name={self.pipeline_name!r}, "
            f"destination={self.destination!s}, dataset_name={self.dataset_name!r}, "
            f"working_dir={str(self.working_dir)!r})"
        )
