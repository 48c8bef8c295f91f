"""One hint vocabulary, checked where it is given: typos, unknown values, unsupported arguments.

Behaviour from dlt's documentation: ``dlt.mark.make_hints`` is the one ``make_hints``, it
"accepts the same table hints arguments as dlt.resource" and returns resource hints;
``with_hints`` "marks item to update the resource with specified hints", and "setting
table_name will dispatch the item to a specified table, like with_table_name".
"""

from __future__ import annotations

import ast
import doctest
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import quiver
from quiver import errors
from quiver.destinations.adapters import iceberg_adapter
from quiver.errors import (
    IncrementalError,
    InvalidHintValue,
    InvalidSchemaContract,
    NotSupportedYet,
    PipelineStepFailed,
    QuiverError,
    ResourcesNotFound,
    UnknownArgument,
)
from quiver.extract import adapters, decorators, hints, resource_hints
from quiver.extract.hints import make_hints
from tests.extract_support import extracted_rows, package_tables

SRC = Path(quiver.__file__).parent

# ------------------------------------------------------------------------- unknown arguments


def _users() -> Any:
    yield {"id": 1}


TYPOS: dict[str, Callable[[], Any]] = {
    "decorator": lambda: quiver.resource(primary_keys="id")(_users),
    "on data": lambda: quiver.resource([{"id": 1}], name="users", primary_keys="id"),
    "transformer": lambda: quiver.transformer(primary_keys="id")(lambda item, n=1: item),
    "apply_hints": lambda: quiver.resource([{"id": 1}], name="users").apply_hints(
        primary_keys="id"  # type: ignore[call-arg]
    ),
    "make_hints": lambda: quiver.mark.make_hints(primary_keys="id"),  # type: ignore[call-arg]
}


@pytest.mark.parametrize("call", TYPOS.values(), ids=TYPOS.keys())
def test_a_typo_raises_with_the_closest_argument(call: Callable[[], Any]) -> None:
    with pytest.raises(UnknownArgument) as caught:
        call()
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, QuiverError)
    message = str(caught.value)
    assert "'primary_keys'" in message and "Did you mean 'primary_key'?" in message
    assert message.rstrip().endswith("].")  # the hint lists what the function takes


def test_a_typo_names_the_resource() -> None:
    with pytest.raises(UnknownArgument, match="resource '_users'"):
        quiver.resource(primary_keys="id")(_users)
    with pytest.raises(UnknownArgument, match="resource 'items'"):
        quiver.resource([{"id": 1}], name="items").apply_hints(writedisposition="merge")  # type: ignore[call-arg]


def test_typos_in_options_sources_and_bound_arguments() -> None:
    with pytest.raises(UnknownArgument, match="Did you mean 'selected'"):
        quiver.resource([{"id": 1}], name="r", selectd=False)
    with pytest.raises(UnknownArgument, match="Did you mean 'name'"):
        quiver.source(nme="shop")  # type: ignore[call-overload]

    @quiver.source
    def shop() -> Any:
        return quiver.resource([{"id": 1}], name="orders")

    with pytest.raises(UnknownArgument, match="Did you mean 'section'"):
        shop.with_args(sectoin="x")

    @quiver.resource
    def numbers(start: int, count: int = 2) -> Any:
        yield [{"id": start + i} for i in range(count)]

    with pytest.raises(UnknownArgument, match="Did you mean 'start'"):
        numbers(strat=1)
    with pytest.raises(ResourcesNotFound, match="Did you mean 'orders'"):
        shop().with_resources("order")


# ---------------------------------------------------------------------- values and vocabulary

BAD_VALUES: dict[str, tuple[dict[str, Any], str]] = {
    "write_disposition": ({"write_disposition": "mege"}, "Did you mean 'merge'?"),
    "strategy": (
        {"write_disposition": {"disposition": "merge", "strategy": "upsrt"}},
        "Did you mean 'upsert'?",
    ),
    "dict key": (
        {"write_disposition": {"disposition": "merge", "stratgy": "scd2"}},
        "Did you mean 'strategy'?",
    ),
    "table_format": ({"table_format": "icebreg"}, "Did you mean 'iceberg'?"),
}


