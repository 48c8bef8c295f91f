"""What a Pipeline shows about itself: progress, the run trace, package and job infos.

:class:`Observable` is mixed into :class:`~quiver.pipeline.pipeline.Pipeline` so that the
orchestration module stays small; it needs the pipeline's ``pipeline_name``, ``working_dir``,
``destination`` and ``_storage``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from quiver.destinations.credentials import AwsCredentials
from quiver.errors import LoadPackageNotFound
from quiver.package.storage import PackageState
from quiver.pipeline import packages
from quiver.pipeline.infos import LoadInfo, LoadJobInfo, LoadPackageInfo
from quiver.pipeline.trace import PipelineTrace, RunTracer
from quiver.progress import Collector, ThreadSafeCollector, collector_from

if TYPE_CHECKING:
    from quiver.destinations.filesystem import FilesystemDestination
    from quiver.load.loader import PackageLoadResult
    from quiver.package.storage import PackageStorage


class Observable:
    """Progress, trace and package infos of a pipeline (see the module docstring)."""

    pipeline_name: str
    working_dir: Path
    destination: FilesystemDestination | None
    dataset_name: str
    _storage: PackageStorage
    _progress: ThreadSafeCollector
    _tracer: RunTracer

    def _init_observability(self, progress: Any) -> None:
        """Set up the collector ``progress`` names and the run tracer.

        Raises:
            UnknownProgressCollector: ``progress`` names no collector.
            MissingDependencyError: the collector's library is not installed.
        """
        self._progress = ThreadSafeCollector(collector_from(progress))
        self._tracer = RunTracer(
            self.working_dir, self.pipeline_name, self._progress, self._secrets
        )

    @property
    def collector(self) -> Collector:
        """The progress collector given as ``progress=`` (a null collector by default)."""
        return self._progress.collector

    @property
    def last_trace(self) -> PipelineTrace | None:
        """The trace of the last run (or of the last steps called one by one).

        Kept in memory and in ``<working folder>/trace.json``, so a pipeline opened with
        ``quiver.attach()`` in another process has it too. ``None`` before the first run.
        """
        return self._tracer.last_trace

    def get_load_package_info(self, load_id: str) -> LoadPackageInfo:
        """The package with ``load_id`` - loaded, aborted, normalized or extracted - and its
        jobs by state, each with its file info, size, age and (failed jobs) error message.

        Raises:
            LoadPackageNotFound: no package has this load id.
        """
        return packages.package_info(self._storage, self._package_path(load_id))

    def get_load_package_state(self, load_id: str) -> PackageState:
        """The package's ``package_state.json`` (its stage, counts, completion time).

        Raises:
            LoadPackageNotFound: no package has this load id.
        """
        return self._storage.read_package_state(self._package_path(load_id))

    def list_failed_jobs_in_package(self, load_id: str) -> list[LoadJobInfo]:
        """The failed jobs of the package, each with its ``failed_message``.

        Raises:
            LoadPackageNotFound: no package has this load id.
        """
        return packages.failed_jobs(self._storage, self._package_path(load_id))

    def _package_path(self, load_id: str) -> Path:
        path = packages.find_package(self._storage, load_id)
        if path is None:
            known = [
                *self._storage.load_ids("loaded"),
                *self._storage.load_ids("normalized"),
                *self._storage.load_ids("extracted"),
            ]
            raise LoadPackageNotFound(self.pipeline_name, load_id, known)
        return path

    def _step_title(self, step: str, load_id: str) -> str:
        """The progress title of a package step: ``"Load <schema> in <load_id>"``."""
        package = packages.find_package(self._storage, load_id)
        schema_name = self._storage.read_schema(package)["name"] if package else "?"
        return f"{step} {schema_name} in {load_id}"

    def _record_package(
        self, info: LoadInfo, load_id: str, result: PackageLoadResult | None
    ) -> None:
        """Add a loaded (``result``) or aborted (``None``) package to the LoadInfo."""
        package = packages.find_package(self._storage, load_id)
        if package is None or package.parent.name != "loaded":
            return  # still pending: not a loaded package
        package_info = packages.package_info(self._storage, package)
        info.loads_ids.append(load_id)
        info.load_packages.append(package_info)
        if result is not None:
            info.metrics[load_id] = [
                packages.load_metrics(result, package_info, self.dataset_name, self._table_url)
            ]

    def _table_url(self, table_name: str) -> str | None:
        if self.destination is None:
            return None
        try:
            return self.destination.location().join(self.dataset_name, table_name).url
        except ValueError:
            return None

    def _secrets(self) -> list[str]:
        """Credential values that must not appear in the trace."""
        if self.destination is None:
            return []
        try:
            credentials = AwsCredentials.from_env_and_config(self.destination.credentials)
        except (TypeError, ValueError):
            return []
        return [
            value
            for value in (credentials.aws_secret_access_key, credentials.aws_session_token)
            if value
        ]
