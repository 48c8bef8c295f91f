"""``quiver.pipeline()``, ``quiver.attach()`` and ``quiver.run()``."""

from __future__ import annotations

import os
import re
import sys
import warnings
from pathlib import Path
from typing import Any

from quiver.configuration.lookup import lookup
from quiver.errors import InvalidPipelineName
from quiver.extract.state import register_pipeline_factory
from quiver.load.staging import record_staging
from quiver.pipeline import sync, validation
from quiver.pipeline.local_state import read_state, reset_former_dev_folder
from quiver.pipeline.pipeline import Pipeline
from quiver.progress import Collector, collector_from

_active: Pipeline | None = None
_VALID_NAME = re.compile(r"^[A-Za-z0-9_\-.]+$")


def default_pipelines_dir() -> str:
    """``$QUIVER_DATA_DIR/pipelines``, else ``~/.quiver/pipelines``."""
    base = os.environ.get("QUIVER_DATA_DIR") or os.path.join(os.path.expanduser("~"), ".quiver")
    return os.path.join(base, "pipelines")


def default_pipeline_name() -> str:
    """``quiver_`` + the running script's file stem, or ``quiver_pipeline``."""
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    if main_file and not Path(main_file).name.startswith(("pytest", "__main__")):
        return "quiver_" + Path(main_file).stem
    return "quiver_pipeline"


def pipeline(
    pipeline_name: str | None = None,
    pipelines_dir: str | None = None,
    pipeline_salt: str | None = None,
    destination: Any = None,
    staging: Any = None,
    dataset_name: str | None = None,
    import_schema_path: str | None = None,
    export_schema_path: str | None = None,
    full_refresh: bool | None = None,
    dev_mode: bool = False,
    refresh: str | None = None,
    progress: Any = None,
) -> Pipeline:
    """Create (or open) a pipeline, as ``dlt.pipeline``.

    Called with no arguments, returns the most recently created pipeline (or a default one).

    Args:
        pipeline_name: names the working folder; default ``quiver_<script stem>``.
        pipelines_dir: where working folders live; default ``~/.quiver/pipelines``
            (``$QUIVER_DATA_DIR/pipelines`` when set).
        pipeline_salt: the salt of :meth:`Pipeline.anonymize` (deterministic pseudonyms, not
            cryptography); default: config ``pipeline_salt``, else the base64 sha3-256 digest
            of the pipeline name, as dlt.
        destination: ``"filesystem"`` or ``quiver.destinations.filesystem(bucket_url=...)``.
        staging: a filesystem location (``"filesystem"``, a named filesystem destination or
            ``quiver.destinations.filesystem(bucket_url=...)``) where the normalized files are
            placed before each table commit, kept in the state (see ``docs/staging.md``).
        dataset_name: the dataset folder under the bucket; default ``<pipeline_name>_dataset``.
        import_schema_path: folder of schema YAML files to import.
        export_schema_path: folder to export schema YAML files to.
        full_refresh: deprecated alias of ``dev_mode``.
        dev_mode: wipe the working folder and load into a new, timestamped dataset.
        refresh: ``"drop_sources"``, ``"drop_resources"`` or ``"drop_data"`` on every run
            (see ``docs/refresh.md``); ``run(refresh=...)`` does it for one run.
        progress: show progress while the steps run: ``"log"``, ``"tqdm"``, ``"enlighten"``,
            ``"alive_progress"`` or a collector such as ``quiver.progress.log(log_period=10)``
            (see ``docs/observability.md``); default: config ``progress``
            (``PIPELINES__<NAME>__PROGRESS``, ``PROGRESS``), else none.

    Returns:
        The pipeline, which also becomes the active one.

    Raises:
        DestinationConfigError: ``staging`` is not a filesystem location.
        UnknownProgressCollector: ``progress`` names no collector ("did you mean" included).
        MissingDependencyError: the progress library is not installed (``quiver[progress]``).
        InvalidRefreshMode: ``refresh`` is not a refresh mode.
        InvalidPipelineName: the name cannot be a folder name.

    Examples:
        >>> import quiver, tempfile
        >>> p = quiver.pipeline("doc_example", pipelines_dir=tempfile.mkdtemp())
        >>> p.dataset_name
        'doc_example_dataset'
    """
    global _active
    no_arguments = (
        all(
            v is None
            for v in (
                pipeline_name,
                pipelines_dir,
                pipeline_salt,
                refresh,
                destination,
                staging,
                dataset_name,
                import_schema_path,
                export_schema_path,
                full_refresh,
                progress,
            )
        )
        and not dev_mode
    )
    if no_arguments and _active is not None:
        return _active
    if full_refresh is not None:
        warnings.warn(
            "quiver.pipeline() argument full_refresh is deprecated; use "
            f"dev_mode={full_refresh} instead, which does the same.",
            DeprecationWarning,
            stacklevel=2,
        )
        dev_mode = full_refresh
    name = pipeline_name or default_pipeline_name()
    if not _VALID_NAME.match(name) or name in (".", ".."):
        raise InvalidPipelineName(name, "it must be a valid folder name")
    validation.activate(name)  # config keys under <name>.*, RUNTIME__LOG_LEVEL
    if not dev_mode:
        reset_former_dev_folder(Path(pipelines_dir or default_pipelines_dir()) / name)
    collector = _collector(name, progress)
    created = Pipeline(
        name,
        pipelines_dir or default_pipelines_dir(),
        destination=destination,
        dataset_name=dataset_name,
        import_schema_path=import_schema_path,
        export_schema_path=export_schema_path,
        dev_mode=bool(dev_mode),
        refresh=refresh,
        pipeline_salt=pipeline_salt,
        progress=collector,
    )
    if record_staging(created._state, staging):
        created._save_state()
    _active = created
    return created


