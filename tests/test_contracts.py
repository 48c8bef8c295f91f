"""Schema contracts: every entity, mode and place to set them, read back from Delta.

Modelled on dlt's tests/pipeline/test_schema_contracts.py: a table ``items`` is loaded once with
the default contract, then data that would add a column, a variant or a table is loaded under a
contract set on the source, the resource or ``run()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

import quiver
from quiver.errors import DataValidationError, NormalizeJobFailed, PipelineStepFailed
from quiver.normalize.contracts import SchemaContract
from quiver.normalize.dead_letter import read_dead_letters

MODES = ["evolve", "freeze", "discard_row", "discard_value"]
LOCATIONS = ["source", "resource", "run"]


def _pipeline(pipelines_dir: str, bucket: Path) -> quiver.Pipeline:
    return quiver.pipeline(
        "contracts",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
        dataset_name="ds",
    )


def _run(
    pipeline: quiver.Pipeline,
    rows: list[dict[str, Any]],
    contract: Any = None,
    location: str = "resource",
    table: str = "items",
) -> Any:
    """Run ``rows`` into ``table`` with ``contract`` set at ``location``."""

    @quiver.source(name="shop", schema_contract=contract if location == "source" else None)
    def shop() -> Any:
        return quiver.resource(
            rows, name=table, schema_contract=contract if location == "resource" else None
        )

    return pipeline.run(shop(), schema_contract=contract if location == "run" else None)


def _rows(bucket: Path, table: str = "items") -> list[dict[str, Any]]:
    frame = pl.read_delta(str(bucket / "ds" / table))
    return frame.drop([c for c in frame.columns if c.startswith("_dlt")]).sort("id").to_dicts()


def _cause(error: PipelineStepFailed) -> BaseException:
    """dlt's chain: PipelineStepFailed → NormalizeJobFailed → the cause."""
    job = error.__context__
    assert isinstance(job, NormalizeJobFailed)
    assert job.__context__ is not None
    return job.__context__


BASE = [{"id": 1, "name": "a", "some_int": 1}, {"id": 2, "name": "b", "some_int": 2}]


@pytest.mark.parametrize("location", LOCATIONS)
@pytest.mark.parametrize("mode", MODES)
def test_new_columns(pipelines_dir: str, bucket: Path, mode: str, location: str) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    _run(pipeline, BASE)
    new = [{"id": 3, "name": "c", "New^Col": "hello"}, {"id": 4, "name": "d"}]
    if mode == "freeze":
        with pytest.raises(PipelineStepFailed) as failed:
            _run(pipeline, new, {"columns": mode}, location)
        cause = _cause(failed.value)
        assert isinstance(cause, DataValidationError)
        assert (cause.table_name, cause.column_name) == ("items", "new_col")
        assert (cause.schema_entity, cause.contract_mode) == ("columns", "freeze")
        assert cause.example == "hello"
        assert "`new_col`" in str(cause) and "`items`" in str(cause) and "'hello'" in str(cause)
        # Moved aside (it fails the same way on every run), not left pending.
        assert not pipeline.has_pending_data
        assert [f.load_id for f in pipeline.list_failed_packages()] == [failed.value.load_id]
        assert [r["id"] for r in _rows(bucket)] == [1, 2]
        return
    _run(pipeline, new, {"columns": mode}, location)
    rows = _rows(bucket)
    columns = pipeline.default_schema.tables["items"]["columns"]
    if mode == "evolve":
        assert [(r["id"], r["new_col"]) for r in rows] == [
            (1, None),
            (2, None),
            (3, "hello"),
            (4, None),
        ]
        return
    assert "new_col" not in columns and "new_col" not in rows[0]
    assert [r["id"] for r in rows] == ([1, 2, 4] if mode == "discard_row" else [1, 2, 3, 4])
    package = Path(pipeline.working_dir) / "loaded" / pipeline.list_completed_load_packages()[-1]
    dead = read_dead_letters(package, "items")
    assert dead is not None
    assert dead.select(
        ["id", "new_col", "_dlt_contract_entity", "_dlt_contract_mode", "_dlt_contract_column"]
    ).to_pylist() == [
        {
            "id": 3,
            "new_col": "hello",
            "_dlt_contract_entity": "columns",
            "_dlt_contract_mode": mode,
            "_dlt_contract_column": "new_col",
        }
    ]


