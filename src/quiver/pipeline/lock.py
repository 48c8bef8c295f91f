"""An exclusive lock on a pipeline's working folder, across processes and threads.

Several processes may attach to one pipeline (dlt's attach page shows it). What they share is
the working folder: ``state.json``, the schemas and the packages. Each step (extract,
normalize, load, a restore from the destination, ``drop``) holds this lock for its whole
duration, so steps of different processes run one after the other and each starts from what
the previous one left: the newest ``state.json`` (re-read when the lock is taken), the schemas
on disk and the packages. The lock is ``fcntl.flock`` on ``<working folder>/.lock``: the kernel
releases it when its process dies, so a killed process never leaves the folder locked. It is
re-entrant within a thread (``run`` holds it across its steps).

On platforms without ``fcntl`` (Windows) only threads of one process are excluded.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".lock"

F = TypeVar("F", bound=Callable[..., Any])


class FolderLock:
    """A re-entrant, exclusive lock on a working folder (see the module docstring).

    Args:
        folder: The working folder; the lock file ``.lock`` is created in it.
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_FILE
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @property
    def depth(self) -> int:
        """How many times the holding thread has entered the lock (0: not held)."""
        return self._depth

    def __enter__(self) -> FolderLock:
        self._thread_lock.acquire()
        if self._depth == 0:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                # Who holds it, for a person looking at a folder that seems stuck.
                os.ftruncate(fd, 0)
                os.write(fd, str(os.getpid()).encode("ascii"))
            except BaseException:
                self._thread_lock.release()
                raise
            self._fd = fd
        self._depth += 1
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fd, self._fd = self._fd, None
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self._thread_lock.release()


class _LockedPipeline(Protocol):
    folder_lock: FolderLock

    def reload_state(self) -> None: ...


def locked_step(method: F) -> F:
    """Run a Pipeline method holding its folder lock; the outermost entry re-reads the state
    another process may have written since this instance last looked."""

    @functools.wraps(method)
    def locked(self: _LockedPipeline, *args: Any, **kwargs: Any) -> Any:
        with self.folder_lock as lock:
            if lock.depth == 1:
                self.reload_state()
            return method(self, *args, **kwargs)

    return cast(F, locked)
