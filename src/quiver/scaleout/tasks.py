"""The work a worker does: extract one partition, or normalize a group of extracted files.

Tasks run in other processes or on other machines, so they carry everything they need (the
resources, a schema document, the source's state section, the writer options) and return small
results: file names, counts, a schema fragment, the state section after the run; never data.
Each attempt writes into a folder of its own under the package's ``parts/`` folder, so a retry
after a worker died never mixes with the files of the dead attempt; the coordinator adopts only
the files a result names and deletes the rest. An exception in user code comes back as text
(:class:`TaskFailure`), because many exceptions cannot be pickled.
"""

from __future__ import annotations

import copy
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quiver.errors import WorkerTaskFailed
from quiver.extract.extractor import Extractor
from quiver.extract.resource import Resource
from quiver.extract.state import managed_state
from quiver.load.retry import is_retryable
from quiver.normalize.normalizer import normalize_package
from quiver.package.ids import uniq_id
from quiver.schema.model import Schema
from quiver.schema.naming import NamingConvention
from quiver.settings import NormalizeConfig


@dataclass(frozen=True)
class TaskFailure:
    """An exception raised in a task, as text."""

    error_type: str
    message: str
    traceback: str
    retryable: bool


@dataclass(frozen=True)
class ExtractTask:
    """Extract ``resources`` (one partition, or one resource with its transformers)."""

    label: str
    resources: list[Resource]
    parts_dir: str
    schema: dict[str, Any]
    source_name: str
    #: ``{"sources": {source_name: <the source's state section>}}`` before the extract.
    state: dict[str, Any]
    #: Keyword arguments of :class:`~quiver.extract.extractor.Extractor` (naming, buffers).
    options: dict[str, Any]
    workers: int


@dataclass
class ExtractResult:
    """What one extract task wrote (paths relative to ``folder``)."""

    label: str
    folder: str = ""
    files: list[str] = field(default_factory=list)
    row_counts: dict[str, int] = field(default_factory=dict)
    replaced_tables: set[str] = field(default_factory=set)
    resources: list[str] = field(default_factory=list)
    schema: dict[str, Any] = field(default_factory=dict)
    #: The source's state section after the extract.
    state: dict[str, Any] = field(default_factory=dict)
    failure: TaskFailure | None = None


@dataclass(frozen=True)
class NormalizeTask:
    """Normalize the extracted files linked into ``inputs`` (a package folder of its own)."""

    label: str
    inputs: str
    parts_dir: str
    schema: dict[str, Any]
    load_id: str
    naming: NamingConvention
    config: NormalizeConfig


@dataclass
class NormalizeResult:
    """What one normalize task wrote (paths relative to ``folder``) and its schema after it."""

    label: str
    folder: str = ""
    files: list[str] = field(default_factory=list)
    dead_letter_files: list[str] = field(default_factory=list)
    row_counts: dict[str, int] = field(default_factory=dict)
    discarded_rows: dict[str, int] = field(default_factory=dict)
    discarded_values: dict[str, int] = field(default_factory=dict)
    schema: dict[str, Any] = field(default_factory=dict)
    failure: TaskFailure | None = None


def run_extract_task(task: ExtractTask) -> ExtractResult:
    """Extract the task's resources into a fresh attempt folder (runs on a worker)."""
    folder = _attempt_folder(task.parts_dir, task.label)
    result = ExtractResult(task.label, str(folder))
    try:
        schema = Schema.from_dict(copy.deepcopy(task.schema))
        extractor = Extractor(folder, schema, **task.options)
        state = copy.deepcopy(task.state)  # threads share the task object
        with managed_state(state):
            metrics = extractor.extract(
                task.resources, state=state, source_name=task.source_name, workers=task.workers
            )
    except Exception as error:
        result.failure = _failure(error)
        return result
    result.files = [str(path.relative_to(folder)) for path in metrics.files]
    result.row_counts = metrics.row_counts
    result.replaced_tables = metrics.replaced_tables
    result.resources = metrics.resources
    result.schema = schema.to_dict()
    result.state = state.get("sources", {}).get(task.source_name, {})
    return result


def run_normalize_task(task: NormalizeTask) -> NormalizeResult:
    """Normalize the task's files into a fresh attempt folder (runs on a worker)."""
    folder = _attempt_folder(task.parts_dir, task.label)
    result = NormalizeResult(task.label, str(folder))
    try:
        schema = Schema.from_dict(copy.deepcopy(task.schema))
        metrics = normalize_package(
            Path(task.inputs), folder, schema, task.load_id, task.naming, task.config
        )
    except Exception as error:
        result.failure = _failure(error)
        return result
    result.files = [str(path.relative_to(folder)) for path in metrics.files]
    result.dead_letter_files = [str(p.relative_to(folder)) for p in metrics.dead_letter_files]
    result.row_counts = metrics.row_counts
    result.discarded_rows = metrics.discarded_rows
    result.discarded_values = metrics.discarded_values
    result.schema = schema.to_dict()
    return result


def raise_failures(
    step: str, results: Sequence[ExtractResult | NormalizeResult], load_id: str
) -> None:
    """Raise the first task's failure, in task order.

    Raises:
        WorkerTaskFailed: with the task, the load id, the worker's error and its traceback.
    """
    for result in results:
        failure = result.failure
        if failure is not None:
            raise WorkerTaskFailed(
                step,
                result.label,
                load_id,
                failure.error_type,
                failure.message,
                failure.traceback,
                failure.retryable,
            )


def _attempt_folder(parts_dir: str, label: str) -> Path:
    slug = "".join(c if c.isalnum() else "_" for c in label)[:40]
    folder = Path(parts_dir) / f"{slug}.{uniq_id()}"
    (folder / "jobs" / "new").mkdir(parents=True)
    return folder


def _failure(error: BaseException) -> TaskFailure:
    trace = "".join(traceback.format_exception(error))
    return TaskFailure(type(error).__name__, str(error), trace, is_retryable(error))
