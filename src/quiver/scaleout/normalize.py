"""Normalize on workers: a package's extracted files split into groups, one task per group.

Each task normalizes its files against a copy of the schema into an attempt folder of its own
and returns the parquet files it wrote with its schema fragment. The coordinator merges the
fragments in task order; a task whose fragment types a column differently from an earlier one
is normalized again here, against the merged schema, exactly as one process would have done it
(the value goes to a variant column, or the contract decides). Then the files move into the
package, which the load step commits as always: one commit per table, carrying the load id.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from quiver.normalize.normalizer import NormalizeMetrics, normalize_package
from quiver.package.storage import PackageStorage
from quiver.progress import NULL_COLLECTOR, Collector
from quiver.scaleout.executors import resolve_executor
from quiver.scaleout.extract import PARTS_FOLDER
from quiver.scaleout.fragments import merge_normalize_fragment
from quiver.scaleout.tasks import (
    NormalizeResult,
    NormalizeTask,
    raise_failures,
    run_normalize_task,
)
from quiver.schema.model import Schema
from quiver.schema.naming import NamingConvention
from quiver.settings import NormalizeConfig


def normalize_on(
    executor: Any,
    extracted: Path,
    target: Path,
    schema: Schema,
    load_id: str,
    naming: NamingConvention,
    config: NormalizeConfig,
    progress: Collector = NULL_COLLECTOR,
) -> NormalizeMetrics:
    """:func:`~quiver.normalize.normalizer.normalize_package`, on ``executor``'s workers when
    there is one and the package has more than one extracted file.

    Raises:
        WorkerTaskFailed: a task raised (the first one, in task order).
        NormalizeJobFailed: normalizing a conflicting group again failed.
    """
    chosen = resolve_executor(executor)
    jobs = PackageStorage.jobs(extracted, "new")
    if chosen is None or len(jobs) < 2:
        return normalize_package(
            extracted, target, schema, load_id, naming, config, progress=progress
        )
    parts = target / PARTS_FOLDER
    tasks = []
    for number, group in enumerate(split_files(jobs, chosen.parallelism)):
        inputs = parts / f"input-{number}"
        (inputs / "jobs" / "new").mkdir(parents=True)
        for job in group:
            _link(job, inputs / "jobs" / "new" / job.name)
        label = f"{len(group)} extracted file(s) from {group[0].name}"
        tasks.append(
            NormalizeTask(label, str(inputs), str(parts), schema.to_dict(), load_id, naming, config)
        )
    progress.update("Files", 0, total=len(jobs))
    try:
        results = chosen.map(run_normalize_task, tasks)
        raise_failures("normalize", results, load_id)
        metrics = NormalizeMetrics()
        for task, result in zip(tasks, results, strict=True):
            if merge_normalize_fragment(schema, result.schema):
                # A column typed differently by two workers: decide as one process would.
                metrics.merge(
                    normalize_package(Path(task.inputs), target, schema, load_id, naming, config)
                )
            else:
                metrics.merge(_adopted(result, target))
            progress.update("Files", len(os.listdir(Path(task.inputs) / "jobs" / "new")))
    finally:
        shutil.rmtree(parts, ignore_errors=True)
    return metrics


def workers_normalizer() -> Callable[..., NormalizeMetrics] | None:
    """:func:`normalize_on` bound to the step's executor, with the signature of
    :func:`~quiver.normalize.normalizer.normalize_package`; ``None`` without an executor."""
    chosen = resolve_executor(None)
    return None if chosen is None else functools.partial(normalize_on, chosen)


def split_files(jobs: list[Path], groups: int) -> list[list[Path]]:
    """At most ``groups`` groups of similar size in bytes, in the order of their first file
    in ``jobs`` (the order one process normalizes them in: where two groups type a column
    differently, the earlier group's type wins, as the earlier file's would)."""
    count = max(1, min(groups, len(jobs)))
    sizes = [0] * count
    buckets: list[list[Path]] = [[] for _ in range(count)]
    for job in sorted(jobs, key=lambda path: -path.stat().st_size):
        smallest = sizes.index(min(sizes))
        buckets[smallest].append(job)
        sizes[smallest] += job.stat().st_size
    position = {job: index for index, job in enumerate(jobs)}
    groups_in_order = [sorted(b, key=position.__getitem__) for b in buckets if b]
    return sorted(groups_in_order, key=lambda group: position[group[0]])


def _adopted(result: NormalizeResult, target: Path) -> NormalizeMetrics:
    """Move a task's files into ``target``; its metrics with the new paths."""
    folder = Path(result.folder)
    moved: dict[str, Path] = {}
    for relative in [*result.files, *result.dead_letter_files]:
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(folder / relative, destination)
        moved[relative] = destination
    return NormalizeMetrics(
        row_counts=result.row_counts,
        files=[moved[r] for r in result.files],
        discarded_rows=result.discarded_rows,
        discarded_values=result.discarded_values,
        dead_letter_files=[moved[r] for r in result.dead_letter_files],
    )


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
