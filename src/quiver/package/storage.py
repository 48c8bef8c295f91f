"""Load packages on disk and their atomic moves between stages.

A package is a folder named by its load id. It is written in ``tmp/`` and renamed into
``extracted/``, ``normalized/`` and ``loaded/``: a rename is atomic on one filesystem, so a crash
leaves either the old or the new stage, never half of one. A package that failed
deterministically at normalize is renamed into ``failed/`` as it was (never deleted), so that it
no longer blocks later runs; :meth:`PackageStorage.restore_failed` moves it back. Inside a
package::

    schema.json            the schema the package was made with
    package_state.json     a PackageState: {"state": ..., "created_at": ..., stage facts}
    failure.json           a PackageFailure, in a failed (or aborted) package
    jobs/new|started|completed|failed/<table>.<file_id>.<retry>.<ext>
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypedDict, cast

from quiver.atomic_files import write_text_atomically
from quiver.package.ids import uniq_id
from quiver.schema.documents import StateRow

Stage = Literal["extracted", "normalized", "loaded", "failed"]
JobState = Literal["new", "started", "completed", "failed"]
STAGES: tuple[Stage, ...] = ("extracted", "normalized", "loaded")
JOB_STATES: tuple[JobState, ...] = ("new", "started", "completed", "failed")
SCHEMA_FILE = "schema.json"
PACKAGE_STATE_FILE = "package_state.json"
FAILURE_FILE = "failure.json"
#: The ``state`` of a package: its stage, or ``aborted`` (in ``loaded/``, with a failed job).
PackageStage = Literal["extracted", "normalized", "loaded", "aborted"]


class PackageState(TypedDict, total=False):
    """``package_state.json``: what each step knows about a package and hands to the next.

    Extract writes ``state``, ``created_at``, ``replaced_tables``, ``row_counts`` and, in the
    last package of an extract whose pipeline state changed, ``pipeline_state``. Normalize adds
    its counts; load sets ``completed_at``. Every key but ``state`` and ``created_at`` may be
    missing (packages of older versions, a step that has not run yet).
    """

    state: PackageStage
    #: ISO 8601 (UTC), when extract made the package.
    created_at: str
    #: Root tables whose content this package replaces (``replace`` disposition).
    replaced_tables: list[str]
    #: Rows extracted per table.
    row_counts: dict[str, int]
    #: The ``_dlt_pipeline_state`` row the loader stores with this package's data.
    pipeline_state: StateRow
    #: Rows normalized per table (root and nested tables).
    normalized_row_counts: dict[str, int]
    #: Rows a schema contract discarded per table (in the package's ``discarded/`` folder).
    discarded_row_counts: dict[str, int]
    #: Values a ``discard_value`` contract dropped per table.
    discarded_value_counts: dict[str, int]
    #: ISO 8601 (UTC), when load finished (or aborted) the package.
    completed_at: str
    #: Tables (their schema documents) that ``refresh`` drops before the package loads.
    dropped_tables: list[dict[str, Any]]
    #: Tables (their schema documents) that ``refresh="drop_data"`` truncates before it loads.
    truncated_tables: list[dict[str, Any]]
    #: ISO 8601 (UTC), when the loader dropped and truncated them: never done twice.
    refreshed_at: str


class PackageFailure(TypedDict):
    """``failure.json``: why a package was moved aside (``failed/``) or aborted (``loaded/``)."""

    #: The step that failed: ``"normalize"`` or ``"load"``.
    step: str
    #: :func:`quiver.load.retry.classify` of the error: ``"terminal"`` or ``"bug"``.
    kind: str
    #: The stage the package was in when it failed: where a retry puts it back.
    stage: Stage
    exception_type: str
    #: The error's message (secrets masked).
    message: str
    traceback: str
    #: ISO 8601 (UTC).
    failed_at: str


@dataclass(frozen=True)
class JobFile:
    """A job file name: ``<table>.<file_id>.<retry>.<ext>``."""

    table_name: str
    file_id: str
    retry_count: int
    ext: str

    @property
    def name(self) -> str:
        return f"{self.table_name}.{self.file_id}.{self.retry_count}.{self.ext}"

    @property
    def job_id(self) -> str:
        return f"{self.table_name}.{self.file_id}.{self.ext}"

    @classmethod
    def parse(cls, file_name: str) -> JobFile:
        # Table names never contain dots after normalization; the ext may ("rows.arrow").
        table_name, file_id, retry, ext = file_name.split(".", 3)
        return cls(table_name, file_id, int(retry), ext)

    @classmethod
    def new(cls, table_name: str, ext: str) -> JobFile:
        return cls(table_name, uniq_id(10), 0, ext)


def _owner_alive(temp_name: str) -> bool:
    """Whether the process named in a temp folder (``<pid>-<id>``) still runs.

    Folders without a pid (written by older versions) count as orphans.
    """
    owner, _, rest = temp_name.partition("-")
    if not owner.isdigit() or not rest:
        return False
    try:
        os.kill(int(owner), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def write_json(path: Path, document: Any) -> None:
    """Write JSON atomically (temp file + rename) so a crash never leaves half a document."""
    write_text_atomically(path, json.dumps(document, indent=1, default=str))


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class PackageStorage:
    """The ``tmp/``, ``extracted/``, ``normalized/`` and ``loaded/`` folders of a pipeline."""

    def __init__(self, working_dir: Path) -> None:
        self.root = working_dir
        for stage in (*STAGES, "failed", "tmp"):
            (self.root / stage).mkdir(parents=True, exist_ok=True)

    # -------------------------------------------------------------- locations
    def path(self, stage: Stage, load_id: str) -> Path:
        return self.root / stage / load_id

    def load_ids(self, stage: Stage) -> list[str]:
        """Load ids in a stage, oldest first."""
        folder = self.root / stage
        ids = [p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
        return sorted(ids, key=Decimal)

    @staticmethod
    def jobs(package: Path, state: JobState) -> list[Path]:
        folder = package / "jobs" / state
        return sorted(folder.iterdir()) if folder.exists() else []

    # ------------------------------------------------------------ transitions
    def new_temp_package(self, load_id: str) -> Path:
        """An empty package in ``tmp/<pid>-<id>/`` that the caller fills and then commits.

        The folder name carries the owner's process id: :meth:`recover` removes only temp
        packages whose owner is gone, never another live process's package in flight.
        """
        path = self.root / "tmp" / f"{os.getpid()}-{uniq_id(8)}" / load_id
        for state in JOB_STATES:
            (path / "jobs" / state).mkdir(parents=True)
        return path

    def commit(self, temp_package: Path, stage: Stage) -> Path:
        """Rename a filled temp package into ``stage`` (atomic); remove its earlier stage."""
        load_id = temp_package.name
        target = self.path(stage, load_id)
        os.replace(temp_package, target)
        shutil.rmtree(temp_package.parent, ignore_errors=True)
        if stage == "normalized":
            shutil.rmtree(self.path("extracted", load_id), ignore_errors=True)
        return target

    def move(self, load_id: str, source: Stage, target: Stage) -> Path:
        destination = self.path(target, load_id)
        os.replace(self.path(source, load_id), destination)
        return destination

    def move_job(self, job: Path, state: JobState) -> Path:
        target = job.parent.parent / state / job.name
        os.replace(job, target)
        return target

    def discard_temp(self, temp_package: Path) -> None:
        shutil.rmtree(temp_package.parent, ignore_errors=True)

    def recover(self) -> None:
        """Finish or undo what a killed process left: temp folders and half-done renames.

        Only temp folders of processes that are gone are removed. Moving started jobs back to
        ``new`` assumes no other process is loading: callers hold the working folder's lock
        (:class:`quiver.pipeline.lock.FolderLock`).
        """
        for leftover in (self.root / "tmp").iterdir():
            if not _owner_alive(leftover.name):
                shutil.rmtree(leftover, ignore_errors=True)
        for load_id in self.load_ids("normalized"):
            # Killed between the rename into normalized/ and removing the extracted copy.
            shutil.rmtree(self.path("extracted", load_id), ignore_errors=True)
        for load_id in self.load_ids("normalized"):
            package = self.path("normalized", load_id)
            # Jobs that were started when the process died go back to new; commits are
            # idempotent by load id, so running them again cannot duplicate rows.
            for job in self.jobs(package, "started"):
                self.move_job(job, "new")

    # ------------------------------------------------------------ failed packages
    def move_aside(self, load_id: str, stage: Stage, failure: PackageFailure) -> Path:
        """Record ``failure`` in the package and rename it from ``stage`` into ``failed/``."""
        write_json(self.path(stage, load_id) / FAILURE_FILE, failure)
        return self.move(load_id, stage, "failed")

    @staticmethod
    def read_failure(package: Path) -> PackageFailure | None:
        """The package's ``failure.json``, ``None`` if it has none."""
        path = package / FAILURE_FILE
        return cast(PackageFailure, read_json(path)) if path.exists() else None

    @staticmethod
    def write_failure(package: Path, failure: PackageFailure) -> None:
        write_json(package / FAILURE_FILE, failure)

    def restore_failed(self, load_id: str, stage: Stage) -> Path:
        """Move a package from ``failed/`` back to ``stage``; its failure record goes along
        renamed to ``failure.retried.json`` (the last failure before the retry)."""
        package = self.move(load_id, "failed", stage)
        failure = package / FAILURE_FILE
        if failure.exists():
            os.replace(failure, package / f"failure.retried{failure.suffix}")
        return package

    def failed_jobs_to_new(self, package: Path) -> None:
        """Make an aborted package loadable again: its failed jobs become new jobs (their
        ``.exception`` files go: ``failure.json`` keeps the error) and its state ``normalized``."""
        for job in self.jobs(package, "failed"):
            if job.name.endswith(".exception"):
                job.unlink()
            else:
                self.move_job(job, "new")
        state = self.read_package_state(package)
        state["state"] = "normalized"
        state.pop("completed_at", None)
        self.write_state(package, state)

    def drop_pending(self) -> None:
        pending: tuple[Stage, ...] = ("extracted", "normalized")
        for stage in pending:
            for load_id in self.load_ids(stage):
                shutil.rmtree(self.path(stage, load_id))

    # ---------------------------------------------------------- package state
    @staticmethod
    def read_package_state(package: Path) -> PackageState:
        """The package's :class:`PackageState` (empty if the package has none)."""
        path = package / PACKAGE_STATE_FILE
        return cast(PackageState, read_json(path)) if path.exists() else {}

    @staticmethod
    def read_state(package: Path) -> dict[str, Any]:
        """:meth:`read_package_state` as a plain dict, for callers that do not use the type yet.

        The loader updates the document with keyword arguments, which a TypedDict does not
        allow; it moves to :meth:`read_package_state` when it adopts :class:`PackageState`.
        """
        return dict(PackageStorage.read_package_state(package))

    @staticmethod
    def write_state(package: Path, state: PackageState | dict[str, Any]) -> None:
        write_json(package / PACKAGE_STATE_FILE, state)

    @staticmethod
    def read_schema(package: Path) -> dict[str, Any]:
        return read_json(package / SCHEMA_FILE)  # type: ignore[no-any-return]

    @staticmethod
    def write_schema(package: Path, schema: dict[str, Any]) -> None:
        write_json(package / SCHEMA_FILE, schema)