def attach(
    pipeline_name: str | None = None,
    pipelines_dir: str | None = None,
    pipeline_salt: str | None = None,
    destination: Any = None,
    staging: Any = None,
    progress: Any = None,
    dataset_name: str | None = None,
) -> Pipeline:
    """Open an existing pipeline, from its working folder or else from its dataset.

    With a working folder that has a state, the pipeline is opened from it: its destination
    (non-secret settings such as ``bucket_url``; credentials come from config) and dataset
    come from the state unless given, and ``dev_mode`` is what the state says. Without one,
    ``destination`` (or the configured ``bucket_url``) and ``dataset_name`` (default
    ``<pipeline_name>_dataset``) say where to restore it from: the newest state of this
    pipeline in the dataset and its schemas become the new working folder, so incremental
    cursors continue where the last completed load left them. The attached pipeline becomes
    the current one.

    Args:
        pipeline_name: The pipeline; default ``quiver_<script stem>``.
        pipelines_dir: Where working folders live; default ``~/.quiver/pipelines``.
        pipeline_salt: As for :func:`pipeline`.
        destination: Replaces the stored destination, or says where to restore from.
        staging: the staging location (see :func:`pipeline`); default: the stored one.
        progress: As for :func:`pipeline`.
        dataset_name: Replaces the stored dataset, or says which dataset to restore from.

    Returns:
        The pipeline, which also becomes the active one.

    Raises:
        DestinationConfigError: ``staging`` is not a filesystem location.
        UnknownProgressCollector: ``progress`` names no collector.
        CannotRestorePipelineException: no working folder with a state, and no destination,
            or a dataset without a state of this pipeline; the message names the folder,
            destination and dataset tried. No working folder is left behind.
        PipelineStepFailed: reading the destination failed (``step="sync"``).

    Examples:
        >>> import quiver, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> lake = quiver.destinations.filesystem(bucket_url=tempfile.mkdtemp())
        >>> _ = quiver.pipeline("doc_attach", pipelines_dir=folder, destination=lake).run(
        ...     [{"id": 1}], table_name="items")
        >>> quiver.attach("doc_attach", pipelines_dir=folder).dataset_name
        'doc_attach_dataset'
    """
    global _active
    name = pipeline_name or default_pipeline_name()
    directory = pipelines_dir or default_pipelines_dir()
    validation.activate(name)
    collector = _collector(name, progress)
    local = read_state(Path(directory) / name)
    if local is None:
        attached = sync.attach_from_destination(
            name,
            directory,
            destination,
            dataset_name,
            pipeline_salt=pipeline_salt,
            progress=collector,
        )
    else:
        attached = Pipeline(
            name,
            directory,
            destination=destination,
            dataset_name=dataset_name,
            pipeline_salt=pipeline_salt,
            progress=collector,
        )
        attached.dev_mode = bool(local["_local"].get("_dev_mode"))
        attached._save_state()
    if record_staging(attached._state, staging):
        attached._save_state()
    _active = attached
    return attached


def _collector(pipeline_name: str, progress: Any) -> Collector:
    """The collector ``progress`` asks for; config ``progress`` when it is ``None`` (dlt)."""
    if progress is None:
        progress = lookup(("pipelines", pipeline_name), "progress")
    return collector_from(progress)


def current_pipeline() -> Pipeline | None:
    return _active


def run(data: Any, **kwargs: Any) -> Any:
    """Run ``data`` through the active pipeline (or a default one), as ``dlt.run``."""
    destination = kwargs.get("destination")
    dataset_name = kwargs.get("dataset_name")
    active = _active or pipeline(destination=destination, dataset_name=dataset_name)
    return active.run(data, **kwargs)


# Resources reach the running pipeline through the extract layer, which cannot import this one.
register_pipeline_factory(current_pipeline, pipeline)
