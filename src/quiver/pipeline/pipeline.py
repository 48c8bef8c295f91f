"""The Pipeline: extract → normalize → load over load packages in a working folder."""

from __future__ import annotations

import copy
import datetime
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

from quiver.destinations.filesystem import FilesystemDestination, resolve_destination
from quiver.errors import PipelineConfigMissing, PipelineStepFailed, QuiverError
from quiver.extract.extractor import ExtractMetrics, Extractor
from quiver.extract.resource import Resource
from quiver.extract.state import managed_state
from quiver.load.loader import Loader
from quiver.normalize.normalizer import normalize_package
from quiver.package.ids import new_load_id
from quiver.package.storage import JOB_STATES, PackageStorage, read_json, write_json
from quiver.pipeline.data import data_to_sources
from quiver.pipeline.infos import (
    ExtractInfo,
    LoadInfo,
    LoadJobInfo,
    LoadPackageInfo,
    NormalizeInfo,
)
from quiver.pipeline.local_state import new_state, read_state, write_state
from quiver.pipeline.state import (
    bump_version_if_modified,
    decompress_state,
    state_document,
)
from quiver.schema import yaml_io
from quiver.schema.model import Schema, content_hash
from quiver.schema.naming import SnakeCaseNaming, default_schema_name
from quiver.settings import ExtractConfig, LoadConfig, NormalizeConfig, buffer_config, resolve


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class Pipeline:
    """A named pipeline with a working folder, schemas, pending packages and a destination.

    Create it with :func:`quiver.pipeline`; see that function for the arguments.
    """

    def __init__(
        self,
        pipeline_name: str,
        pipelines_dir: str,
        *,
        pipeline_salt: str | None = None,
        destination: Any = None,
        staging: Any = None,
        dataset_name: str | None = None,
        import_schema_path: str | None = None,
        export_schema_path: str | None = None,
        dev_mode: bool = False,
        refresh: str | None = None,
        progress: Any = None,
    ) -> None:
        self.pipeline_name = pipeline_name
        self.pipelines_dir = pipelines_dir
        self.pipeline_salt = pipeline_salt
        self.staging = staging
        self.import_schema_path = import_schema_path
        self.export_schema_path = export_schema_path
        self.dev_mode = dev_mode
        self.refresh = refresh
        self.collector = progress
        self.naming = SnakeCaseNaming()
        self.working_dir = Path(pipelines_dir) / pipeline_name
        if dev_mode and self.working_dir.exists():
            shutil.rmtree(self.working_dir)
        self.working_dir.mkdir(parents=True, exist_ok=True)
        (self.working_dir / "schemas").mkdir(exist_ok=True)
        self._storage = PackageStorage(self.working_dir)
        self._state = read_state(self.working_dir) or new_state(pipeline_name)
        self._adopt_newer_package_state()
        stored_destination = self._state.get("destination")
        self.destination: FilesystemDestination | None = resolve_destination(destination) or (
            FilesystemDestination(**stored_destination) if stored_destination else None
        )
        if self.destination is not None:
            self.destination.validate()
        self.dataset_name = self._make_dataset_name(dataset_name or self._state.get("dataset_name"))
        self.last_trace: Any = None
        self._save_state()

    # ----------------------------------------------------------------- naming
    def _make_dataset_name(self, dataset_name: str | None) -> str:
        if dataset_name is None:
            dataset_name = self.pipeline_name + "_dataset"
            if self.dev_mode:
                dataset_name += _now().astimezone().strftime("_%Y%m%d%H%M%S")
        return dataset_name

    @property
    def default_schema_name(self) -> str:
        return str(
            self._state.get("default_schema_name") or default_schema_name(self.pipeline_name)
        )

    @property
    def schema_names(self) -> list[str]:
        return sorted(self._state.get("schema_names", []))

    @property
    def schemas(self) -> dict[str, Schema]:
        return {name: self._load_schema(name) for name in self.schema_names}

    @property
    def default_schema(self) -> Schema:
        return self._load_schema(self.default_schema_name)

    @property
    def state(self) -> dict[str, Any]:
        return dict(self._state)

    @property
    def first_run(self) -> bool:
        return bool(self._state["_local"].get("first_run", True))

    @property
    def has_pending_data(self) -> bool:
        return bool(self._storage.load_ids("extracted") or self._storage.load_ids("normalized"))

    @property
    def has_data(self) -> bool:
        return not self.first_run or bool(self.schema_names) or self.has_pending_data

    def list_extracted_load_packages(self) -> list[str]:
        return self._storage.load_ids("extracted")

    def list_normalized_load_packages(self) -> list[str]:
        return self._storage.load_ids("normalized")

    def list_completed_load_packages(self) -> list[str]:
        return self._storage.load_ids("loaded")

    def drop_pending_packages(self) -> None:
        self._storage.drop_pending()

    def _adopt_newer_package_state(self) -> None:
        """Take the state from the newest package if it is newer than ``state.json``.

        Extract commits its packages before it writes ``state.json``; a process killed in
        between would otherwise forget cursors whose data is already in a package and extract
        those rows again. The newest package that carries a state has the state that belongs to
        the data committed so far.
        """
        newest: tuple[str, dict[str, Any]] | None = None
        for stage in ("extracted", "normalized", "loaded"):
            for load_id in reversed(self._storage.load_ids(stage)):
                document = self._storage.read_state(self._storage.path(stage, load_id)).get(
                    "pipeline_state"
                )
                if document:
                    if newest is None or Decimal(load_id) > Decimal(newest[0]):
                        newest = (load_id, document)
                    break
        if newest is None or int(newest[1].get("version", 0)) <= int(
            self._state.get("_state_version", 0)
        ):
            return
        restored = decompress_state(newest[1]["state"])
        restored["_local"] = self._state["_local"]
        restored["_local"]["_last_extracted_hash"] = restored.get("_version_hash")
        self._state = restored

    # ------------------------------------------------------------ persistence
    def _schema_path(self, name: str) -> Path:
        return self.working_dir / "schemas" / f"{name}.schema.json"

    def _load_schema(self, name: str) -> Schema:
        """The live schema; a changed ``import_schema_path`` file replaces its content."""
        path = self._schema_path(name)
        schema = Schema.from_dict(read_json(path)) if path.exists() else Schema(name)
        if self.import_schema_path:
            imported = yaml_io.read_import_schema(self.import_schema_path, name)
            if imported is not None:
                schema = yaml_io.apply_import(schema, imported)
        return schema

    def _save_schema(self, schema: Schema) -> None:
        """Save the live schema; write the export file, and the import file if missing."""
        if self.import_schema_path and yaml_io.write_import_schema(schema, self.import_schema_path):
            # The file now says what the schema says: the next load must not re-import it.
            imported = yaml_io.read_import_schema(self.import_schema_path, schema.name)
            schema.document["imported_version_hash"] = content_hash(imported or {})
        schema.bump_version()
        write_json(self._schema_path(schema.name), schema.to_dict())
        if self.export_schema_path:
            yaml_io.export_schema(schema, self.export_schema_path)
        names = set(self._state.get("schema_names", []))
        if schema.name not in names:
            self._state["schema_names"] = sorted(names | {schema.name})
            self._state.setdefault("default_schema_name", schema.name)
            self._save_state()

    def _save_state(self) -> None:
        self._state["pipeline_name"] = self.pipeline_name
        self._state["dataset_name"] = self.dataset_name
        if self.destination is not None:
            self._state["destination_type"] = self.destination.destination_type
            self._state["destination_name"] = self.destination.destination_name
            self._state["destination"] = {
                "bucket_url": self.destination.resolved_bucket_url(),
                "table_format": self.destination.table_format,
                "destination_name": self.destination.destination_name,
            }
        self._state["_local"]["_dev_mode"] = self.dev_mode
        write_state(self.working_dir, self._state)

    # ---------------------------------------------------------------- extract
    def extract(
        self,
        data: Any,
        *,
        table_name: str | None = None,
        write_disposition: Any = None,
        columns: Any = None,
        primary_key: Any = None,
        schema: Any = None,
        table_format: str | None = None,
        schema_contract: Any = None,
        refresh: str | None = None,
        loader_file_format: str | None = None,
        workers: int | None = None,
        **_: Any,
    ) -> ExtractInfo:
        """Extract data into one package per source; nothing is committed if anything fails.

        Resources read and write a working copy of the state; it replaces the pipeline state
        (and goes into the last package as ``pipeline_state`` when it changed) only after every
        source was extracted. On failure the packages are discarded and the state and schemas
        stay as they were.
        """
        self._storage.recover()
        info = ExtractInfo(self.pipeline_name, _now())
        sources = data_to_sources(data, self.default_schema_name, table_name)
        hints = {
            "table_name": table_name,
            "write_disposition": write_disposition,
            "columns": columns,
            "primary_key": primary_key,
            "table_format": table_format,
            "schema_contract": schema_contract,
            "file_format": loader_file_format,
        }
        workers = resolve(ExtractConfig, workers=workers).workers
        working_state = copy.deepcopy(self._state)
        extracted: list[tuple[str, Path, Schema, ExtractMetrics]] = []
        load_id: str | None = None
        try:
            with managed_state(working_state, self):
                for source in sources:
                    resources = [
                        self._with_run_hints(r, hints) for r in source.selected_resources.values()
                    ]
                    load_id = new_load_id()
                    stored = self._load_schema(source.name)
                    if source.has_given_schema:
                        for table in source.schema.data_tables():
                            stored.merge_hints(table["name"], table)
                    if source.max_table_nesting is not None:
                        stored.settings["max_table_nesting"] = source.max_table_nesting
                    if getattr(source, "schema_contract", None) is not None:
                        stored.settings["schema_contract"] = source.schema_contract
                    if source.root_key:
                        stored.settings["root_key"] = True
                    package = self._storage.new_temp_package(load_id)
                    extracted.append((load_id, package, stored, ExtractMetrics()))
                    buffers = buffer_config(source.name)
                    extractor = Extractor(
                        package,
                        stored,
                        naming=self.naming,
                        buffer_max_items=buffers.buffer_max_items,
                        file_max_items=buffers.file_max_items,
                        file_max_bytes=buffers.file_max_bytes,
                    )
                    metrics = extractor.extract(
                        resources, state=working_state, source_name=source.name, workers=workers
                    )
                    extracted[-1] = (load_id, package, stored, metrics)
        except Exception as error:
            for entry in extracted:
                self._storage.discard_temp(entry[1])
            raise PipelineStepFailed(
                self.pipeline_name, "extract", load_id, error, info, self.has_pending_data
            ) from error
        self._commit_extract(extracted, working_state, info)
        info.finished_at = _now()
        return info

    def _commit_extract(
        self,
        extracted: list[tuple[str, Path, Schema, ExtractMetrics]],
        working_state: dict[str, Any],
        info: ExtractInfo,
    ) -> None:
        """Adopt the extracted state, hand it to the loader in the last package, commit."""
        working_state["_local"] = self._state["_local"]
        names = set(working_state.get("schema_names", []))
        for entry in extracted:
            stored = entry[2]
            names.add(stored.name)
            working_state.setdefault("default_schema_name", stored.name)
        working_state["schema_names"] = sorted(names)
        self._state = working_state
        bump_version_if_modified(self._state)
        state_changed = self._state["_version_hash"] != self._state["_local"].get(
            "_last_extracted_hash"
        )
        for position, (_load_id, package, stored, metrics) in enumerate(extracted):
            package_state: dict[str, Any] = {
                "state": "extracted",
                "created_at": _now().isoformat(),
                "replaced_tables": sorted(metrics.replaced_tables),
                "row_counts": metrics.row_counts,
            }
            if state_changed and position == len(extracted) - 1:
                # The loader stores this in _dlt_pipeline_state, with this package's data.
                package_state["pipeline_state"] = state_document(self._state, _now())
            self._storage.write_state(package, package_state)
            self._storage.write_schema(package, stored.to_dict())
        for load_id, package, stored, metrics in extracted:
            self._storage.commit(package, "extracted")
            self._save_schema(stored)
            info.loads_ids.append(load_id)
            for table, count in metrics.row_counts.items():
                info.row_counts[table] = info.row_counts.get(table, 0) + count
        if state_changed and extracted:
            self._state["_local"]["_last_extracted_hash"] = self._state["_version_hash"]
            self._state["_local"]["_last_extracted_at"] = _now().isoformat()
        self._save_state()

    @staticmethod
    def _with_run_hints(resource: Resource, hints: dict[str, Any]) -> Resource:
        given = {k: v for k, v in hints.items() if v is not None}
        if not given:
            return resource
        clone = resource.with_name(resource.name)
        clone.apply_hints(**given)
        return clone

    # -------------------------------------------------------------- normalize
    def normalize(self, workers: int | None = None) -> NormalizeInfo | None:
        """Normalize every extracted package into parquet; a failure keeps the package pending.

        Args:
            workers: how many extracted files of a package are normalized at once; defaults
                to the ``normalize.workers`` config value (1).
        """
        self._storage.recover()
        info = NormalizeInfo(self.pipeline_name, _now())
        normalize_config = resolve(NormalizeConfig, workers=workers)
        for load_id in self._storage.load_ids("extracted"):
            extracted = self._storage.path("extracted", load_id)
            package_schema = Schema.from_dict(self._storage.read_schema(extracted))
            schema = self._load_schema(package_schema.name)
            for table_schema in package_schema.tables.values():
                schema.merge_hints(table_schema["name"], table_schema)
            target = self._storage.new_temp_package(load_id)
            try:
                metrics = normalize_package(
                    extracted, target, schema, load_id, self.naming, normalize_config
                )
            except Exception as error:
                self._storage.discard_temp(target)
                raise PipelineStepFailed(
                    self.pipeline_name, "normalize", load_id, error, info, True
                ) from error
            schema.bump_version()
            package_state = self._storage.read_state(extracted)
            package_state.update(
                state="normalized",
                normalized_row_counts=metrics.row_counts,
                discarded_row_counts=metrics.discarded_rows,
                discarded_value_counts=metrics.discarded_values,
            )
            self._storage.write_state(target, package_state)
            self._storage.write_schema(target, schema.to_dict())
            self._storage.commit(target, "normalized")
            self._save_schema(schema)
            info.loads_ids.append(load_id)
            info.add_package(metrics.row_counts, metrics.discarded_rows, metrics.discarded_values)
        info.finished_at = _now()
        return info

    # ------------------------------------------------------------------- load
    def load(
        self,
        destination: Any = None,
        dataset_name: str | None = None,
        credentials: Any = None,
        *,
        workers: int | None = None,
        raise_on_failed_jobs: bool | None = None,
    ) -> LoadInfo:
        """Load every normalized package, oldest first."""
        self._set_destination(destination, dataset_name, credentials)
        self._storage.recover()
        if self.destination is None:
            raise PipelineConfigMissing(
                self.pipeline_name,
                "destination",
                "load",
                "pass destination='filesystem' (and a bucket_url) to quiver.pipeline() or run().",
            )
        info = self._new_load_info()
        load_config = resolve(
            LoadConfig, workers=workers, raise_on_failed_jobs=raise_on_failed_jobs
        )
        loader = Loader(
            self._storage,
            self.destination,
            self.dataset_name,
            app_id=f"quiver/{self.pipeline_name}",
            config=load_config,
        )
        for load_id in self._storage.load_ids("normalized"):
            try:
                result = loader.load_package(load_id)
            except QuiverError as error:
                if self._storage.path("loaded", load_id).exists():  # aborted package
                    info.loads_ids.append(load_id)
                    info.load_packages.append(self._package_info(load_id, None))
                raise PipelineStepFailed(
                    self.pipeline_name, "load", load_id, error, info, self.has_pending_data
                ) from error
            info.loads_ids.append(load_id)
            info.load_packages.append(self._package_info(load_id, result.completed_at))
        if info.loads_ids:
            self._state["_local"]["first_run"] = False
            self._save_state()
        info.finished_at = _now()
        return info

    def _new_load_info(self) -> LoadInfo:
        assert self.destination is not None
        return LoadInfo(
            self.pipeline_name,
            _now(),
            destination_name=self.destination.destination_name,
            destination_displayable_credentials=self.destination.displayable_location(),
            dataset_name=self.dataset_name,
            first_run=self.first_run,
        )

    def _package_info(
        self, load_id: str, completed_at: datetime.datetime | None
    ) -> LoadPackageInfo:
        package = self._storage.path("loaded", load_id)
        jobs: dict[str, list[LoadJobInfo]] = {}
        for state in JOB_STATES:
            jobs[f"{state}_jobs"] = [
                LoadJobInfo(
                    p.name.split(".")[0],
                    str(p),
                    p.stat().st_size,
                    state,
                    _failure_message(p) if state == "failed" else None,
                )
                for p in self._storage.jobs(package, state)
                if not p.name.endswith(".exception")
            ]
        package_state = self._storage.read_state(package)
        schema_name = self._storage.read_schema(package)["name"]
        return LoadPackageInfo(
            load_id,
            str(package),
            package_state.get("state", "loaded"),
            schema_name,
            completed_at,
            jobs,
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
            self.dataset_name = dataset_name
            changed = True
        if changed:
            self._save_state()

    # -------------------------------------------------------------------- run
    def run(
        self,
        data: Any = None,
        *,
        destination: Any = None,
        staging: Any = None,
        dataset_name: str | None = None,
        credentials: Any = None,
        table_name: str | None = None,
        write_disposition: Any = None,
        columns: Any = None,
        primary_key: Any = None,
        schema: Any = None,
        loader_file_format: str | None = None,
        table_format: str | None = None,
        schema_contract: Any = None,
        refresh: str | None = None,
    ) -> LoadInfo | None:
        """Finish pending packages, then extract, normalize and load ``data``.

        Unlike dlt, which loads pending packages and then returns without extracting the new
        data, quiver loads the pending packages first and then the new data in the same call
        (see docs/decisions.md); the LoadInfo lists every package loaded.
        """
        self._set_destination(destination, dataset_name, credentials)
        if self.destination is None:
            raise PipelineConfigMissing(
                self.pipeline_name,
                "destination",
                "run",
                "pass destination='filesystem' (and a bucket_url) to quiver.pipeline() or run().",
            )
        pending = self.has_pending_data
        if pending:
            self.normalize()
        if data is not None:
            self.extract(
                data,
                table_name=table_name,
                write_disposition=write_disposition,
                columns=columns,
                primary_key=primary_key,
                schema=schema,
                table_format=table_format,
                schema_contract=schema_contract,
                refresh=refresh,
                loader_file_format=loader_file_format,
            )
            self.normalize()
        elif not pending:
            return None
        return self.load()

    def __repr__(self) -> str:
        return (
            f"quiver.pipeline(pipeline_name={self.pipeline_name!r}, "
            f"destination={self.destination!s}, dataset_name={self.dataset_name!r}, "
            f"working_dir={str(self.working_dir)!r})"
        )


def _failure_message(job: Path) -> str | None:
    exception = job.with_name(job.name + ".exception")
    if not exception.exists():
        return None
    lines = exception.read_text().strip().splitlines()
    return lines[-1] if lines else None
