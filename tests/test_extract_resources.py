"""The resource, source and transformer surface: decorators, hints, steps, selection, marks."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pydantic
import pytest

import quiver
from quiver.errors import (
    InconsistentTableTemplate,
    InvalidSourceDefinition,
    ResourceNameMissing,
    UnboundResourceError,
)
from tests.extract_support import (
    column_names,
    extracted_rows,
    make_pipeline,
    package_tables,
    table_rows,
)

# ------------------------------------------------------------------------------- decorators


def test_decorator_forms_and_names(pipelines_dir: str, bucket: Path) -> None:
    @quiver.resource
    def generator_fn():
        yield {"id": 1}
        yield [{"id": 2}, {"id": 3}]

    @quiver.resource(name="plain", table_name="plain_table")
    def plain_fn():
        return [{"id": 4}]

    @quiver.resource(name="from_async")
    async def async_gen():
        yield {"id": 5}

    data = quiver.resource([{"id": 6}, {"id": 7}], name="on_data")
    assert generator_fn.name == "generator_fn" and plain_fn.table_name == "plain_table"

    make_pipeline(pipelines_dir, bucket).run([generator_fn, plain_fn, async_gen, data])
    assert [r["id"] for r in table_rows(bucket, "generator_fn")] == [1, 2, 3]
    assert [r["id"] for r in table_rows(bucket, "plain_table")] == [4]
    assert [r["id"] for r in table_rows(bucket, "from_async")] == [5]
    assert [r["id"] for r in table_rows(bucket, "on_data")] == [6, 7]


def test_resource_on_data_needs_a_name() -> None:
    with pytest.raises(ResourceNameMissing, match="no name") as caught:
        quiver.resource([{"a": 1}])
    assert isinstance(caught.value, ValueError) and "name=" in str(caught.value)
    generator = (row for row in [{"a": 1}])
    assert quiver.resource(generator, table_name="t").name == "t"


def test_iterating_a_resource_gives_its_items() -> None:
    @quiver.resource
    def pages():
        yield [{"n": 1}, {"n": 2}]
        yield {"n": 3}

    assert list(pages) == [{"n": 1}, {"n": 2}, {"n": 3}]
    # Iterating does not consume a function resource: it runs again.
    assert len(list(pages)) == 3


def test_binding_arguments_by_calling(pipelines_dir: str, bucket: Path) -> None:
    @quiver.resource
    def numbers(start: int, count: int = 2):
        yield [{"id": start + i} for i in range(count)]

    with pytest.raises(UnboundResourceError, match="needs arguments"):
        list(numbers)
    bound = numbers(10, count=3)
    assert bound is not numbers and [r["id"] for r in bound] == [10, 11, 12]
    with pytest.raises(TypeError):  # dlt: a bound resource cannot be bound again
        numbers(1).bind(5)
    with pytest.raises(TypeError):
        numbers(1)(5)
    make_pipeline(pipelines_dir, bucket).run(numbers(100))
    assert [r["id"] for r in table_rows(bucket, "numbers")] == [100, 101]


# --------------------------------------------------------------------------------- hints


def test_dynamic_table_names_and_hints(pipelines_dir: str, bucket: Path) -> None:
    @quiver.resource(
        table_name=lambda item: f"events_{item['kind']}",
        primary_key=lambda item: "id" if item["kind"] == "click" else "other_id",
    )
    def events():
        yield [
            {"kind": "click", "id": 1, "other_id": 9},
            {"kind": "view", "id": 2, "other_id": 8},
            {"kind": "click", "id": 3, "other_id": 7},
        ]

    pipeline = make_pipeline(pipelines_dir, bucket)
    pipeline.extract(events())
    tables = package_tables(pipeline)
    assert tables["events_click"]["columns"]["id"]["primary_key"] is True
    assert tables["events_view"]["columns"]["other_id"]["primary_key"] is True
    pipeline.normalize()
    pipeline.load()
    assert [r["id"] for r in table_rows(bucket, "events_click")] == [1, 3]
    assert [r["id"] for r in table_rows(bucket, "events_view")] == [2]


def test_callable_hint_needs_callable_table_name() -> None:
    with pytest.raises(InconsistentTableTemplate, match="table_name"):
        quiver.resource([{"a": 1}], name="t", primary_key=lambda item: "a")


def test_write_disposition_dict_form_and_columns_forms(pipelines_dir: str) -> None:
    class Model(pydantic.BaseModel):
        id: int
        name: str | None = None

    merge = quiver.resource(
        [{"id": 1, "name": "a"}],
        name="merged",
        write_disposition={"disposition": "merge", "strategy": "upsert"},
        primary_key="id",
        columns={"name": {"data_type": "text", "nullable": True}},
    )
    as_list = quiver.resource(
        [{"Id": 1}], name="listed", columns=[{"name": "Id", "data_type": "bigint"}]
    )
    from_model = quiver.resource([{"id": 1, "name": "x"}], name="modeled", columns=Model)
    replaced = quiver.resource(
        [{"id": 1}], name="replaced", write_disposition={"disposition": "replace"}
    )
    pipeline = quiver.pipeline("hints", pipelines_dir=pipelines_dir)
    pipeline.extract([merge, as_list, from_model, replaced])
    tables = package_tables(pipeline)
    assert tables["merged"]["write_disposition"] == "merge"
    assert tables["merged"]["x-merge-strategy"] == "upsert"
    assert tables["merged"]["columns"]["id"]["primary_key"] is True
    assert tables["merged"]["columns"]["name"]["data_type"] == "text"
    assert tables["listed"]["columns"]["id"]["data_type"] == "bigint"  # name normalized
    assert tables["modeled"]["columns"]["id"]["data_type"] == "bigint"
    assert tables["modeled"]["columns"]["name"]["nullable"] is True
    assert tables["replaced"]["write_disposition"] == "replace"


def test_scd2_dict_adds_validity_and_row_version_hints(pipelines_dir: str) -> None:
    resource = quiver.resource(
        [{"id": 1}],
        name="dim",
        write_disposition={
            "disposition": "merge",
            "strategy": "scd2",
            "validity_column_names": ["from_ts", "to_ts"],
            "boundary_timestamp": "2024-01-01",
        },
    )
    pipeline = quiver.pipeline("scd2", pipelines_dir=pipelines_dir)
    pipeline.extract(resource)
    table = package_tables(pipeline)["dim"]
    assert table["x-merge-strategy"] == "scd2"
    assert table["x-boundary-timestamp"] == "2024-01-01"
    assert table["columns"]["from_ts"]["x-valid-from"] is True
    assert table["columns"]["to_ts"]["x-valid-to"] is True
    assert table["columns"]["_dlt_id"]["x-row-version"] is True


def test_apply_hints_with_name_and_reset(pipelines_dir: str, bucket: Path) -> None:
    resource = quiver.resource([{"id": 1, "v": "a"}], name="base")
    resource.apply_hints(
        table_name="renamed", primary_key="id", columns={"v": {"data_type": "text"}}
    )
    resource.apply_hints(columns={"v": {"nullable": False}})
    assert resource.columns["v"] == {"name": "v", "data_type": "text", "nullable": False}
    resource.apply_hints(primary_key="")
    assert resource.primary_key is None
    other = resource.with_name("copy")
    assert other.name == "copy" and resource.name == "base"
    assert other.table_name == "renamed"
    make_pipeline(pipelines_dir, bucket).run(other)
    assert table_rows(bucket, "renamed") == [{"id": 1, "v": "a"}]


# --------------------------------------------------------------------------------- steps


def test_map_yield_map_filter_and_limit(pipelines_dir: str, bucket: Path) -> None:
    @quiver.resource
    def rows():
        for page in range(5):
            yield [{"id": page * 10 + i} for i in range(3)]

    resource = (
        rows()
        .add_filter(lambda r: r["id"] % 2 == 0)
        .add_map(lambda r: {**r, "double": r["id"] * 2})
        .add_yield_map(lambda r: ({**r, "copy": c} for c in range(2)))
        .add_limit(2)
    )
    items = list(resource)
    # Pages 0 and 1 only (the limit counts pages), even ids, two copies each.
    assert sorted({r["id"] for r in items}) == [0, 2, 10, 12]
    assert len(items) == 8 and all(r["double"] == r["id"] * 2 for r in items)
    make_pipeline(pipelines_dir, bucket).run(resource)
    assert len(table_rows(bucket, "rows", ["id", "copy"])) == 8


def test_add_limit_by_time_and_rows() -> None:
    @quiver.resource
    def endless():
        n = 0
        while True:
            time.sleep(0.01)
            yield [{"n": n}, {"n": n + 1}]
            n += 2

    assert 1 <= len(list(endless().add_limit(max_time=0.2))) < 100
    assert len(list(endless().add_limit(3, count_rows=True))) == 4  # stops once 3 rows are reached
    assert list(endless().add_limit(0)) == []


def test_map_on_arrow_items_gets_the_whole_table() -> None:
    import pyarrow as pa

    resource = quiver.resource(pa.table({"a": [1, 2]}), name="t").add_map(
        lambda table: table.append_column("b", pa.array([3, 4]))
    )
    (item,) = list(resource)
    assert item.to_pylist() == [{"a": 1, "b": 3}, {"a": 2, "b": 4}]


def test_select_tables_keeps_only_those_tables(pipelines_dir: str, bucket: Path) -> None:
    resource = quiver.resource(
        [{"t": "a", "id": 1}, {"t": "b", "id": 2}, {"t": "c", "id": 3}],
        name="mixed",
        table_name=lambda row: row["t"],
    ).select_tables("a", "c")
    make_pipeline(pipelines_dir, bucket).run(resource)
    assert [r["id"] for r in table_rows(bucket, "a")] == [1]
    assert [r["id"] for r in table_rows(bucket, "c")] == [3]
    assert not (bucket / "ds" / "b").exists()


# ------------------------------------------------------------------------------- sources


@quiver.source(name="shop", section="shop_section")
def shop(count: int = 2):
    @quiver.resource(primary_key="id")
    def customers():
        yield [{"id": i} for i in range(count)]

    @quiver.resource(selected=False)
    def orders():
        yield [{"id": 100}]

    return customers, orders


def test_source_api(pipelines_dir: str, bucket: Path) -> None:
    source = shop(3)
    assert list(source.resources) == ["customers", "orders"]
    assert list(source.selected_resources) == ["customers"]
    assert source.customers is source.resources["customers"]
    assert source.schema.name == "shop"
    with pytest.raises(AttributeError):
        _ = source.nothing

    only_orders = source.with_resources("orders")
    assert list(only_orders.selected_resources) == ["orders"]
    assert list(source.selected_resources) == ["customers"]  # the original is untouched
    renamed = source.clone(with_name="shop2")
    assert renamed.name == "shop2" and renamed.customers is not source.customers

    pipeline = make_pipeline(pipelines_dir, bucket)
    pipeline.run(source.with_resources("customers", "orders").add_limit(1))
    assert [r["id"] for r in table_rows(bucket, "customers")] == [0, 1, 2]
    assert [r["id"] for r in table_rows(bucket, "orders")] == [100]
    assert pipeline.schema_names == ["ext", "shop"] or "shop" in pipeline.schema_names


def test_source_returning_data_and_generators(pipelines_dir: str, bucket: Path) -> None:
    @quiver.source
    def plain():
        return [{"id": 1}]

    @quiver.source
    def yielding():
        yield quiver.resource([{"id": 2}], name="first")
        yield quiver.resource([{"id": 3}], name="second")

    assert list(plain().resources) == ["plain"]
    assert list(yielding().resources) == ["first", "second"]
    make_pipeline(pipelines_dir, bucket).run([plain(), yielding()])
    assert [r["id"] for r in table_rows(bucket, "second")] == [3]


def test_source_name_and_schema_are_exclusive() -> None:
    from quiver.schema.model import Schema

    with pytest.raises(InvalidSourceDefinition, match="both name='a' and schema"):
        quiver.source(name="a", schema=Schema("b"))

    @quiver.source(schema=Schema("named_by_schema"))
    def s():
        return quiver.resource([{"a": 1}], name="r")

    assert s().name == "named_by_schema"


# ---------------------------------------------------------------------------- transformers


def test_transformer_with_data_from_and_pipe(pipelines_dir: str, bucket: Path) -> None:
    calls = []

    @quiver.resource
    def users():
        calls.append("users")
        yield [{"id": 1}, {"id": 2}]

    @quiver.transformer(data_from=users)
    def profiles(page, factor: int = 10):
        for user in page:
            yield {"id": user["id"], "score": user["id"] * factor}

    @quiver.transformer
    def emails(page):
        return [{"id": user["id"], "email": f"u{user['id']}@x"} for user in page]

    piped = users | emails
    assert [r["score"] for r in profiles] == [10, 20]
    assert [r["score"] for r in profiles(factor=3)] == [3, 6]

    @quiver.source
    def api():
        return users, users | profiles, piped

    calls.clear()
    make_pipeline(pipelines_dir, bucket).run(api())
    assert calls == ["users"]  # the parent ran once for its own table and both transformers
    assert [r["score"] for r in table_rows(bucket, "profiles")] == [10, 20]
    assert [r["email"] for r in table_rows(bucket, "emails")] == ["u1@x", "u2@x"]
    assert [r["id"] for r in table_rows(bucket, "users")] == [1, 2]


def test_transformer_only_selection_runs_parent_without_loading_it(
    pipelines_dir: str, bucket: Path
) -> None:
    @quiver.resource
    def ids():
        yield [{"id": 1}, {"id": 2}, {"id": 3}]

    @quiver.transformer(data_from=ids)
    def details(page):
        yield [{"id": row["id"], "detail": "d"} for row in page]

    make_pipeline(pipelines_dir, bucket).run(details)
    assert len(table_rows(bucket, "details")) == 3
    assert not (bucket / "ds" / "ids").exists()
    # add_limit has no effect on transformers (dlt's rule).
    assert len(list(details.add_limit(1))) == 3


def test_data_piped_into_transformer() -> None:
    @quiver.transformer
    def double(item):
        yield {"v": item * 2}

    assert list([1, 2, 3] | double) == [{"v": 2}, {"v": 4}, {"v": 6}]


# ----------------------------------------------------------------------------------- marks


def test_mark_with_table_name_and_hints(pipelines_dir: str, bucket: Path) -> None:
    @quiver.resource
    def events():
        yield quiver.mark.with_table_name({"id": 1}, "clicks")
        yield quiver.mark.with_table_name([{"id": 2}, {"id": 3}], "views")
        yield quiver.mark.with_hints(
            {"id": 4},
            quiver.mark.make_hints(table_name="special", primary_key="id"),
            create_table_variant=True,
        )

    pipeline = make_pipeline(pipelines_dir, bucket)
    pipeline.extract(events())
    assert package_tables(pipeline)["special"]["columns"]["id"]["primary_key"] is True
    pipeline.normalize()
    pipeline.load()
    assert [r["id"] for r in table_rows(bucket, "clicks")] == [1]
    assert [r["id"] for r in table_rows(bucket, "views")] == [2, 3]
    assert [r["id"] for r in table_rows(bucket, "special")] == [4]


def test_with_hints_changes_the_resource(pipelines_dir: str) -> None:
    @quiver.resource
    def evolving():
        yield quiver.mark.with_hints(
            [{"id": 1}], quiver.mark.make_hints(write_disposition="replace")
        )

    pipeline = quiver.pipeline("hinted", pipelines_dir=pipelines_dir)
    pipeline.extract(evolving())
    assert package_tables(pipeline)["evolving"]["write_disposition"] == "replace"
    assert extracted_rows(pipeline, "evolving") == [{"id": 1}]


# ------------------------------------------------------------------------ current, config


def test_current_pipeline_and_states_inside_a_resource(pipelines_dir: str) -> None:
    seen: dict[str, Any] = {}

    @quiver.resource
    def probe():
        seen["pipeline"] = quiver.current.pipeline()
        quiver.current.resource_state()["calls"] = 1
        quiver.current.source_state()["touched"] = True
        yield {"id": 1}

    pipeline = quiver.pipeline("probe", pipelines_dir=pipelines_dir)
    pipeline.extract(probe())
    assert seen["pipeline"] is pipeline
    source = pipeline.state["sources"][pipeline.default_schema_name]
    assert source["touched"] is True
    assert source["resources"]["probe"] == {"calls": 1}


def test_config_value_is_injected(monkeypatch: pytest.MonkeyPatch) -> None:
    @quiver.resource(section="api")
    def paged(page_size: int = quiver.config.value, token: str = quiver.secrets.value):
        yield {"page_size": page_size, "token": token}

    monkeypatch.setenv("SOURCES__API__PAGED__PAGE_SIZE", "50")
    monkeypatch.setenv("SOURCES__TOKEN", "secret")
    assert list(paged) == [{"page_size": 50, "token": "secret"}]
    assert list(paged(page_size=7)) == [{"page_size": 7, "token": "secret"}]
    monkeypatch.delenv("SOURCES__TOKEN")
    with pytest.raises(ValueError, match="SOURCES__API__PAGED__TOKEN"):
        list(paged)


def test_columns_and_names_of_loaded_tables(pipelines_dir: str, bucket: Path) -> None:
    resource = quiver.resource(
        [{"UserId": 1, "Full Name": "A"}],
        name="People",
        columns={"UserId": {"data_type": "bigint"}},
    )
    make_pipeline(pipelines_dir, bucket).run(resource)
    assert column_names(bucket, "people") == ["user_id", "full_name"]


def test_source_root_key_propagates_root_ids(pipelines_dir: str, bucket: Path) -> None:
    @quiver.source(root_key=True)
    def nested():
        return quiver.resource([{"id": 1, "items": [{"sku": "a"}]}], name="orders")

    make_pipeline(pipelines_dir, bucket).run(nested())
    import polars as pl

    roots = pl.read_delta(str(bucket / "ds" / "orders")).to_dicts()
    children = pl.read_delta(str(bucket / "ds" / "orders__items")).to_dicts()
    assert children[0]["_dlt_root_id"] == roots[0]["_dlt_id"]