@pytest.mark.parametrize("given,did_you_mean", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_unknown_values_fail_where_they_are_given(given: dict[str, Any], did_you_mean: str) -> None:
    for apply in (
        lambda: quiver.resource([{"id": 1}], name="events", **given),
        lambda: quiver.resource([{"id": 1}], name="events").apply_hints(**given),
    ):
        with pytest.raises(InvalidHintValue) as caught:
            apply()
        assert isinstance(caught.value, ValueError)
        assert "resource 'events'" in str(caught.value) and did_you_mean in str(caught.value)
    with pytest.raises(InvalidHintValue, match=did_you_mean):
        make_hints(**given)


def test_unknown_contract_modes_and_entities() -> None:
    with pytest.raises(InvalidSchemaContract, match="Did you mean 'freeze'") as caught:
        quiver.resource([{"id": 1}], name="events", schema_contract="freez")  # type: ignore[arg-type]
    assert isinstance(caught.value, ValueError) and "resource 'events'" in str(caught.value)
    with pytest.raises(InvalidSchemaContract, match="Did you mean 'columns'"):
        quiver.resource([{"id": 1}], name="e", schema_contract={"column": "freeze"})  # type: ignore[dict-item]
    with pytest.raises(InvalidSchemaContract, match="source 'shop'"):
        quiver.source(name="shop", schema_contract="evolv")  # type: ignore[arg-type]


def test_valid_values_callables_and_empty_resets_pass() -> None:
    resource = quiver.resource(
        [{"id": 1, "kind": "a"}],
        name="events",
        table_name=lambda row: row["kind"],
        write_disposition=lambda row: "replace",
        table_format="files",  # an alias of "native"
        schema_contract={"columns": "freeze"},
    )
    resource.apply_hints(write_disposition="", table_format="")
    assert resource.write_disposition == "append" and resource.table_format is None


def test_a_dynamic_hint_is_checked_when_it_is_resolved(pipelines_dir: str) -> None:
    resource = quiver.resource(
        [{"id": 1, "kind": "a"}],
        name="events",
        table_name=lambda row: row["kind"],
        write_disposition=lambda row: "mege",
    )
    pipeline = quiver.pipeline("dynamic", pipelines_dir=pipelines_dir)
    with pytest.raises(PipelineStepFailed) as caught:
        pipeline.extract(resource)
    assert isinstance(caught.value.exception, InvalidHintValue)
    assert "resource 'events'" in str(caught.value.exception)


# ---------------------------------------------------------------- make_hints and with_hints


def test_mark_make_hints_is_the_one_make_hints() -> None:
    assert quiver.mark.make_hints is make_hints


@pytest.mark.parametrize(
    "given",
    [
        {"write_disposition": {"disposition": "merge", "strategy": "scd2"}, "primary_key": "id"},
        {"columns": [{"name": "v", "data_type": "text"}], "table_format": "iceberg"},
        {"write_disposition": "replace", "merge_key": ["a", "b"], "max_table_nesting": 1},
    ],
)
def test_with_hints_and_apply_hints_give_the_same_resource(given: dict[str, Any]) -> None:
    applied = quiver.resource([{"id": 1}], name="r", columns={"v": {"nullable": False}})
    merged = applied.with_name("r")
    applied.apply_hints(**given)
    merged.merge_hints(make_hints(**given))
    assert merged.hints == applied.hints
    stored = merged.hints
    assert merged.merge_hints(stored).hints == stored  # the stored form merges onto itself


def test_with_hints_changes_the_resource_for_later_items(pipelines_dir: str) -> None:
    @quiver.resource
    def evolving() -> Any:
        yield {"id": 1}
        yield quiver.mark.with_hints(
            [{"id": 2}],
            quiver.mark.make_hints(
                write_disposition={"disposition": "merge", "strategy": "upsert"},
                primary_key="id",
            ),
        )

    pipeline = quiver.pipeline("evolving", pipelines_dir=pipelines_dir)
    pipeline.extract(evolving())
    table = package_tables(pipeline)["evolving"]
    assert table["write_disposition"] == "merge" and table["x-merge-strategy"] == "upsert"
    assert table["columns"]["id"]["primary_key"] is True
    assert extracted_rows(pipeline, "evolving") == [{"id": 1}, {"id": 2}]


def test_with_hints_table_name_dispatches_the_item(pipelines_dir: str) -> None:
    @quiver.resource
    def events() -> Any:
        yield {"id": 1}
        yield quiver.mark.with_hints({"id": 2}, quiver.mark.make_hints(table_name="special"))

    pipeline = quiver.pipeline("dispatch", pipelines_dir=pipelines_dir)
    pipeline.extract(events())
    assert extracted_rows(pipeline, "events") == [{"id": 1}]
    assert extracted_rows(pipeline, "special") == [{"id": 2}]


def test_make_hints_inside_a_resource_names_it(pipelines_dir: str) -> None:
    @quiver.resource
    def evolving() -> Any:
        yield quiver.mark.with_hints({"id": 1}, quiver.mark.make_hints(write_disposition="mege"))  # type: ignore[arg-type]

    with pytest.raises(PipelineStepFailed) as caught:
        quiver.pipeline("named", pipelines_dir=pipelines_dir).extract(evolving())
    cause = caught.value.exception
    assert isinstance(cause, InvalidHintValue)
    assert "quiver.mark.make_hints() in resource 'evolving'" in str(cause)


def test_merge_hints_rejects_what_is_not_a_hint() -> None:
    resource = quiver.resource([{"id": 1}], name="r")
    with pytest.raises(InvalidHintValue, match="Did you mean 'primary_key'"):
        resource.merge_hints({"primary_keys": "id"})
    resource.merge_hints({"x-custom": 1, "primary_key": "id"})
    assert resource.hints == {"x-custom": 1, "primary_key": "id"}


# -------------------------------------------------------------------- not supported yet

UNSUPPORTED: dict[str, Callable[[], Any]] = {
    "resource references": lambda: quiver.resource(
        [{"id": 1}],
        name="r",
        references=[{"referenced_table": "t"}],  # type: ignore[arg-type]
    ),
    "resource nested_hints": lambda: quiver.resource(
        [{"id": 1}],
        name="r",
        nested_hints={"items": {"primary_key": "id"}},
    ),
    "resource spec": lambda: quiver.resource(spec=object)(_users),  # type: ignore[arg-type]
    "transformer spec": lambda: quiver.transformer(spec=object)(lambda item: item),  # type: ignore[arg-type]
    "source spec": lambda: quiver.source(spec=object),  # type: ignore[call-overload]
    "apply_hints references": lambda: quiver.resource([{"id": 1}], name="r").apply_hints(
        references=[]  # type: ignore[arg-type]
    ),
    "make_hints incremental": lambda: make_hints(
        incremental=quiver.sources.incremental("id")  # type: ignore[arg-type]
    ),
    "external schedulers": lambda: quiver.sources.incremental("id", allow_external_schedulers=True),
}


@pytest.mark.parametrize("call", UNSUPPORTED.values(), ids=UNSUPPORTED.keys())
def test_arguments_quiver_does_not_act_on_raise(call: Callable[[], Any]) -> None:
    with pytest.raises(NotSupportedYet, match="not supported yet") as caught:
        call()
    assert isinstance(caught.value, NotImplementedError)
    assert "Hint: " in str(caught.value)


def test_iceberg_adapter_partition_is_kept_through_run_hints() -> None:
    events = iceberg_adapter(quiver.resource([{"id": 1}], name="events"), partition="id")
    events.apply_hints(table_name="renamed")  # other hints leave the partition hint alone
    assert events.hints["x-iceberg-partition"][0]["column"] == "id"
    with pytest.raises(InvalidHintValue, match="Did you mean 'month'"):
        iceberg_adapter(events, partition=[{"column": "ts", "transform": "mnth", "name": None}])


# ------------------------------------------------------------------------------ the tree

MOVED = (
    "InconsistentTableTemplate",
    "UnboundResourceError",
    "IncrementalError",
    "IncrementalUnboundError",
    "IncrementalCursorPathMissing",
    "IncrementalCursorPathHasValueNone",
    "IncrementalPrimaryKeyMissing",
    "IncrementalCursorTypeError",
)


def test_extract_errors_live_in_the_one_error_module() -> None:
    for name in MOVED:
        cls = getattr(errors, name)
        assert issubclass(cls, QuiverError), name
        assert cls is IncrementalError or len(cls.__mro__) > 4, f"{name} resembles no builtin"
    defined = [
        node.name
        for path in (SRC / "extract").glob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
        and any(
            isinstance(b, ast.Name) and b.id.endswith(("Error", "Exception")) for b in node.bases
        )
    ]
    assert defined == []


def test_no_bare_builtin_raises_in_extract() -> None:
    bare = {
        "Exception",
        "ValueError",
        "TypeError",
        "KeyError",
        "RuntimeError",
        "NotImplementedError",
    }
    paths = [*(SRC / "extract").glob("*.py"), *(SRC / "sources").glob("*.py")]
    paths += [SRC / "mark.py", SRC / "current.py"]
    found = [
        f"{path.name}:{node.lineno}"
        for path in paths
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Raise)
        and isinstance(node.exc, ast.Call)
        and isinstance(node.exc.func, ast.Name)
        and node.exc.func.id in bare
    ]
    assert found == []


@pytest.mark.parametrize("module", [decorators, hints, resource_hints, adapters, quiver.mark])
def test_docstring_examples_run(module: Any) -> None:
    failed, attempted = doctest.testmod(module, verbose=False)
    assert attempted > 0 and failed == 0
