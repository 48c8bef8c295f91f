"""dlt's ``pipeline.helpers``: drop resources (their tables and state) from a pipeline.

``drop(pipeline, resources=..., ...)`` applies at once, as dlt's does;
``DropCommand(pipeline, ...)`` is the same drop as a plan: ``.info`` says what it would do
(``tables``, ``tables_with_data``, ``resource_states``, ``state_paths``, ``warnings``, ...) and
calling it applies it. The ``quiver pipeline <name> drop`` command prints ``.info`` and asks
before it calls.

What a drop does, as in dlt:

* ``resources`` are names or ``re:<regex>`` patterns (matched from the start of the name);
  ``drop_all=True`` selects every resource. The root tables the selected resources made, with
  their nested tables, leave the schema; those that hold data (``x-normalizer.seen-data``) are
  dropped in the destination too. The selected resources' state (user keys and incremental
  cursors) is wiped in every source, so the next run loads them from their ``initial_value``.
* ``state_paths`` are paths into each source's state (``"archives"``, ``"$.a.b"``,
  ``"items[0]"``, ``"a.*"``); what they select is deleted. The ``resources`` key itself is
  never deleted by a wildcard.
* ``state_only=True`` keeps the tables (schema and destination) and only changes the state.

Calling the plan refuses while packages are pending (:class:`PipelineHasPendingDataException`),
syncs from the destination, works the plan out again on what the destination holds, and makes
ONE package carrying the new state and schema and the tables to drop (``dropped_tables``); it
is normalized and loaded at once. The loader drops those tables before it stores the state,
exactly once (:mod:`quiver.load.refresh`). If that load fails, the package is discarded, the
previous schema is put back and the next extract stores the state again (dlt does the same),
so the drop can be run again.
"""

from __future__ import annotations

import copy
import datetime
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from quiver.errors import (
    InvalidDropArgument,
    PipelineConfigMissing,
    PipelineHasPendingDataException,
    PipelineNeverRan,
)
from quiver.extract.state import reset_resource_state, sources_state
from quiver.package.ids import new_load_id
from quiver.pipeline import packages
from quiver.pipeline.refresh import tables_of_resources, tables_with_data
from quiver.pipeline.state import as_pipeline_state, bump_version_if_modified, state_document
from quiver.schema.model import Schema

if TYPE_CHECKING:
    from quiver.pipeline.pipeline import Pipeline

logger = logging.getLogger(__name__)

__all__ = ["DropCommand", "drop"]


@dataclass
class _DropPlan:
    """A drop worked out on one schema and state (neither is changed: these are copies)."""

    schema: Schema
    state: dict[str, Any]
    dropped_tables: list[dict[str, Any]]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not (self.info["tables"] or self.info["state_paths"] or self.info["resource_states"])


