"""Whole-file writes that a crash or a concurrent writer never leaves half done.

The text goes to a temporary file beside the target, then ``os.replace`` swaps it in (atomic on
one filesystem). The temporary name carries the process id and a random suffix: processes
attached to one pipeline write ``state.json`` at the same moment, and with a fixed ``.tmp`` name
one process's rename would take the other's file away from under it.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def write_text_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step; readers see the old or the new file, never half."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
