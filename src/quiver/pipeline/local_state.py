"""The pipeline's local state file (``state.json``) in its working folder.

The file is typed JSON (dates, decimals and the like keep their types, see
:mod:`quiver.package.typed_json`). Writing bumps ``_state_version`` when the content changed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from quiver.package import typed_json
from quiver.pipeline.state import STATE_ENGINE_VERSION, bump_version_if_modified

STATE_FILE = "state.json"

__all__ = ["STATE_ENGINE_VERSION", "STATE_FILE", "new_state", "read_state", "write_state"]


def read_state(working_dir: Path) -> dict[str, Any] | None:
    path = working_dir / STATE_FILE
    if not path.exists():
        return None
    state: dict[str, Any] = typed_json.loads(path.read_text(encoding="utf-8"))
    return state


def write_state(working_dir: Path, state: dict[str, Any]) -> None:
    """Bump the version if the content changed, then write atomically (temp file + rename)."""
    bump_version_if_modified(state)
    path = working_dir / STATE_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(typed_json.dumps(state, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def new_state(pipeline_name: str) -> dict[str, Any]:
    return {
        "_state_version": 0,
        "_state_engine_version": STATE_ENGINE_VERSION,
        "pipeline_name": pipeline_name,
        "schema_names": [],
        "sources": {},
        "_local": {"first_run": True},
    }
