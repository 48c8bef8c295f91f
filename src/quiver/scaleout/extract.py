"""Extract on workers: one task per partition (and per other resource), one package.

The coordinator splits the selected resources into tasks, runs them on the executor, then
merges what came back into the package it was extracting anyway: the tasks' files move into
``jobs/new`` (a rename on the shared working folder), their schema fragments into the
package's schema, their state sections into the working state, whose merged incremental
cursors are committed with the data. Nothing here runs a row through Python.
"""

from __future__ import annotations

import copy
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from quiver.extract.extractor import ExtractMetrics, Extractor
from quiver.extract.resource import Resource
from quiver.extract.state import source_section
from quiver.scaleout.executors import resolve_executor
from quiver.scaleout.fragments import (
    LastValueFunc,
    merge_extract_fragment,
    merge_source_state,
)
from quiver.scaleout.tasks import ExtractTask, raise_failures, run_extract_task

PARTS_FOLDER = "parts"


def extract_on(
    executor: Any,
    extractor: Extractor,
    package: Path,
    options: dict[str, Any],
    resources: Sequence[Resource],
    state: dict[str, Any],
    source_name: str,
    *,
    workers: int,
) -> ExtractMetrics:
    """Extract ``resources`` into ``package``: in this process, or on ``executor``'s workers.

    Args:
        executor: ``executor=`` of the step (``None``: the ``scale_out.executor`` config).
        extractor: the extractor of ``package`` (used as is without an executor).
        package: the temp package folder.
        options: the extractor's keyword arguments (naming, buffers) for the workers.
        resources: the selected resources of the source.
        state: the working state (updated with the merged state sections).
        source_name: the source's state section.
        workers: threads for ``parallelized`` resources within one task.

    Raises:
        WorkerTaskFailed: a task raised (the first one, in task order).
    """
    chosen = resolve_executor(executor)
    if chosen is None:
        return extractor.extract(resources, state=state, source_name=source_name, workers=workers)
    schema = extractor.schema
    base = copy.deepcopy(schema.to_dict())
    section = source_section(state, source_name)
    parts = package / PARTS_FOLDER
    tasks = [
        ExtractTask(
            label,
            group,
            str(parts),
            base,
            source_name,
            {"sources": {source_name: copy.deepcopy(section)}},
            options,
            workers,
        )
        for label, group in plan_tasks(resources)
    ]
    try:
        results = chosen.map(run_extract_task, tasks)
        raise_failures("extract", results, package.name)
        metrics = ExtractMetrics()
        for result in results:
            merge_extract_fragment(schema, base, result.schema)
            metrics.files += _adopt(Path(result.folder), package, result.files)
            for table, count in result.row_counts.items():
                metrics.row_counts[table] = metrics.row_counts.get(table, 0) + count
            metrics.replaced_tables |= result.replaced_tables
            metrics.resources += [r for r in result.resources if r not in metrics.resources]
    finally:
        shutil.rmtree(parts, ignore_errors=True)  # failed attempts and leftovers
    ran = [[resource.name for resource in task.resources] for task in tasks]
    sections = [(names, result.state) for names, result in zip(ran, results, strict=True)]
    merged = merge_source_state(section, sections, _last_value_funcs(resources))
    section.clear()
    section.update(merged)
    return metrics


def plan_tasks(resources: Sequence[Resource]) -> list[tuple[str, list[Resource]]]:
    """The tasks of a source: a resource with its selected transformers is one task, or one
    task per partition when it is partitioned (its transformers follow each partition)."""
    groups: dict[int, list[Resource]] = {}
    roots: dict[int, Resource] = {}
    for resource in resources:
        root = resource
        while root.parent is not None:
            root = root.parent
        groups.setdefault(id(root), []).append(resource)
        roots[id(root)] = root
    tasks: list[tuple[str, list[Resource]]] = []
    for key, group in groups.items():
        root = roots[key]
        if root.partitions is None:
            tasks.append((f"resource {root.name!r}", group))
            continue
        for value in root.partitions:
            clone = root.for_partition(value)
            label = f"resource {root.name!r} partition {value!r}"
            tasks.append((label, [_repointed(r, root, clone) for r in group]))
    return tasks


def _repointed(resource: Resource, root: Resource, clone: Resource) -> Resource:
    """``resource`` with ``root`` replaced by ``clone`` along its chain of parents."""
    if resource is root:
        return clone
    if resource.parent is None:
        return resource
    copied = resource._clone()
    copied.parent = _repointed(resource.parent, root, clone)
    return copied


def _adopt(folder: Path, package: Path, files: list[str]) -> list[Path]:
    """Move a task's files into the package (same relative paths); returns the new paths."""
    adopted = []
    for relative in files:
        target = package / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(folder / relative, target)
        adopted.append(target)
    return adopted


def _last_value_funcs(resources: Sequence[Resource]) -> dict[str, LastValueFunc]:
    funcs: dict[str, LastValueFunc] = {}
    for resource in resources:
        incremental = resource.incremental
        if incremental is not None:
            funcs[resource.name] = incremental.last_value_func
    return funcs
