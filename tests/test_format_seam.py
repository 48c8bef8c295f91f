"""The table-format seam: the loader and maintenance need nothing of a format but TableFormat.

A tiny in-memory format, registered in place of Delta for one test, carries a whole pipeline run
(nested tables, sidecars, exactly-once, maintenance). Source checks (ast) keep name dispatch and
private members of formats out of their callers, and bare builtin raises out of destinations/,
load/ and maintenance.py.
"""

from __future__ import annotations

import ast
import datetime
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import quiver
from quiver import maintenance
from quiver.destinations import base
from quiver.destinations.base import MaintenanceResult, TableCommit, TableFormat
from quiver.destinations.location import StorageLocation

SRC = Path(__file__).resolve().parents[1] / "src" / "quiver"
FORMAT_NAMES = {"delta", "iceberg", "native", "files", "none"}


class MemoryFormat:
    """Tables as lists of ``(load id, Arrow table)`` in a class-level dict: the whole protocol."""

    name = "memory"
    supports_merge = False
    tables: ClassVar[dict[tuple[str, str], list[tuple[str, pa.Table]]]] = {}

    def __init__(self, dataset: StorageLocation, app_id: str) -> None:
        self._dataset = dataset.url

    def _parts(self, table_name: str) -> list[tuple[str, pa.Table]]:
        return self.tables.setdefault((self._dataset, table_name), [])

    def table_exists(self, table_name: str) -> bool:
        return bool(self.tables.get((self._dataset, table_name)))

    def is_committed(self, table_name: str, load_id: str) -> bool:
        return any(committed == load_id for committed, _ in self._parts(table_name))

    def commit(self, commit: TableCommit) -> None:
        data = [pq.read_table(path) for path in commit.files]
        if commit.disposition == "replace":
            self._parts(commit.table_name).clear()
        self._parts(commit.table_name).extend((commit.load_id, part) for part in data)

    def append_rows(self, table_name: str, data: pa.Table, load_id: str) -> None:
        if not self.is_committed(table_name, load_id):
            self._parts(table_name).append((load_id, data))

    def read_table(
        self, table_name: str, columns: Sequence[str], where: base.RowFilter | None = None
    ) -> pa.Table | None:
        if not self.table_exists(table_name):
            return None
        parts = [part for _, part in self._parts(table_name)]
        rows = pa.concat_tables(parts, promote_options="default")
        if where:
            rows = rows.filter(base.row_filter_expression(where))
        return rows.select(list(columns))

    def scan(
        self, table_name: str, columns: Sequence[str] | None = None
    ) -> pa.RecordBatchReader | None:
        if not self.table_exists(table_name):
            return None
        parts = [part for _, part in self._parts(table_name) if part.num_columns]
        rows = pa.concat_tables(parts, promote_options="default")
        return (rows if columns is None else rows.select(list(columns))).to_reader()

    def row_count(self, table_name: str) -> int | None:
        if not self.table_exists(table_name):
            return None
        return sum(part.num_rows for _, part in self._parts(table_name))

    def drop_table(self, table_name: str) -> None:
        self.tables.pop((self._dataset, table_name), None)

    def truncate_table(self, table_name: str, load_id: str) -> None:
        if not any(committed == f"truncate:{load_id}" for committed, _ in self._parts(table_name)):
            self._parts(table_name)[:] = [(f"truncate:{load_id}", pa.table({}))]

    def optimize(self, table_name: str, *, target_size: int | None = None) -> MaintenanceResult:
        parts = self._parts(table_name)
        merged = pa.concat_tables([part for _, part in parts], promote_options="default")
        details = {"parts_before": len(parts)}
        parts[:] = [(load_id, merged.slice(0, 0)) for load_id, _ in parts[1:]]
        parts.insert(0, ("optimized", merged))
        return MaintenanceResult(table_name, self.name, "optimize", details)

    def vacuum(
        self, table_name: str, *, retention_hours: int, dry_run: bool = False
    ) -> MaintenanceResult:
        return MaintenanceResult(table_name, self.name, "vacuum", {"skipped": "no files"})

    def expire_snapshots(
        self, table_name: str, *, older_than: datetime.datetime
    ) -> MaintenanceResult:
        return MaintenanceResult(table_name, self.name, "expire_snapshots", {"expired": 0})


def test_the_memory_format_implements_the_whole_protocol() -> None:
    members = set(TableFormat.__annotations__) | {
        name for name in vars(TableFormat) if not name.startswith("_")
    }
    assert {"commit", "read_table", "optimize", "vacuum", "expire_snapshots"} <= members
    assert {"supports_merge", "name"} <= members
    assert [name for name in sorted(members) if not hasattr(MemoryFormat, name)] == []


