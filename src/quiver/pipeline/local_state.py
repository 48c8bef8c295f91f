"""The pipeline's local state file (``state.json``) in its working folder.

The file is typed JSON (dates, decimals and the like keep their types, see
:mod:`quiver.package.typed_json`). Writing bumps ``_state_version`` when the content changed.
"""

from __future__ import annotations

import datetime
import logging
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from quiver.atomic_files import write_text_atomically
from quiver.package import typed_json
from quiver.package.storage import STAGES, PackageStorage
from quiver.pipeline.state import (
    STATE_ENGINE_VERSION,
    as_pipeline_state,
    bump_version_if_modified,
    decompress_state,
)
from quiver.schema.documents import PipelineState, StateRow

STATE_FILE = "state.json"

__all__ = [
    "STATE_ENGINE_VERSION",
    "STATE_FILE",
    "adopt_newer_package_state",
    "dev_mode_dataset_name",
    "new_state",
    "read_state",
    "record_settings",
    "reset_former_dev_folder",
    "write_state",
]

logger = logging.getLogger("quiver.pipeline")


def read_state(working_dir: Path) -> PipelineState | None:
    """The pipeline state in ``working_dir``, or ``None`` if there is none."""
    path = working_dir / STATE_FILE
    if not path.exists():
        return None
    return cast(PipelineState, typed_json.loads(path.read_text(encoding="utf-8")))


def write_state(working_dir: Path, state: PipelineState) -> None:
    """Bump the version if the content changed, then write atomically (temp file + rename)."""
    bump_version_if_modified(state)
    path = working_dir / STATE_FILE
    write_text_atomically(path, typed_json.dumps(state, indent=1))


def new_state(pipeline_name: str) -> PipelineState:
    return {
        "_state_version": 0,
        "_state_engine_version": STATE_ENGINE_VERSION,
        "pipeline_name": pipeline_name,
        "schema_names": [],
        "sources": {},
        "_local": {"first_run": True},
    }


def adopt_newer_package_state(state: PipelineState, storage: PackageStorage) -> PipelineState:
    """The state of the newest package that carries one, if it is newer than ``state``.

    Extract commits its packages before it writes ``state.json``; a process killed in between
    would otherwise forget cursors whose data is already in a package and extract those rows
    again. The newest package that carries a state has the state that belongs to the data
    committed so far. ``_local`` (facts about this folder) is kept from ``state``.
    """
    newest: tuple[str, StateRow] | None = None
    for stage in STAGES:
        for load_id in reversed(storage.load_ids(stage)):
            row = storage.read_package_state(storage.path(stage, load_id)).get("pipeline_state")
            if row:
                if newest is None or Decimal(load_id) > Decimal(newest[0]):
                    newest = (load_id, row)
                break
    if newest is None or int(newest[1].get("version", 0)) <= int(state.get("_state_version", 0)):
        return state
    restored = as_pipeline_state(decompress_state(newest[1]["state"]))
    restored["_local"] = state["_local"]
    restored["_local"]["_last_extracted_hash"] = restored.get("_version_hash")
    return restored


def record_settings(
    state: PipelineState,
    pipeline_name: str,
    dataset_name: str,
    destination: Any,
    dev_mode: bool,
) -> None:
    """Put the pipeline's names, its destination's non-secret settings and the dev flag in
    the state (credentials never go into ``state.json``: they come from config each time)."""
    state["pipeline_name"] = pipeline_name
    state["dataset_name"] = dataset_name
    if destination is not None:
        state["destination_type"] = destination.destination_type
        state["destination_name"] = destination.destination_name
        bucket_url = destination.resolved_bucket_url()
        if bucket_url is None:  # it will come from config: nothing to restore
            state.pop("destination", None)
        else:
            state["destination"] = {
                "bucket_url": str(bucket_url),
                "table_format": destination.table_format,
                "destination_name": destination.destination_name,
            }
    state["_local"]["_dev_mode"] = dev_mode


def dev_mode_dataset_name(dataset_name: str, now: datetime.datetime) -> str:
    """``<dataset_name>_YYYYMMDDhhmmss`` in local time (a name ending in ``_`` gets no second
    ``_``), as dlt names the dataset of a ``dev_mode`` pipeline — given names included."""
    suffix = now.astimezone().strftime("%Y%m%d%H%M%S")
    return f"{dataset_name}{suffix}" if dataset_name.endswith("_") else f"{dataset_name}_{suffix}"


def reset_former_dev_folder(working_dir: Path) -> bool:
    """Wipe a working folder that a ``dev_mode`` pipeline left, before a normal one opens it.

    Its state belongs to a throw-away dataset; the normal pipeline syncs from its own dataset.

    Returns:
        Whether the folder was wiped.
    """
    state = read_state(working_dir)
    if state is None or not state.get("_local", {}).get("_dev_mode"):
        return False
    logger.warning(
        "pipeline folder %s was made with dev_mode=True; it is reset for dev_mode=False",
        working_dir,
    )
    shutil.rmtree(working_dir)
    return True
