"""One exception tree: quiver raises QuiverError leaves that also subclass the builtin they resemble.

Three kinds of checks:

- the source: no module raises a bare ``ValueError``/``TypeError``/... (parsed with ast), except
  at sites listed as guards of internal invariants (a bug in quiver if they fire);
- the tree: every class in :mod:`quiver.errors` derives from :class:`QuiverError`, and the errors
  that user-facing code raises are also catchable as the builtin they resemble;
- behaviour: errors from a real pipeline run into a local Delta table keep their type, their
  chain and the table and load id they are about.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import quiver
from quiver import errors
from quiver.errors import (
    CannotCoerceNullError,
    DataValidationError,
    InvalidIdentifier,
    InvalidSchemaContract,
    InvalidSchemaFile,
    NameCollisionError,
    NormalizeJobFailed,
    PipelineStepFailed,
    QuiverError,
    UnserializableValue,
    UnsupportedDataType,
)
from quiver.normalize.contracts import SchemaContract
from quiver.package import typed_json
from quiver.schema import yaml_io
from quiver.schema.naming import SnakeCaseNaming
from quiver.schema.types import column_to_arrow

SRC = Path(__file__).resolve().parents[1] / "src" / "quiver"

#: Folders (or top-level modules, as ``name.py``) under ``src/quiver`` whose raise sites are
#: checked. Add an area here once its raises are QuiverError leaves.
CHECKED_AREAS: tuple[str, ...] = tuple(
    p.name for p in sorted(SRC.iterdir()) if p.name not in ("__pycache__", "py.typed")
)

#: Builtins that a user-facing raise must not use bare (a QuiverError leaf subclasses them).
BARE_BUILTINS = frozenset(
    {"Exception", "ValueError", "TypeError", "KeyError", "RuntimeError", "NotImplementedError"}
)

#: Raises of a bare builtin that guard an internal invariant (a bug in quiver if they fire):
#: ``(path relative to src/quiver, enclosing function's qualified name, builtin) -> why``.
INTERNAL_INVARIANT_RAISES: dict[tuple[str, str, str], str] = {
    ("extract/steps.py", "Step.__call__", "NotImplementedError"): "abstract method",
    ("settings.py", "resolve", "TypeError"): "quiver's own code passed an unknown setting",
    (
        "settings.py",
        "_cast",
        "TypeError",
    ): "a settings dataclass declares a type config cannot give",
}


def _checked_modules() -> list[Path]:
    modules: list[Path] = []
    for area in CHECKED_AREAS:
        path = SRC / area
        modules += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return modules


class _RaiseFinder(ast.NodeVisitor):
    """Finds ``raise Builtin(...)`` and ``raise Builtin`` with the enclosing qualified name."""

    def __init__(self) -> None:
        self.scope: list[str] = []
        self.found: list[tuple[str, str, int]] = []  # (qualname, builtin, line)

    def _visit_scope(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_FunctionDef = _visit_scope
    visit_AsyncFunctionDef = _visit_scope
    visit_ClassDef = _visit_scope

    def visit_Raise(self, node: ast.Raise) -> None:
        raised = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        if isinstance(raised, ast.Name) and raised.id in BARE_BUILTINS:
            self.found.append((".".join(self.scope) or "<module>", raised.id, node.lineno))
        self.generic_visit(node)


def _bare_raises() -> dict[tuple[str, str, str], list[int]]:
    sites: dict[tuple[str, str, str], list[int]] = {}
    for path in _checked_modules():
        finder = _RaiseFinder()
        finder.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        relative = path.relative_to(SRC).as_posix()
        for qualname, builtin, line in finder.found:
            sites.setdefault((relative, qualname, builtin), []).append(line)
    return sites


def test_the_checked_areas_exist() -> None:
    """A renamed folder must not silently drop out of the check."""
    assert all((SRC / area).exists() for area in CHECKED_AREAS)
    assert len(_checked_modules()) > 10


def test_no_bare_builtin_raises_outside_internal_invariants() -> None:
    sites = _bare_raises()
    offending = [
        f"src/quiver/{path}:{lines[0]} in {qualname}: raise {builtin}"
        for (path, qualname, builtin), lines in sorted(sites.items())
        if (path, qualname, builtin) not in INTERNAL_INVARIANT_RAISES
    ]
    assert not offending, (
        "User-facing errors must be QuiverError leaves from quiver.errors (that also subclass the "
        "builtin), with a message that ends with a hint. If a raise guards an internal invariant, "
        "add it to INTERNAL_INVARIANT_RAISES with the reason:\n" + "\n".join(offending)
    )
    stale = sorted(set(INTERNAL_INVARIANT_RAISES) - set(sites))
    assert not stale, f"INTERNAL_INVARIANT_RAISES lists sites that no longer raise: {stale}"


def test_the_raise_finder_sees_bare_raises() -> None:
    """The ast check would catch the shapes it is meant to catch."""
    source = (
        "def f():\n    raise ValueError('x')\n"
        "class C:\n    def m(self):\n        raise KeyError\n"
        "def g():\n    raise QuiverThing('fine')\n"
    )
    finder = _RaiseFinder()
    finder.visit(ast.parse(source))
    assert finder.found == [("f", "ValueError", 2), ("C.m", "KeyError", 5)]


# ------------------------------------------------------------------------------------ the tree
def _error_classes() -> list[type[BaseException]]:
    return [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if cls.__module__.startswith(errors.__name__) and issubclass(cls, BaseException)
    ]


#: Errors that wrap another one (kept as ``cause``/``exception``) and resemble no builtin.
WRAPPERS = {"NormalizeJobFailed", "PipelineStepFailed", "LoadError", "ResourceExtractionError"}
#: dlt's pipeline-level exceptions, which users catch by these names; they resemble no builtin.
WRAPPERS |= {"CannotRestorePipelineException", "DestinationHasFailedJobs", "PipelineException"}


def _builtin_bases(cls: type[BaseException]) -> set[type[BaseException]]:
    return {
        base
        for base in cls.__mro__
        if base.__module__ == "builtins" and base not in (BaseException, Exception, object)
    }


def test_every_error_class_is_a_quiver_error() -> None:
    classes = _error_classes()
    assert QuiverError in classes and len(classes) > 10
    assert [cls.__name__ for cls in classes if not issubclass(cls, QuiverError)] == []


def test_errors_raised_in_checked_areas_resemble_a_builtin() -> None:
    """What normalize, schema and package raise is a QuiverError *and* e.g. a ValueError."""
    raised: set[str] = set()
    for path in _checked_modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and node.exc is not None:
                target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                while isinstance(target, ast.Attribute):  # Error.named_constructor(...)
                    target = target.value
                if isinstance(target, ast.Name) and hasattr(errors, target.id):
                    raised.add(target.id)
    assert {"NameCollisionError", "CannotCoerceNullError", "InvalidIdentifier"} <= raised
    for name in sorted(raised - WRAPPERS):
        cls = getattr(errors, name)
        assert issubclass(cls, QuiverError), name
        assert _builtin_bases(cls), f"{name} should also subclass the builtin it resembles"


#: One instance of each leaf of the normalize, schema and package areas, from its constructors.
LEAVES: list[tuple[BaseException, type[BaseException]]] = [
    (InvalidIdentifier.none(), ValueError),
    (InvalidIdentifier.blank(" "), ValueError),
    (InvalidIdentifier.blank_path("__", "__"), ValueError),
    (InvalidIdentifier.max_length_too_small(3, 6, "a_long_name"), ValueError),
    (InvalidIdentifier.no_schema_name("_pipeline"), ValueError),
    (UnsupportedDataType.from_arrow_type(pa.duration("s")), TypeError),
    (UnsupportedDataType.unknown_data_type("varchar", ("text",)).at("t", "c"), TypeError),
    (InvalidSchemaContract.unknown_mode("ignore", "schema_contract", ("evolve",)), ValueError),
    (InvalidSchemaContract.unknown_entities(["rows"], ("tables",)), ValueError),
    (InvalidSchemaContract.wrong_shape(1), ValueError),
    (InvalidSchemaFile.not_a_schema("a.schema.yaml"), ValueError),
    (InvalidSchemaFile.tables_not_a_mapping("a.schema.yaml", "a"), ValueError),
    (InvalidSchemaFile.name_mismatch("a.schema.yaml", "b", "a"), ValueError),
    (UnserializableValue(object()), TypeError),
    (NameCollisionError("t", "a_b", "A B", "a_b"), ValueError),
    (CannotCoerceNullError("t", "c", 2, "123.4"), ValueError),
    (errors.CannotCoerceColumnError("t", "c", "text", "bigint", "x" * 500, "123.4"), ValueError),
    (errors.MissingPrimaryKeyColumn("t", ("id",), "id"), ValueError),
]


@pytest.mark.parametrize("error, builtin", LEAVES, ids=lambda v: type(v).__name__)
def test_leaves_are_catchable_as_their_builtin_and_end_with_a_hint(
    error: BaseException, builtin: type[BaseException]
) -> None:
    assert isinstance(error, QuiverError) and isinstance(error, builtin)
    message = str(error)
    assert "Hint:" in message and message.rstrip().endswith((".", ")", "'"))
    assert len(message) < 600  # huge example values are cut


# ----------------------------------------------------------------------- behaviour: unit level
def test_schema_and_package_errors_keep_their_builtin() -> None:
    with pytest.raises(ValueError, match="too small") as naming:
        SnakeCaseNaming(3)
    assert isinstance(naming.value, InvalidIdentifier)
    with pytest.raises(TypeError, match="varchar") as types:
        column_to_arrow({"data_type": "varchar"})
    assert isinstance(types.value, UnsupportedDataType)
    with pytest.raises(ValueError, match="top-level 'name'") as schema_file:
        yaml_io.from_yaml("tables: {}\n", source="x.schema.yaml")
    assert isinstance(schema_file.value, InvalidSchemaFile) and schema_file.value.path.startswith(
        "x"
    )
    with pytest.raises(TypeError, match="of type object") as state:
        typed_json.dumps({"cursor": object()})
    assert isinstance(state.value, UnserializableValue)
    with pytest.raises(ValueError, match="unknown mode") as contract:
        SchemaContract.expand("ignore")
    assert isinstance(contract.value, InvalidSchemaContract)


# ------------------------------------------------------------------ behaviour: a real pipeline
def _pipeline(pipelines_dir: str, bucket: Path) -> quiver.Pipeline:
    return quiver.pipeline(
        "errors",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
        dataset_name="ds",
    )


def _job_failure(failed: pytest.ExceptionInfo[PipelineStepFailed]) -> NormalizeJobFailed:
    """The step error wraps the job error, which wraps the original error object."""
    step = failed.value
    assert step.step == "normalize"
    job = step.exception
    assert isinstance(job, NormalizeJobFailed)
    assert step.__context__ is job  # dlt's chain
    assert job.__cause__ is job.cause and job.__context__ is job.cause
    assert job.load_id == step.load_id is not None
    assert type(job.cause).__name__ in str(job) and job.load_id in str(job)
    return job


def _caught_as(error: BaseException, builtin: type[BaseException]) -> bool:
    """Whether ``except <builtin>`` (a user's handler written for the builtin) catches it."""
    try:
        raise error
    except builtin as caught:
        return caught is error
    except BaseException:
        return False


def test_a_name_collision_is_a_quiver_value_error_with_table_and_load_id(
    pipelines_dir: str, bucket: Path
) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run([{"id": 1, "User Name": "a", "user_name": "b"}], table_name="t")
    job = _job_failure(failed)
    cause = job.cause
    assert isinstance(cause, NameCollisionError) and isinstance(cause, QuiverError)
    assert _caught_as(cause, ValueError)
    assert job.table_name == "t" and job.job_id is not None and job.job_id.startswith("t.")
    # Moved aside, not pending: it would fail the same way on every run.
    assert pipeline.list_extracted_load_packages() == []
    assert [f.load_id for f in pipeline.list_failed_packages()] == [job.load_id]
    assert not (bucket / "ds" / "t").exists()


def test_a_collision_in_a_nested_table_names_that_table(pipelines_dir: str, bucket: Path) -> None:
    rows = [{"id": 1, "items": [{"Sku Id": 1, "sku_id": 2}]}]
    with pytest.raises(PipelineStepFailed) as failed:
        _pipeline(pipelines_dir, bucket).run(rows, table_name="orders")
    job = _job_failure(failed)
    assert isinstance(job.cause, NameCollisionError)
    assert job.table_name == "orders__items" and job.job_id is not None
    assert job.job_id.startswith("orders.")


def test_a_null_in_a_not_nullable_column_is_a_quiver_value_error(
    pipelines_dir: str, bucket: Path
) -> None:
    resource = quiver.resource(
        [{"id": 1, "name": "a"}, {"id": 2, "name": None}],
        name="t",
        columns={"name": {"data_type": "text", "nullable": False}},
    )
    with pytest.raises(PipelineStepFailed) as failed:
        _pipeline(pipelines_dir, bucket).run(resource)
    job = _job_failure(failed)
    cause = job.cause
    assert isinstance(cause, CannotCoerceNullError) and isinstance(cause, QuiverError)
    assert _caught_as(cause, ValueError)
    assert (cause.table_name, cause.column_name, cause.null_count) == ("t", "name", 1)
    assert cause.load_id == job.load_id and job.table_name == "t"
    assert str(cause).rstrip().endswith("}}.")  # the hint with the nullable column hint


def test_an_arrow_type_without_a_data_type_names_table_and_column(
    pipelines_dir: str, bucket: Path
) -> None:
    table = pa.table({"id": [1], "took": pa.array([5], pa.duration("s"))})
    with pytest.raises(PipelineStepFailed) as failed:
        _pipeline(pipelines_dir, bucket).run(table, table_name="t")
    job = _job_failure(failed)
    cause = job.cause
    assert isinstance(cause, UnsupportedDataType) and _caught_as(cause, TypeError)
    assert (cause.table_name, cause.column_name) == ("t", "took")
    assert "Column `took` of table `t`" in str(cause) and "duration" in str(cause)


def test_a_frozen_contract_names_the_table_of_its_first_violation(
    pipelines_dir: str, bucket: Path
) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    pipeline.run([{"id": 1}], table_name="t")
    resource = quiver.resource([{"id": 2, "extra": "x"}], name="t", schema_contract="freeze")
    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run(resource)
    job = _job_failure(failed)
    assert isinstance(job.cause, DataValidationError) and isinstance(job.cause, ValueError)
    # Contracts are checked for the whole package at once, not per job file.
    assert job.table_name == "t" and job.job_id is None


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_job_among_several_keeps_its_chain(
    pipelines_dir: str, bucket: Path, workers: int
) -> None:
    """With parallel workers the job error crosses a thread and still carries its cause."""

    @quiver.source(name="two")
    def two() -> Any:
        yield quiver.resource([{"id": 1}], name="good")
        yield quiver.resource([{"id": 1, "A B": 1, "a_b": 2}], name="bad")

    pipeline = _pipeline(pipelines_dir, bucket)
    pipeline.extract(two())
    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.normalize(workers=workers)
    job = _job_failure(failed)
    assert isinstance(job.cause, NameCollisionError) and job.table_name == "bad"