def test_a_format_that_only_implements_the_protocol_carries_a_pipeline(
    tmp_path: Path, pipelines_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(base._REGISTRY, "delta", f"{__name__}:MemoryFormat")
    monkeypatch.setattr(MemoryFormat, "tables", {})
    pipeline = quiver.pipeline(
        "seam",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(tmp_path / "lake")),
        dataset_name="ds",
    )
    dataset = pipeline.destination.location().join("ds").url  # type: ignore[union-attr]
    first = pipeline.run(
        [{"id": 1, "tags": [{"t": "a"}, {"t": "b"}]}, {"id": 2, "tags": []}], table_name="items"
    )
    second = pipeline.run([{"id": 3, "tags": [{"t": "c"}]}], table_name="items")
    assert first is not None and second is not None
    load_ids = first.loads_ids + second.loads_ids

    def table(name: str) -> pa.Table:
        parts = MemoryFormat.tables[(dataset, name)]
        return pa.concat_tables([part for _, part in parts], promote_options="default")

    assert sorted(table("items")["id"].to_pylist()) == [1, 2, 3]
    assert sorted(table("items__tags")["t"].to_pylist()) == ["a", "b", "c"]
    assert table("_dlt_loads")["load_id"].to_pylist() == load_ids
    assert table("_dlt_version").num_rows == 1  # read back through read_table: not stored twice
    assert [load_id for load_id, _ in MemoryFormat.tables[(dataset, "items")]] == load_ids

    results = maintenance.optimize(pipeline, ["items", "items__tags"])
    assert {(r.table_name, r.table_format, r.details["parts_before"]) for r in results} == {
        ("items", "memory", 2),
        ("items__tags", "memory", 2),
    }
    vacuumed = maintenance.vacuum(pipeline, ["items"])
    assert [(r.action, r.skipped) for r in vacuumed] == [("vacuum", True)]
    assert sorted(table("items")["id"].to_pylist()) == [1, 2, 3]

    with pytest.raises(quiver.PipelineStepFailed, match="'memory' table format cannot load"):
        pipeline.run([{"id": 1}], table_name="merged", write_disposition="merge", primary_key="id")


# ---------------------------------------------------------------------------- source checks
def _modules(*relative: str) -> list[Path]:
    paths: list[Path] = []
    for name in relative:
        target = SRC / name
        paths.extend(sorted(target.rglob("*.py")) if target.is_dir() else [target])
    return paths


def _where(path: Path) -> str:
    return str(path.relative_to(SRC)) if path.is_relative_to(SRC) else path.name


def _private_accesses(path: Path) -> list[str]:
    """``x._name`` where ``x`` is not ``self``/``cls`` (dunders aside)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
        ):
            found.append(f"{_where(path)}:{node.lineno}: .{node.attr}")
    return found


def _format_dispatch(path: Path) -> list[str]:
    """Comparisons of something with a table format's name, and getattr(..., 'supports_merge')."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            names = {o.value for o in operands if isinstance(o, ast.Constant)}
            if names & FORMAT_NAMES:
                found.append(f"{_where(path)}:{node.lineno}: compares with {names}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr")
            and any(isinstance(a, ast.Constant) and a.value == "supports_merge" for a in node.args)
        ):
            found.append(f"{_where(path)}:{node.lineno}: getattr supports_merge")
    return found


def test_callers_of_formats_do_not_dispatch_on_their_names() -> None:
    callers = _modules("load", "maintenance.py", "pipeline", "destinations/base.py")
    assert [hit for path in callers for hit in _format_dispatch(path)] == []


def test_callers_of_formats_touch_no_private_members() -> None:
    callers = _modules(
        "load",
        "maintenance.py",
        "destinations/delta/merge.py",
        "destinations/iceberg/merge.py",
        "destinations/merge",
    )
    assert [hit for path in callers for hit in _private_accesses(path)] == []


def test_the_checks_see_what_they_look_for(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f(self, fmt, other):\n"
        "    if fmt.name == 'delta':\n"
        "        return fmt._open('t'), self._cache\n"
        "    return getattr(other, 'supports_merge', False)\n"
    )
    assert len(_format_dispatch(sample)) == 2
    assert _private_accesses(sample) == ["sample.py:3: ._open"]


#: Builtins that a user-visible raise must not use bare: a QuiverError leaf subclasses them.
BARE_BUILTINS = {
    "Exception",
    "ValueError",
    "TypeError",
    "KeyError",
    "RuntimeError",
    "OSError",
    "AttributeError",
}
#: Bare raises that are part of a Python protocol, not errors a user sees.
PROTOCOL_RAISES = {("destinations/location.py", "AttributeError")}  # module __getattr__


def _bare_raises(path: Path) -> list[str]:
    bare = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Raise) or node.exc is None:
            continue
        target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        if not isinstance(target, ast.Name) or target.id not in BARE_BUILTINS:
            continue
        if (_where(path), target.id) not in PROTOCOL_RAISES:
            bare.append(f"{_where(path)}:{node.lineno}: raise {target.id}")
    return bare


def test_destinations_load_and_maintenance_raise_quiver_errors(tmp_path: Path) -> None:
    modules = _modules("destinations", "load", "maintenance.py")
    assert [hit for path in modules for hit in _bare_raises(path)] == []
    sample = tmp_path / "sample.py"
    sample.write_text("def f(x):\n    if x:\n        raise ValueError(x)\n    raise SomeError\n")
    assert _bare_raises(sample) == ["sample.py:3: raise ValueError"]
