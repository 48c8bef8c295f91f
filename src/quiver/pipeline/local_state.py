"""The pipeline's local state file (``state.json``) in its working folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from quiver.common.packages import read_json, write_json

STATE_FILE = "state.json"
STATE_ENGINE_VERSION = 4


def read_state(working_dir: Path) -> dict[str, Any] | None:
    path = working_dir / STATE_FILE
    return read_json(path) if path.exists() else None


def write_state(working_dir: Path, state: dict[str, Any]) -> None:
    write_json(working_dir / STATE_FILE, state)


def new_state(pipeline_name: str) -> dict[str, Any]:
    return {
        "_state_version": 0,
        "_state_engine_version": STATE_ENGINE_VERSION,
        "pipeline_name": pipeline_name,
        "schema_names": [],
        "sources": {},
        "_local": {"first_run": True},
    }