class DropCommand:
    """A drop of resources' tables and state, worked out now and applied when called.

    Args:
        pipeline: the pipeline (it must have run, or been restored from its dataset).
        resources: resource names or ``re:<regex>`` patterns (a single string is one name).
        schema_name: the schema whose tables are dropped (default: the default schema).
        state_paths: paths into every source's state to delete (a single string is one path).
        drop_all: drop every resource of the schema (``resources`` is then ignored).
        state_only: change only the state; the tables stay in the schema and the destination.

    Raises:
        PipelineNeverRan: the pipeline has no schema.
        InvalidDropArgument: a bad regex, a bad state path, or an unknown ``schema_name``.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        resources: Iterable[str] | str = (),
        schema_name: str | None = None,
        state_paths: Iterable[str] | str = (),
        drop_all: bool = False,
        state_only: bool = False,
    ) -> None:
        self.pipeline = pipeline
        self.resources = [resources] if isinstance(resources, str) else list(resources)
        self.state_paths = [state_paths] if isinstance(state_paths, str) else list(state_paths)
        self.drop_all = drop_all
        self.state_only = state_only
        self._schema_name = schema_name
        self._plan = self._make_plan()

    @property
    def info(self) -> dict[str, Any]:
        """What the drop does: tables, tables_with_data, resource_states, resource_names,
        state_paths, schema_name, dataset_name, drop_all, resource_pattern, warnings."""
        return self._plan.info

    @property
    def is_empty(self) -> bool:
        """Whether the drop would change nothing (no table and no state selected)."""
        return self._plan.is_empty

    def _make_plan(self) -> _DropPlan:
        pipeline = self.pipeline
        if not pipeline.schema_names:
            raise PipelineNeverRan(pipeline.pipeline_name, pipeline.pipelines_dir)
        name = self._schema_name or pipeline.default_schema_name
        if name not in pipeline.schema_names:
            raise InvalidDropArgument(
                pipeline.pipeline_name,
                "schema_name",
                name,
                f"the pipeline has no such schema (it has {pipeline.schema_names})",
            )
        plan = plan_drop(
            pipeline.pipeline_name,
            pipeline._schemas.load(name),
            dict(pipeline._state),
            self.resources,
            self.state_paths,
            drop_all=self.drop_all,
            state_only=self.state_only,
        )
        plan.info["dataset_name"] = pipeline.dataset_name
        return plan

    def __call__(self) -> None:
        """Apply the drop: one package with the new state and schema, normalized and loaded.

        Raises:
            PipelineHasPendingDataException: packages wait to be normalized or loaded.
            PipelineConfigMissing: the pipeline has no destination.
            PipelineStepFailed: syncing, normalizing or loading failed (the drop can be run
                again).
        """
        pipeline = self.pipeline
        with pipeline.folder_lock:
            pipeline.reload_state()
            pending = pipeline.list_extracted_load_packages()
            pending += pipeline.list_normalized_load_packages()
            if pending:
                raise PipelineHasPendingDataException(
                    pipeline.pipeline_name, pipeline.pipelines_dir, pending
                )
            if pipeline.destination is None:
                raise PipelineConfigMissing(
                    pipeline.pipeline_name,
                    "destination",
                    "drop",
                    "attach the pipeline with the destination its dataset is in.",
                )
            pipeline.sync_destination()
            # The destination's state may be newer than the one the plan was made on.
            self._plan = self._make_plan()
            if self._plan.is_empty:
                logger.info("pipeline %r: nothing to drop", pipeline.pipeline_name)
                return
            previous_schema = pipeline._schemas.load(self._plan.schema.name)
            _extract_drop_package(pipeline, self._plan)
            try:
                pipeline.normalize()
                pipeline.load()
            except Exception:
                # As dlt: the package goes, the old schema comes back so every table is known
                # again, and the next extract stores the (dropped) state again.
                pipeline.drop_pending_packages()
                pipeline._schemas.save(previous_schema)
                pipeline._state["_local"].pop("_last_extracted_hash", None)
                pipeline._save_state()
                raise


def drop(
    pipeline: Pipeline,
    resources: Iterable[str] | str = (),
    schema_name: str | None = None,
    state_paths: Iterable[str] | str = (),
    drop_all: bool = False,
    state_only: bool = False,
) -> None:
    """Drop resources' tables and state from the pipeline and its dataset, now (dlt's ``drop``).

    See :class:`DropCommand` for the arguments; use it to look at ``.info`` before applying.
    """
    DropCommand(pipeline, resources, schema_name, state_paths, drop_all, state_only)()


# ----------------------------------------------------------------------------------- plan
def plan_drop(
    pipeline_name: str,
    stored: Schema,
    state: dict[str, Any],
    resources: list[str],
    state_paths: list[str],
    *,
    drop_all: bool,
    state_only: bool,
) -> _DropPlan:
    """Work a drop out on copies of a schema and a state.

    Args:
        pipeline_name: for error messages.
        stored: the schema to drop tables from (not changed).
        state: the pipeline state (not changed).
        resources: names or ``re:`` patterns.
        state_paths: paths into each source's state.
        drop_all: select every resource.
        state_only: keep the tables.
    """
    new_state = copy.deepcopy(state)
    matches = _resource_matcher(pipeline_name, ["re:.*"] if drop_all else resources)
    paths = [_parse_state_path(pipeline_name, path) for path in state_paths]
    resource_names: list[str] = []
    tables: list[str] = []
    warnings: list[str] = []
    if matches is not None:
        known = _resources_with_tables(stored)
        resource_names = [name for name in known if matches(name)]
        tables = tables_of_resources(stored, resource_names)
        if not resource_names:
            warnings.append(
                f"Specified resource(s) {resources} did not select any table(s) in schema "
                f"{stored.name}. Possible resources are: {known}"
            )
    schema = stored.clone()
    dropped: list[dict[str, Any]] = []
    if not state_only and tables:
        dropped = tables_with_data(stored, tables)
        for name in tables:
            schema.tables.pop(name, None)
        schema.bump_version()
    resource_states: list[str] = []
    dropped_paths: list[str] = []
    for source_name, source_state in sources_state(new_state).items():
        if matches is not None:
            for resource in list(source_state.get("resources", {})):
                if matches(resource):
                    resource_states.append(resource)
                    reset_resource_state(new_state, source_name, resource)
        found = [p for p in _resolve(paths, source_state) if _dotted(p) != "resources"]
        if paths and not found:
            warnings.append(
                f"State paths {state_paths} did not select any paths in source {source_name}"
            )
        _delete(source_state, found)
        dropped_paths.extend(f"{source_name}.{_dotted(p)}" for p in found)
    info: dict[str, Any] = {
        "tables": [] if state_only else tables,
        "tables_with_data": [t["name"] for t in dropped],
        "resource_states": resource_states,
        "resource_names": [] if state_only else resource_names,
        "state_paths": dropped_paths,
        "schema_name": stored.name,
        "drop_all": drop_all,
        "resource_pattern": None if matches is None else (["re:.*"] if drop_all else resources),
        "warnings": warnings,
    }
    return _DropPlan(schema, new_state, dropped, info)


def _resources_with_tables(schema: Schema) -> list[str]:
    names: list[str] = []
    for table in schema.data_tables():
        resource = table.get("resource")
        if "parent" not in table and resource and resource not in names:
            names.append(str(resource))
    return names


def _resource_matcher(pipeline_name: str, patterns: list[str]) -> Callable[[str], bool] | None:
    """A test for resource names: exact names, or ``re:`` regexes matched from the start."""
    if not patterns:
        return None
    compiled: list[re.Pattern[str]] = []
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern:
            raise InvalidDropArgument(pipeline_name, "resources", pattern, "not a resource name")
        if not pattern.startswith("re:"):
            compiled.append(re.compile(re.escape(pattern) + r"\Z"))
            continue
        try:
            compiled.append(re.compile(pattern[3:]))
        except re.error as error:
            raise InvalidDropArgument(pipeline_name, "resources", pattern, str(error)) from error
    return lambda name: any(p.match(name) for p in compiled)


# ----------------------------------------------------------------------- state paths (lite)
_Step = str | int  # a key, a list index, or "*" (any key or index)
_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+|\*|'[^']*'|\"[^\"]*\")\]|(\.)")


def _parse_state_path(pipeline_name: str, path: Any) -> list[_Step]:
    """Steps of a JSONPath-lite path: ``$``, dotted keys, ``*``, ``[n]``, ``[*]``, ``['k']``."""
    if not isinstance(path, str) or not path.strip():
        raise InvalidDropArgument(pipeline_name, "state_paths", path, "not a path")
    text = path.strip()
    text = text[1:] if text.startswith("$") else text
    steps: list[_Step] = []
    position = 0
    while position < len(text):
        match = _SEGMENT.match(text, position)
        if match is None:
            reason = f"unexpected {text[position]!r} at position {position}"
            raise InvalidDropArgument(pipeline_name, "state_paths", path, reason)
        key, bracket, _dot = match.groups()
        if key is not None:
            steps.append(key)
        elif bracket is not None:
            steps.append(int(bracket) if bracket.isdigit() else bracket.strip("'\""))
        position = match.end()
    if not steps:
        raise InvalidDropArgument(pipeline_name, "state_paths", path, "it selects nothing")
    return steps


def _resolve(paths: list[list[_Step]], document: Any) -> list[tuple[_Step, ...]]:
    """Every concrete path (keys and indices) in ``document`` that one of ``paths`` selects."""
    found: list[tuple[_Step, ...]] = []
    for steps in paths:
        current: list[tuple[tuple[_Step, ...], Any]] = [((), document)]
        for step in steps:
            following: list[tuple[tuple[_Step, ...], Any]] = []
            for prefix, value in current:
                for key, child in _children(value, step):
                    following.append(((*prefix, key), child))
            current = following
        found.extend(p for p, _ in current if p not in found)
    return found


def _children(value: Any, step: _Step) -> list[tuple[_Step, Any]]:
    if isinstance(value, dict):
        if step == "*":
            return list(value.items())
        return [(step, value[step])] if isinstance(step, str) and step in value else []
    if isinstance(value, list):
        if step == "*":
            return list(enumerate(value))
        return [(step, value[step])] if isinstance(step, int) and step < len(value) else []
    return []


def _delete(document: Any, found: list[tuple[_Step, ...]]) -> None:
    """Delete the selected paths, deepest and highest index first (indices stay valid)."""
    for path in sorted(found, key=lambda p: (len(p), [str(s).zfill(12) for s in p]), reverse=True):
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        in_dict = isinstance(parent, dict) and last in parent
        in_list = isinstance(parent, list) and isinstance(last, int) and last < len(parent)
        if in_dict or in_list:
            del parent[last]


def _dotted(path: tuple[_Step, ...]) -> str:
    return ".".join(f"[{step}]" if isinstance(step, int) else step for step in path)


# --------------------------------------------------------------------------------- package
def _extract_drop_package(pipeline: Pipeline, plan: _DropPlan) -> None:
    """Commit one extracted package with the new state, the new schema and the tables to drop;
    the pipeline adopts that state and schema."""
    now = datetime.datetime.now(datetime.UTC)
    state = as_pipeline_state(plan.state)
    state["_local"] = pipeline._state["_local"]
    bump_version_if_modified(state)
    package_state = packages.extracted_state(now, set(), {}, state_document(state, now))
    if plan.dropped_tables:
        package_state["dropped_tables"] = plan.dropped_tables
    storage = pipeline._storage
    package = storage.new_temp_package(new_load_id())
    try:
        storage.write_state(package, package_state)
        storage.write_schema(package, plan.schema.to_dict())
    except Exception:
        storage.discard_temp(package)
        raise
    pipeline._schemas.save(plan.schema)
    state["_local"]["_last_extracted_hash"] = state.get("_version_hash")
    state["_local"]["_last_extracted_at"] = now.isoformat()
    pipeline._state = state
    pipeline._save_state()
    storage.commit(package, "extracted")
