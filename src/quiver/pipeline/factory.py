"""``quiver.pipeline()``, ``quiver.attach()`` and ``quiver.run()``."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from quiver.errors import CannotRestorePipelineException, InvalidPipelineName
from quiver.extract.state import register_pipeline_factory
from quiver.pipeline.local_state import read_state
from quiver.pipeline.pipeline import Pipeline
from quiver.pipeline.unsupported import refuse_unsupported

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
        pipeline_salt: not supported yet (raises unless ``None``).
        destination: ``"filesystem"`` or ``quiver.destinations.filesystem(bucket_url=...)``.
        staging: not supported yet (raises unless ``None``); filesystem destinations write
            their tables directly.
        dataset_name: the dataset folder under the bucket; default ``<pipeline_name>_dataset``.
        import_schema_path: folder of schema YAML files to import.
        export_schema_path: folder to export schema YAML files to.
        full_refresh: deprecated alias of ``dev_mode``.
        dev_mode: wipe the working folder and load into a new, timestamped dataset.
        refresh: not supported yet (raises unless ``None``); dlt's ``"drop_sources"``,
            ``"drop_resources"`` or ``"drop_data"`` on every run.
        progress: not supported yet (raises unless ``None``); dlt's progress collector.

    Returns:
        The pipeline, which also becomes the active one.

    Raises:
        NotSupportedYet: ``pipeline_salt``, ``staging``, ``refresh`` or ``progress`` is given.
        InvalidPipelineName: the name cannot be a folder name.

    Examples:
        >>> import quiver, tempfile
        >>> p = quiver.pipeline("doc_example", pipelines_dir=tempfile.mkdtemp())
        >>> p.dataset_name
        'doc_example_dataset'
    """
    global _active
    refuse_unsupported(
        "quiver.pipeline()",
        pipeline_salt=pipeline_salt,
        staging=staging,
        refresh=refresh,
        progress=progress,
    )
    no_arguments = (
        all(
            v is None
            for v in (
                pipeline_name,
                pipelines_dir,
                destination,
                dataset_name,
                import_schema_path,
                export_schema_path,
                full_refresh,
            )
        )
        and not dev_mode
    )
    if no_arguments and _active is not None:
        return _active
    name = pipeline_name or default_pipeline_name()
    if not _VALID_NAME.match(name) or name in (".", ".."):
        raise InvalidPipelineName(name, "it must be a valid folder name")
    created = Pipeline(
        name,
        pipelines_dir or default_pipelines_dir(),
        destination=destination,
        dataset_name=dataset_name,
        import_schema_path=import_schema_path,
        export_schema_path=export_schema_path,
        dev_mode=bool(dev_mode or full_refresh),
    )
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
    """Open an existing pipeline from its working folder.

    Raises:
        NotSupportedYet: ``pipeline_salt``, ``staging`` or ``progress`` is given.
        CannotRestorePipelineException: there is no working folder with a state.
    """
    global _active
    refuse_unsupported(
        "quiver.attach()", pipeline_salt=pipeline_salt, staging=staging, progress=progress
    )
    name = pipeline_name or default_pipeline_name()
    directory = pipelines_dir or default_pipelines_dir()
    if read_state(Path(directory) / name) is None:
        raise CannotRestorePipelineException(name, directory, "no working folder with a state")
    attached = Pipeline(name, directory, destination=destination, dataset_name=dataset_name)
    _active = attached
    return attached


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