@pytest.mark.parametrize("mode", MODES)
def test_variants_follow_the_data_type_contract(
    pipelines_dir: str, bucket: Path, mode: str
) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    _run(pipeline, BASE)
    rows = [{"id": 3, "name": "c", "some_int": "hello"}, {"id": 4, "name": "d", "some_int": "4"}]
    if mode == "freeze":
        with pytest.raises(PipelineStepFailed) as failed:
            _run(pipeline, rows, {"data_type": mode})
        cause = _cause(failed.value)
        assert isinstance(cause, DataValidationError)
        assert (cause.column_name, cause.schema_entity) == ("some_int__v_text", "data_type")
        return
    pipeline.extract(
        quiver.resource(rows, name="items", schema_contract={"data_type": mode}), schema=None
    )
    info = pipeline.normalize()
    pipeline.load()
    got = [(r["id"], r["some_int"], r.get("some_int__v_text")) for r in _rows(bucket)]
    if mode == "evolve":
        assert got == [(1, 1, None), (2, 2, None), (3, None, "hello"), (4, 4, None)]
        return
    assert "some_int__v_text" not in pipeline.default_schema.tables["items"]["columns"]
    if mode == "discard_row":
        assert got == [(1, 1, None), (2, 2, None), (4, 4, None)]
        assert info is not None and info.discarded_row_counts == {"items": 1}
    else:
        assert got == [(1, 1, None), (2, 2, None), (3, None, None), (4, 4, None)]
        assert info is not None and info.discarded_value_counts == {"items": 1}


@pytest.mark.parametrize("mode", MODES)
def test_new_tables(pipelines_dir: str, bucket: Path, mode: str) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    _run(pipeline, BASE)
    new_items = [{"id": i, "x": i} for i in range(3)]
    if mode == "freeze":
        with pytest.raises(PipelineStepFailed) as failed:
            _run(pipeline, new_items, {"tables": mode}, "run", table="new_items")
        # dlt checks the ``tables`` contract at extract: the cause is the step's __context__.
        assert failed.value.step == "extract"
        cause = failed.value.__context__
        assert isinstance(cause, DataValidationError)
        assert (cause.table_name, cause.column_name, cause.schema_entity) == (
            "new_items",
            None,
            "tables",
        )
        assert cause.example == {"id": 0, "x": 0}
        return
    extracted = pipeline.extract(
        quiver.resource(new_items, name="new_items", schema_contract={"tables": mode})
    )
    info = pipeline.normalize()
    pipeline.load()
    assert info is not None
    if mode == "evolve":
        assert [r["id"] for r in _rows(bucket, "new_items")] == [0, 1, 2]
    else:
        assert not (bucket / "ds" / "new_items").exists()
        # Dropped at extract (as dlt does): the rows never reach a package.
        assert "new_items" not in extracted.row_counts
        assert "columns" not in pipeline.default_schema.tables.get("new_items", {}) or not any(
            "data_type" in c
            for c in pipeline.default_schema.tables["new_items"]["columns"].values()
        )


