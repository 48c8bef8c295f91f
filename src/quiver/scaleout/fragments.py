"""The coordinator's merges: schema fragments and state sections that workers returned.

Every worker started from the same schema and state, so a fragment differs from the start only
by what its task added. Extract fragments carry table hints (merged as one process merges a
resource's hints). Normalize fragments carry inferred columns: a column two workers typed
differently is a conflict, which the coordinator resolves as one process would, by normalizing
that task's files again against the merged schema (see :mod:`quiver.scaleout.normalize`).
State sections merge per resource: user keys in task order (the last partition that wrote a
key wins), incremental cursors by the cursor's ``last_value_func`` over all partitions.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from quiver.schema.model import Schema

LastValueFunc = Callable[[Sequence[Any]], Any]


def merge_extract_fragment(schema: Schema, base: dict[str, Any], fragment: dict[str, Any]) -> None:
    """Apply the table hints a worker recorded (its schema minus ``base``) to ``schema``."""
    base_tables = base.get("tables", {})
    for name, table in fragment.get("tables", {}).items():
        if table == base_tables.get(name):
            continue
        if name not in schema.tables:
            schema.tables[name] = copy.deepcopy(table)
        else:
            schema.merge_hints(name, copy.deepcopy(table))


def merge_normalize_fragment(schema: Schema, fragment: dict[str, Any]) -> list[str]:
    """Add the tables and columns a worker inferred to ``schema``, unless a column's type
    conflicts; returns the conflicts (``table.column``) and changes nothing if there are any."""
    conflicts = [
        f"{name}.{column}"
        for name, table in fragment.get("tables", {}).items()
        for column, hints in (table.get("columns") or {}).items()
        if _type_of(schema, name, column) not in (None, hints.get("data_type"))
        and hints.get("data_type") is not None
    ]
    if conflicts:
        return conflicts
    for name, table in fragment.get("tables", {}).items():
        mine = schema.tables.get(name)
        if mine is None:
            schema.tables[name] = copy.deepcopy(table)
            continue
        columns = mine.setdefault("columns", {})
        for column, hints in (table.get("columns") or {}).items():
            if column not in columns or "data_type" not in columns[column]:
                columns[column] = copy.deepcopy(hints)
        for key, value in table.items():
            if key != "columns" and mine.get(key) != value:
                mine[key] = copy.deepcopy(value)
    return []


def _type_of(schema: Schema, table: str, column: str) -> Any:
    return ((schema.tables.get(table) or {}).get("columns") or {}).get(column, {}).get("data_type")


def merge_source_state(
    before: dict[str, Any],
    sections: Sequence[tuple[list[str], dict[str, Any]]],
    last_value_funcs: dict[str, LastValueFunc],
) -> dict[str, Any]:
    """The source's state section after every task: ``sections`` are ``(resources the task
    ran, the section it returned)`` in task order."""
    merged = copy.deepcopy(before)
    for _, section in sections:
        for key, value in section.items():
            if key != "resources" and value != before.get(key):
                merged[key] = copy.deepcopy(value)
    by_resource: dict[str, list[dict[str, Any]]] = {}
    for names, section in sections:
        for name in names:
            returned = section.get("resources", {}).get(name)
            if returned is not None:
                by_resource.setdefault(name, []).append(returned)
    resources = merged.setdefault("resources", {})
    for names, _ in sections:
        for name in names:
            if name not in by_resource:  # reset by the task (a replace starts from scratch)
                resources.pop(name, None)
    for name, returned in by_resource.items():
        resources[name] = merge_resource_state(returned, last_value_funcs.get(name, max))
    return merged


def merge_resource_state(sections: list[dict[str, Any]], last_value_func: LastValueFunc) -> Any:
    """One resource's state from its partitions: keys in order, cursors merged."""
    merged: dict[str, Any] = {}
    cursors: dict[str, list[dict[str, Any]]] = {}
    for section in sections:
        for key, value in section.items():
            if key == "incremental":
                for path, cursor in value.items():
                    cursors.setdefault(path, []).append(cursor)
            else:
                merged[key] = copy.deepcopy(value)
    if cursors:
        merged["incremental"] = {
            path: merge_cursor(states, last_value_func) for path, states in cursors.items()
        }
    return merged


def merge_cursor(states: list[dict[str, Any]], last_value_func: LastValueFunc) -> dict[str, Any]:
    """One incremental cursor from its partitions: the newest ``last_value`` by
    ``last_value_func``, with the union of the boundary hashes of the partitions that reached
    it (so the next run skips exactly the rows at the boundary that were loaded)."""
    merged = copy.deepcopy(states[0])
    values = [s.get("last_value") for s in states if s.get("last_value") is not None]
    if not values:
        return merged
    newest = last_value_func(values)
    hashes: list[Any] = []
    for state in states:
        if state.get("last_value") == newest:
            hashes.extend(h for h in state.get("unique_hashes") or [] if h not in hashes)
    merged["last_value"] = newest
    merged["unique_hashes"] = hashes
    starts = [s["start_value"] for s in states if s.get("start_value") is not None]
    if starts:
        merged["start_value"] = starts[0]
    return merged
