"""Nested data: flattening, child tables, max_table_nesting, Arrow unnesting, names.

Every expectation is read back from the Delta tables by polars (not by quiver). The shapes for
``max_table_nesting`` 0/1/2 are the ones dlt produces for the same document
(DLT_BEHAVIOUR.md §4.2).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

import quiver
from quiver.errors import NameCollisionError, PipelineStepFailed
from quiver.schema.naming import SnakeCaseNaming
from tests.readers import delta_rows_polars

DOC = {"id": 1, "a": {"b": {"c": 1}}, "l": [{"x": 1, "m": [{"y": 2}]}], "d": {"l2": [1, 2]}}
LINEAGE = {"_dlt_id", "_dlt_load_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_root_id"}


def _pipeline(pipelines_dir: str, bucket: Path, name: str = "nest") -> quiver.Pipeline:
    return quiver.pipeline(
        name,
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
        dataset_name="ds",
    )


def _tables(bucket: Path) -> dict[str, list[dict[str, Any]]]:
    """Every Delta table of the dataset (not the _dlt ones) as rows, lineage dropped."""
    result = {}
    for path in sorted((bucket / "ds").iterdir()):
        if path.name.startswith("_dlt"):
            continue
        frame = pl.read_delta(str(path))
        result[path.name] = frame.drop([c for c in frame.columns if c in LINEAGE]).to_dicts()
    return result


def test_max_table_nesting_0_1_2_match_dlt(pipelines_dir: str, bucket: Path) -> None:
    expected = {
        0: {
            "t": [
                {"id": 1, "a": '{"b":{"c":1}}', "l": '[{"x":1,"m":[{"y":2}]}]', "d": '{"l2":[1,2]}'}
            ]
        },
        1: {
            "t": [{"id": 1, "a__b": '{"c":1}', "d__l2": "[1,2]"}],
            "t__l": [{"x": 1, "m": '[{"y":2}]'}],
        },
        2: {
            "t": [{"id": 1, "a__b__c": 1}],
            "t__l": [{"x": 1}],
            "t__l__m": [{"y": 2}],
            "t__d__l2": [{"value": 1}, {"value": 2}],
        },
    }
    for nesting, tables in expected.items():
        lake = bucket / str(nesting)

        @quiver.resource(name="t", max_table_nesting=nesting)
        def t() -> Any:
            yield DOC

        pipeline = _pipeline(pipelines_dir, lake, f"nest{nesting}")
        pipeline.run(t())
        assert _tables(lake) == tables, nesting
        # Values kept whole are json columns stored as JSON text (dlt's parquet layout).
        schema = pipeline.default_schema.tables
        if nesting == 1:
            assert schema["t"]["columns"]["a__b"]["data_type"] == "json"
            assert pl.read_delta(str(lake / "ds" / "t")).schema["a__b"] == pl.String
        # dlt stores the resource hint as x-normalizer.max_nesting.
        assert schema["t"]["x-normalizer"]["max_nesting"] == nesting


def test_source_max_table_nesting(pipelines_dir: str, bucket: Path) -> None:
    @quiver.source(max_table_nesting=1)
    def src() -> Any:
        return quiver.resource([DOC], name="t")

    pipeline = _pipeline(pipelines_dir, bucket)
    pipeline.run(src())
    assert _tables(bucket) == {
        "t": [{"id": 1, "a__b": '{"c":1}', "d__l2": "[1,2]"}],
        "t__l": [{"x": 1, "m": '[{"y":2}]'}],
    }
    normalizers = pipeline.default_schema.to_dict()["normalizers"]
    assert normalizers["json"]["config"]["max_nesting"] == 1


def test_resource_nesting_wins_over_source(pipelines_dir: str, bucket: Path) -> None:
    @quiver.source(max_table_nesting=0)
    def src() -> Any:
        return quiver.resource([DOC], name="t", max_table_nesting=2)

    _pipeline(pipelines_dir, bucket).run(src())
    assert set(_tables(bucket)) == {"t", "t__l", "t__l__m", "t__d__l2"}


def test_lists_of_scalars_and_lists_of_lists(pipelines_dir: str, bucket: Path) -> None:
    rows = [{"id": 1, "tags": ["a", "b"], "m": [[1, 2], [3]]}, {"id": 2, "tags": [], "m": None}]
    _pipeline(pipelines_dir, bucket).run(rows, table_name="t")
    root = delta_rows_polars(bucket / "ds" / "t", "id")
    ids = {r["_dlt_id"]: r["id"] for r in root}
    tags = delta_rows_polars(bucket / "ds" / "t__tags", ["_dlt_parent_id", "_dlt_list_idx"])
    assert [(ids[r["_dlt_parent_id"]], r["_dlt_list_idx"], r["value"]) for r in tags] == [
        (1, 0, "a"),
        (1, 1, "b"),
    ]
    # dlt: each inner list is a row of the intermediate table t__m (lineage only), and its
    # values are rows of t__m__list.
    inner = pl.read_delta(str(bucket / "ds" / "t__m"))
    assert set(inner.columns) == {"_dlt_parent_id", "_dlt_list_idx", "_dlt_id"}
    assert sorted(inner["_dlt_list_idx"].to_list()) == [0, 1]
    values = delta_rows_polars(bucket / "ds" / "t__m__list", ["_dlt_parent_id", "_dlt_list_idx"])
    by_list = {row["_dlt_id"]: row["_dlt_list_idx"] for row in inner.to_dicts()}
    assert sorted(
        (by_list[v["_dlt_parent_id"]], v["_dlt_list_idx"], v["value"]) for v in values
    ) == [
        (0, 0, 1),
        (0, 1, 2),
        (1, 0, 3),
    ]


def test_json_hint_keeps_a_dict_whole(pipelines_dir: str, bucket: Path) -> None:
    rows = [{"id": 1, "meta": {"k": [1, 2], "v": "x"}}, {"id": 2, "meta": [1, 2]}]
    resource = quiver.resource(rows, name="t", columns={"meta": {"data_type": "json"}})
    _pipeline(pipelines_dir, bucket).run(resource)
    got = delta_rows_polars(bucket / "ds" / "t", "id")
    assert [json.loads(r["meta"]) for r in got] == [{"k": [1, 2], "v": "x"}, [1, 2]]
    assert not (bucket / "ds" / "t__meta").exists()


def test_arrow_keeps_nested_types_by_default(pipelines_dir: str, bucket: Path) -> None:
    table = pa.table({"id": [1, 2], "s": [{"a": 1, "b": "x"}, None], "l": [[1, 2], []]})
    _pipeline(pipelines_dir, bucket).run(table, table_name="t")
    frame = pl.read_delta(str(bucket / "ds" / "t"))
    assert frame.columns == ["id", "s", "l"]
    assert frame.schema["s"] == pl.Struct({"a": pl.Int64, "b": pl.String})
    assert not (bucket / "ds" / "t__l").exists()


def test_arrow_with_explicit_nesting_unnests_with_lineage(pipelines_dir: str, bucket: Path) -> None:
    table = pa.table(
        {"id": [1, 2], "s": [{"a": 1, "b": "x"}, None], "l": [[{"q": 5}, {"q": 6}], []]}
    )
    _pipeline(pipelines_dir, bucket).run(quiver.resource(table, name="t", max_table_nesting=1))
    root = delta_rows_polars(bucket / "ds" / "t", "id")
    assert [(r["id"], r["s__a"], r["s__b"]) for r in root] == [(1, 1, "x"), (2, None, None)]
    # Linking needs _dlt_id on the root; _dlt_load_id stays off for Arrow (dlt's default).
    assert "_dlt_id" in root[0] and "_dlt_load_id" not in root[0]
    children = delta_rows_polars(bucket / "ds" / "t__l", "_dlt_list_idx")
    assert [(c["_dlt_parent_id"], c["_dlt_list_idx"], c["q"]) for c in children] == [
        (root[0]["_dlt_id"], 0, 5),
        (root[0]["_dlt_id"], 1, 6),
    ]


@pytest.mark.parametrize("switch", ["ADD_DLT_LOAD_ID", "ADD_DLT_ID"])
def test_parquet_normalizer_switches_add_lineage_to_arrow(
    pipelines_dir: str, bucket: Path, monkeypatch: pytest.MonkeyPatch, switch: str
) -> None:
    monkeypatch.setenv(f"NORMALIZE__PARQUET_NORMALIZER__{switch}", "true")
    info = _pipeline(pipelines_dir, bucket).run(pa.table({"x": [1, 2, 3]}), table_name="t")
    assert info is not None
    rows = delta_rows_polars(bucket / "ds" / "t", "x")
    if switch == "ADD_DLT_LOAD_ID":
        assert [r["_dlt_load_id"] for r in rows] == info.loads_ids * 3
        assert "_dlt_id" not in rows[0]
    else:
        assert len({r["_dlt_id"] for r in rows}) == 3
        assert "_dlt_load_id" not in rows[0]


def test_colliding_names_fail_with_both_names(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run([{"id": 1, "User Name": "a", "user_name": "b"}], table_name="t")
    cause = failed.value.__context__.__context__  # dlt's chain: step → job → cause
    assert isinstance(cause, NameCollisionError)
    assert "'User Name'" in str(cause) and "'user_name'" in str(cause)
    assert cause.column_name == "user_name"
    # Moved aside (it fails the same way on every run); nothing was loaded.
    assert [f.load_id for f in pipeline.list_failed_packages()] == [failed.value.load_id]
    assert not (bucket / "ds" / "t").exists()


def test_nested_path_colliding_with_flat_key(pipelines_dir: str, bucket: Path) -> None:
    with pytest.raises(PipelineStepFailed, match="'a__b'"):
        _pipeline(pipelines_dir, bucket).run([{"a": {"b": 1}, "A__B": 2}], table_name="t")


def test_colliding_arrow_columns_fail(pipelines_dir: str, bucket: Path) -> None:
    table = pa.table({"Col": [1], "col": [2]})
    with pytest.raises(PipelineStepFailed, match="'Col' and 'col'"):
        _pipeline(pipelines_dir, bucket).run(table, table_name="t")


def test_long_identifiers_are_shortened_with_a_tag(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    pipeline.naming = SnakeCaseNaming(20)
    rows = [{"id": 1, "a_rather_long_field": {"with_nested_name": 1}, "the_list_of_things": [1]}]
    pipeline.run(rows, table_name="t")
    naming = SnakeCaseNaming(20)
    column = naming.shorten_identifier(
        "a_rather_long_field__with_nested_name", "a_rather_long_field__with_nested_name", 20
    )
    child = naming.shorten_identifier("t__the_list_of_things", "t__the_list_of_things", 20)
    assert len(column) == len(child) == 20
    assert delta_rows_polars(bucket / "ds" / "t", "id")[0][column] == 1
    assert delta_rows_polars(bucket / "ds" / child, "value")[0]["value"] == 1


def test_lineage_is_consistent_across_three_levels(pipelines_dir: str, bucket: Path) -> None:
    rows = [
        {
            "id": i,
            "orders": [
                {"n": j, "lines": [{"sku": f"{i}-{j}-{k}"} for k in range(2)]} for j in range(i)
            ],
        }
        for i in range(4)
    ]
    info = _pipeline(pipelines_dir, bucket).run(rows, table_name="c")
    assert info is not None
    root = {r["_dlt_id"]: r["id"] for r in delta_rows_polars(bucket / "ds" / "c", "id")}
    orders = delta_rows_polars(bucket / "ds" / "c__orders", "_dlt_id")
    order_of = {o["_dlt_id"]: (root[o["_dlt_parent_id"]], o["n"]) for o in orders}
    lines = delta_rows_polars(bucket / "ds" / "c__orders__lines", "sku")
    assert sorted(lines, key=lambda r: r["sku"]) == lines
    for line in lines:
        i, j = order_of[line["_dlt_parent_id"]]
        assert line["sku"] == f"{i}-{j}-{line['_dlt_list_idx']}"
    assert len(lines) == 2 * sum(range(4))


def test_a_key_holding_dicts_and_lists_unnests_both_like_dlt(
    pipelines_dir: str, bucket: Path
) -> None:
    rows = [{"id": 1, "meta": {"a": 1}}, {"id": 2, "meta": [{"a": 2}, {"a": 3}]}]
    _pipeline(pipelines_dir, bucket).run(rows, table_name="t")
    root = delta_rows_polars(bucket / "ds" / "t", "id")
    assert [(r["id"], r["meta__a"]) for r in root] == [(1, 1), (2, None)]
    child = delta_rows_polars(bucket / "ds" / "t__meta", "_dlt_list_idx")
    assert [(c["_dlt_parent_id"], c["a"]) for c in child] == [
        (root[1]["_dlt_id"], 2),
        (root[1]["_dlt_id"], 3),
    ]


def test_child_ids_are_deterministic(pipelines_dir: str, tmp_path: Path) -> None:
    """The same rows with the same parent ids give the same nested ids in every run."""
    rows = [{"_dlt_id": "fixed-root-id", "id": 1, "tags": ["a", "b"]}]
    ids = []
    for run in range(2):
        lake = tmp_path / f"lake{run}"
        _pipeline(pipelines_dir, lake, f"det{run}").run(rows, table_name="t")
        ids.append(
            [r["_dlt_id"] for r in delta_rows_polars(lake / "ds" / "t__tags", "_dlt_list_idx")]
        )
    assert ids[0] == ids[1] and len(set(ids[0])) == 2
