"""The pipeline's state restored from the lake: sync with the destination, attach, drop.

The dataset is the truth about what was loaded; the working folder is a cache of it that every
CI runner and container loses. :func:`sync_destination` reads the newest state row of this
pipeline from ``_dlt_pipeline_state`` (its load id must be in ``_dlt_loads``), and when it is
newer than the local state it replaces it — ``_local`` (facts about this folder) is kept — and
restores the schemas from ``_dlt_version`` (newest per name). Incremental cursors therefore
continue where the last completed load left them, on any machine.

This module is the Pipeline's restore half: it works on the pipeline's state, schemas and
packages directly. See docs/state.md.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quiver.destinations.base import TableFormat, canonical_table_format, load_table_format
from quiver.destinations.filesystem import (
    TABLE_FORMATS,
    FilesystemDestination,
    resolve_destination,
)
from quiver.errors import CannotRestorePipelineException, PipelineStepFailed, QuiverError
from quiver.load.sidecars import SidecarStore, open_sidecars
from quiver.package.storage import PackageStorage
from quiver.pipeline.local_state import STATE_FILE, new_state
from quiver.pipeline.state import as_pipeline_state, decompress_state
from quiver.schema.model import Schema
from quiver.settings import pipeline_config

if TYPE_CHECKING:
    from quiver.pipeline.pipeline import Pipeline

__all__ = [
    "attach_from_destination",
    "dataset_sidecars",
    "drop_local",
    "sync_destination",
    "sync_once",
]

logger = logging.getLogger("quiver.pipeline.sync")


def dataset_sidecars(
    destination: FilesystemDestination, dataset_name: str, app_id: str
) -> SidecarStore | None:
    """The sidecars of a dataset in whatever form it has them; ``None`` if it has no loads.

    dlt's JSON-lines files first, then a ``_dlt_loads`` table of the destination's default
    format, then of every other format quiver knows.
    """
    dataset = destination.location().join(dataset_name)
    names = dict.fromkeys(
        canonical_table_format(name) for name in (destination.table_format, *TABLE_FORMATS)
    )
    formats: list[TableFormat] = []
    for name in names:
        try:
            options = destination.table_format_options(name)
            formats.append(load_table_format(name, dataset, app_id, **options))
        except (QuiverError, ImportError):
            continue  # a format that cannot use this storage (Delta on memory://) has no tables
    return open_sidecars(dataset, formats)


def sync_once(pipeline: Pipeline) -> None:
    """What ``run()`` does first: sync once per pipeline instance, unless ``dev_mode`` or
    ``restore_from_destination=false`` (``PIPELINES__<NAME>__RESTORE_FROM_DESTINATION``)."""
    if pipeline.synced or pipeline.dev_mode:
        return
    pipeline.synced = True
    if pipeline_config(pipeline.pipeline_name).restore_from_destination:
        sync_destination(pipeline)


def sync_destination(pipeline: Pipeline) -> bool:
    """Restore the pipeline's state and schemas from its dataset when the dataset's are newer.

    * The dataset has a state of this pipeline at least as new (``_state_version``) as the
      local one, with other content: it replaces the local state (``_local`` is kept, the
      pipeline's own ``dataset_name`` and destination stay: arguments given win), every
      schema it names is restored from ``_dlt_version``, and ``first_run`` becomes False.
    * Otherwise schemas the state names but the working folder lacks are restored.
    * The dataset has no loads although this pipeline completed one: the dataset was deleted,
      so the local pipeline is reset (state, schemas, packages). A pipeline that never
      completed a load is never reset, so its pending packages survive (dlt 1.31 wipes them).

    Returns:
        Whether a state from the dataset replaced the local one.

    Raises:
        PipelineStepFailed: reading the destination failed (``step="sync"``).
    """
    destination = pipeline.destination
    if destination is None:
        return False
    with pipeline.folder_lock:
        try:
            store = dataset_sidecars(
                destination, pipeline.dataset_name, f"quiver/{pipeline.pipeline_name}"
            )
            if store is None:
                if not pipeline.first_run:
                    _reset_local(pipeline)
                return False
            row = store.newest_state(pipeline.pipeline_name)
            if row is None:
                return False
            return _adopt(pipeline, store, row)
        except QuiverError as error:
            raise PipelineStepFailed(pipeline.pipeline_name, "sync", None, error) from error


def _adopt(pipeline: Pipeline, store: SidecarStore, row: dict[str, Any]) -> bool:
    remote = as_pipeline_state(decompress_state(row["state"]))
    local = pipeline._state
    newer = int(remote.get("_state_version", 0)) >= int(local.get("_state_version", 0))
    differs = remote.get("_version_hash") != local.get("_version_hash")
    replaced = newer and differs
    if replaced:
        remote["_local"] = local["_local"]
        remote["_local"]["first_run"] = False
        # What the dataset holds is extracted: an unchanged next run stores no new state row.
        remote["_local"]["_last_extracted_hash"] = remote.get("_version_hash")
        pipeline._state = remote
        wanted: Sequence[str] = remote.get("schema_names", [])
        logger.info(
            "pipeline %r: state version %s restored from %s of load %s",
            pipeline.pipeline_name,
            remote.get("_state_version"),
            store.description,
            row.get("_dlt_load_id"),
        )
    else:
        names = remote.get("schema_names", [])
        wanted = [name for name in names if not pipeline._schemas.path(name).exists()]
    for name in wanted:
        document = store.newest_schema(name)
        if document is not None:
            pipeline._schemas.save(Schema.from_dict(document))
    pipeline._save_state()
    return replaced


def _reset_local(pipeline: Pipeline) -> None:
    """The dataset is gone: forget what the working folder knew about it."""
    pending = pipeline.list_extracted_load_packages() + pipeline.list_normalized_load_packages()
    logger.warning(
        "pipeline %r: dataset %r has no loads although this pipeline loaded before; it was "
        "deleted, so the local state, schemas and packages are reset%s",
        pipeline.pipeline_name,
        pipeline.dataset_name,
        f" (pending packages dropped: {pending})" if pending else "",
    )
    local = pipeline._state["_local"]
    pipeline._state = new_state(pipeline.pipeline_name)
    pipeline._state["_local"]["_dev_mode"] = bool(local.get("_dev_mode"))
    shutil.rmtree(pipeline._schemas.folder, ignore_errors=True)
    pipeline._schemas.folder.mkdir(parents=True, exist_ok=True)
    pipeline.drop_pending_packages()
    for load_id in pipeline.list_completed_load_packages():
        shutil.rmtree(pipeline._storage.path("loaded", load_id), ignore_errors=True)
    pipeline._save_state()


def drop_local(pipeline: Pipeline) -> None:
    """Delete the working folder's content (state, schemas, packages) and start it afresh.

    The dataset is not touched: the next ``run()`` restores the state from it.
    """
    with pipeline.folder_lock:
        for child in pipeline.working_dir.iterdir():
            if child.name == pipeline.folder_lock.path.name:
                continue  # other processes may be waiting on it
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
        pipeline._state = new_state(pipeline.pipeline_name)
        pipeline._storage = PackageStorage(pipeline.working_dir)
        pipeline._schemas.folder.mkdir(parents=True, exist_ok=True)
        pipeline.synced = False
        pipeline._save_state()


def attach_from_destination(
    pipeline_name: str,
    pipelines_dir: str,
    destination: Any,
    dataset_name: str | None,
    **pipeline_arguments: Any,
) -> Pipeline:
    """A pipeline with no working folder, restored from its dataset (``quiver.attach``).

    Args:
        pipeline_name: The pipeline.
        pipelines_dir: Where its working folder is made.
        destination: Where its dataset is; ``None`` uses the configured bucket_url
            (``DESTINATION__FILESYSTEM__BUCKET_URL``).
        dataset_name: The dataset; default ``<pipeline_name>_dataset``.
        **pipeline_arguments: More arguments of the Pipeline.

    Raises:
        CannotRestorePipelineException: there is no destination, or its dataset has no state
            of this pipeline; no working folder is left behind.
        PipelineStepFailed: reading the destination failed (``step="sync"``).
    """
    from quiver.pipeline.pipeline import Pipeline

    folder = Path(pipelines_dir) / pipeline_name
    resolved = resolve_destination(destination)
    if resolved is None and FilesystemDestination().resolved_bucket_url() is not None:
        resolved = FilesystemDestination()
    dataset = dataset_name or f"{pipeline_name}_dataset"
    tried = f"there is no working folder with a state at {str(folder)!r}"
    if resolved is None:
        raise CannotRestorePipelineException(
            pipeline_name,
            pipelines_dir,
            f"{tried}, and no destination to restore it from",
            f"pass destination=quiver.destinations.filesystem(bucket_url=...) and "
            f"dataset_name=... (default {dataset!r}) to restore it from its dataset, or create "
            "it with quiver.pipeline(...).",
        )
    existed = folder.exists()
    try:
        attached = Pipeline(
            pipeline_name,
            pipelines_dir,
            destination=resolved,
            dataset_name=dataset_name,
            **pipeline_arguments,
        )
        restored = attached.sync_destination()
    except BaseException:
        _remove_attempt(folder, existed)
        raise
    if not restored:
        _remove_attempt(folder, existed)
        raise CannotRestorePipelineException(
            pipeline_name,
            pipelines_dir,
            f"{tried}, and dataset {attached.dataset_name!r} at "
            f"{resolved.displayable_location()!r} holds no state of pipeline {pipeline_name!r}",
            "check destination and dataset_name (they must be the ones the pipeline loaded "
            "into), or create the pipeline with quiver.pipeline(...) and run it; to read the "
            "tables of a dataset without its pipeline, use quiver.pipeline(...).dataset().",
        )
    return attached


def _remove_attempt(folder: Path, existed: bool) -> None:
    """Leave no working folder behind a failed restore (only what the attempt created)."""
    if existed:
        (folder / STATE_FILE).unlink(missing_ok=True)
    else:
        shutil.rmtree(folder, ignore_errors=True)