def test_new_nested_table_under_frozen_tables(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    _run(pipeline, BASE)
    rows = [{"id": 3, "name": "c", "sub_items": [{"x": 1}]}]
    with pytest.raises(PipelineStepFailed) as failed:
        _run(pipeline, rows, {"tables": "freeze"})
    assert _cause(failed.value).table_name == "items__sub_items"  # type: ignore[attr-defined]
    pipeline.drop_pending_packages()
    # discard_row on the nested table drops its rows only; the parent row is loaded.
    _run(pipeline, rows, {"tables": "discard_row"})
    assert [r["id"] for r in _rows(bucket)] == [1, 2, 3]
    assert not (bucket / "ds" / "items__sub_items").exists()


def test_a_new_table_may_evolve_its_columns_once(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    frozen = {"columns": "freeze"}
    # First load: the table is new, so its columns (from several batches) may be added.
    _run(pipeline, [{"id": 1, "a": 1}, {"id": 2, "b": 2}], frozen)
    assert [(r["id"], r["a"], r["b"]) for r in _rows(bucket)] == [(1, 1, None), (2, None, 2)]
    assert "evolve-columns-once" not in pipeline.default_schema.tables["items"].get(
        "x-normalizer", {}
    )
    # Then the columns are frozen.
    with pytest.raises(PipelineStepFailed, match="`c`"):
        _run(pipeline, [{"id": 3, "c": 3}], frozen)


def test_a_new_table_with_typed_hints_may_evolve_once(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    resource = quiver.resource(
        [{"id": 1, "extra": "x"}],
        name="items",
        columns={"id": {"data_type": "bigint"}},
        schema_contract={"columns": "freeze"},
    )
    pipeline.run(resource)
    assert [(r["id"], r["extra"]) for r in _rows(bucket)] == [(1, "x")]


def test_precedence_run_over_resource_over_source(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    _run(pipeline, BASE)

    def run(source_contract: Any, resource_contract: Any, run_contract: Any, new_id: int) -> None:
        @quiver.source(name="shop", schema_contract=source_contract)
        def shop() -> Any:
            return quiver.resource(
                [{"id": new_id, f"col_{new_id}": 1}],
                name="items",
                schema_contract=resource_contract,
            )

        pipeline.run(shop(), schema_contract=run_contract)

    run("freeze", "evolve", None, 10)  # resource beats source
    assert "col_10" in pipeline.default_schema.tables["items"]["columns"]
    run(None, "freeze", "evolve", 11)  # run beats resource
    assert "col_11" in pipeline.default_schema.tables["items"]["columns"]
    with pytest.raises(PipelineStepFailed):
        run("evolve", "freeze", None, 12)
    pipeline.drop_pending_packages()
    with pytest.raises(PipelineStepFailed):
        run("evolve", None, "freeze", 13)
    pipeline.drop_pending_packages()
    # A source contract applies to tables whose resources set none.
    with pytest.raises(PipelineStepFailed):
        run("freeze", None, None, 14)


def test_discarded_parent_rows_take_their_nested_rows(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    _run(pipeline, [{"id": 1, "name": "a", "tags": ["x"]}])
    rows = [
        {"id": 2, "name": "b", "tags": ["y", "z"], "extra": True},
        {"id": 3, "name": "c", "tags": ["w"]},
    ]
    pipeline.extract(
        quiver.resource(rows, name="items", schema_contract={"columns": "discard_row"})
    )
    info = pipeline.normalize()
    pipeline.load()
    assert info is not None
    assert info.discarded_row_counts == {"items": 1, "items__tags": 2}
    assert info.row_counts == {"items": 1, "items__tags": 1}
    assert sorted(
        r["value"] for r in pl.read_delta(str(bucket / "ds" / "items__tags")).to_dicts()
    ) == ["w", "x"]


def test_nested_table_discard_keeps_the_parent(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    _run(pipeline, [{"id": 1, "subs": [{"x": 1}]}])
    _run(
        pipeline, [{"id": 2, "subs": [{"x": 2, "y": "new"}, {"x": 3}]}], {"columns": "discard_row"}
    )
    assert [r["id"] for r in _rows(bucket)] == [1, 2]
    assert sorted(r["x"] for r in pl.read_delta(str(bucket / "ds" / "items__subs")).to_dicts()) == [
        1,
        3,
    ]


def test_many_violations_are_raised_once(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    _run(pipeline, BASE)
    row = {"id": 9, **{f"extra_{i}": i for i in range(8)}}
    with pytest.raises(PipelineStepFailed) as failed:
        _run(pipeline, [row], "freeze")
    cause = _cause(failed.value)
    assert isinstance(cause, DataValidationError)
    assert len(cause.violations) == 8  # type: ignore[attr-defined]
    assert "... and 3 more" in str(cause)
    assert cause.schema_contract == {"tables": "freeze", "columns": "freeze", "data_type": "freeze"}  # type: ignore[attr-defined]


def test_arrow_items_follow_contracts(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    pipeline.run(quiver.resource(pa.table({"id": [1, 2]}), name="items"))
    extra = pa.table({"id": [3, 4], "extra": ["x", None]})
    with pytest.raises(PipelineStepFailed, match="`extra`"):
        pipeline.run(quiver.resource(extra, name="items", schema_contract={"columns": "freeze"}))
    pipeline.drop_pending_packages()
    pipeline.run(quiver.resource(extra, name="items", schema_contract={"columns": "discard_row"}))
    assert [r["id"] for r in _rows(bucket)] == [1, 2, 4]


def test_type_hint_on_a_loaded_column(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    _run(pipeline, BASE)
    retyped = quiver.resource(
        [{"id": 3, "some_int": 5}],
        name="items",
        columns={"some_int": {"data_type": "text"}},
        schema_contract={"data_type": "freeze"},
    )
    with pytest.raises(PipelineStepFailed, match="data_type"):
        pipeline.run(retyped)
    pipeline.drop_pending_packages()
    # Without a frozen contract the stored type is kept: the table already holds bigints.
    # (Table hints persist, as in dlt: the contract must be set back explicitly.)
    pipeline.run(
        quiver.resource(
            [{"id": 3, "some_int": 5}],
            name="items",
            columns={"some_int": {"data_type": "text"}},
            schema_contract={"data_type": "evolve"},
        )
    )
    assert pipeline.default_schema.tables["items"]["columns"]["some_int"]["data_type"] == "bigint"
    assert _rows(bucket)[-1]["some_int"] == 5


def test_contract_shorthand_and_validation() -> None:
    assert SchemaContract.expand("freeze").to_dict() == {
        "tables": "freeze",
        "columns": "freeze",
        "data_type": "freeze",
    }
    assert SchemaContract.expand({"columns": "discard_value"}).to_dict() == {
        "tables": "evolve",
        "columns": "discard_value",
        "data_type": "evolve",
    }
    with pytest.raises(ValueError, match="unknown mode"):
        SchemaContract.expand({"columns": "ignore"})
    with pytest.raises(ValueError, match="unknown entities"):
        SchemaContract.expand({"rows": "freeze"})


def test_a_new_nested_table_evolves_over_all_batches(
    pipelines_dir: str, bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA_WRITER__BUFFER_MAX_ITEMS", "1")  # one batch per row
    pipeline = _pipeline(pipelines_dir, bucket)
    _run(pipeline, BASE)
    rows = [{"id": 3, "subs": [{"x": 1}]}, {"id": 4, "subs": [{"x": 2, "y": "later"}]}]
    _run(pipeline, rows, {"columns": "freeze"})
    subs = pl.read_delta(str(bucket / "ds" / "items__subs")).sort("x")
    assert subs["y"].to_list() == [None, "later"]
