"""Put a normalized parquet file where a table format will register it."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from quiver.destinations.location import StorageLocation


def place_file(source: Path, target: StorageLocation) -> None:
    """Hard-link (local disk; copy if linking fails) or upload ``source`` to ``target``.

    Callers choose a deterministic target name (load id + file id), so a retry after a crash
    replaces the same uncommitted file instead of leaving a second copy.
    """
    if target.is_local:
        os.makedirs(os.path.dirname(target.path), exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.remove(target.path)
        try:
            os.link(source, target.path)
        except OSError:
            shutil.copyfile(source, target.path)
    else:
        target.filesystem().put_file(str(source), target.path)


def file_id(job_file: Path) -> str:
    """The file id of a normalized job file ``<table>.<file_id>.<retry>.<ext>``."""
    parts = job_file.name.split(".")
    return parts[1] if len(parts) > 2 else job_file.stem
